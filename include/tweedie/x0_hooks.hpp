// Corrections of the data prediction x0 inside every step: static clipping, dynamic
// thresholding, nearest-embedding rounding and user callbacks, as a model decorator.
#pragma once

#include <tweedie/decorator.hpp>
#include <tweedie/model.hpp>
#include <tweedie/sde.hpp>

#include <functional>
#include <memory>
#include <string>

namespace tweedie {

/// A map applied to the data prediction x0, row by row (DPM-Solver's `correcting_x0_fn`).
/// Same thread-safety contract as ScoreModel.
class X0Hook {
 public:
  virtual ~X0Hook() = default;
  /// One line with the parameters, e.g. "dynamic thresholding (ratio 0.995, max 1)".
  virtual std::string description() const = 0;
  /// Whether row i of the result depends only on row i of x0 (bitwise).
  virtual bool batch_invariant() const { return true; }
  /// Replaces x0 (n x d, the prediction at the rows of `in`) in place.
  virtual void apply(const ModelInput& in, MatrixRef x0) const = 0;
};

/// Static clipping: x0 <- clamp(x0, -bound, bound) (bound 1: data scaled to [-1, 1]).
/// Throws InvalidArgument unless bound > 0 is finite.
std::unique_ptr<X0Hook> static_clip(double bound = 1.0);

/// Dynamic thresholding (Saharia et al. 2022, Imagen; DPM-Solver's `dynamic_thresholding_fn`),
/// per row: s = max(quantile(|x0|, ratio), max_val), x0 <- clamp(x0, -s, s) / s, where the
/// quantile is torch.quantile's default ("linear"): with the d values sorted, h = (d - 1) ratio,
/// q = v[floor h] + (h - floor h)(v[floor h + 1] - v[floor h]). DPM-Solver's defaults ratio 0.995,
/// max_val 1. Throws InvalidArgument unless 0 <= ratio <= 1 and max_val > 0 (finite).
std::unique_ptr<X0Hook> dynamic_threshold(double ratio = 0.995, double max_val = 1.0);

/// Nearest-embedding rounding (Diffusion-LM's `denoised_fn_round`): x0 is read as d / e
/// positions of width e = table.cols(), and each position is replaced by the table row nearest
/// in Euclidean distance (the lowest index on a tie): the result holds table rows exactly.
/// Throws InvalidArgument on an empty or non-finite table; a model whose dimension is not a
/// multiple of e is refused by apply_x0_hook.
std::unique_ptr<X0Hook> nearest_embedding(Matrix table);

/// A user callback as a hook: fn(in, x0) replaces x0 in place. `description` names it.
using X0Function = std::function<void(const ModelInput&, MatrixRef)>;
std::unique_ptr<X0Hook> x0_callback(std::string description, X0Function fn, bool batch_invariant = false);

/// The model whose data prediction is hook(x0), x0 the model's own prediction converted to data
/// under `sde` (which must outlive the decorator). Its prediction is Prediction::data (what the
/// hook returns, without a conversion back); the samplers convert it as they need. No JVP, VJP
/// or divergence: clipping, thresholding and rounding are not differentiable (a callback may be
/// anything). Batch-invariant when the model and the hook are. Throws InvalidArgument on a null
/// hook, or a nearest_embedding hook whose width does not divide the model's dimension.
std::unique_ptr<ModelDecorator> apply_x0_hook(std::shared_ptr<const ScoreModel> model,
                                              std::shared_ptr<const X0Hook> hook, const Sde& sde);

}  // namespace tweedie
