// The score-model interface, the four parameterisations and Tweedie's formula between them.
#pragma once

#include <tweedie/sde.hpp>
#include <tweedie/types.hpp>

#include <functional>
#include <memory>
#include <string_view>

namespace tweedie {

/// What a network outputs for x_t = alpha x_0 + sigma eps.
enum class Prediction {
  score,     ///< grad_x log p_t(x)          = -eps / sigma
  noise,     ///< eps                         = (x - alpha x0) / sigma
  data,      ///< x0 = E[x_0 | x_t]           = (x + sigma^2 score) / alpha   (Tweedie)
  velocity,  ///< v = alpha eps - sigma x0
};
std::string_view to_string(Prediction p);
Prediction prediction_from_string(std::string_view name);

/// A learned or analytic model of the score, in any parameterisation.
///
/// Thread-safety contract: `evaluate` is const and is called concurrently from several threads,
/// each time on a distinct chunk of rows; it must be reentrant (no unsynchronised mutable
/// state). A model that parallelises internally is called inside an isolated TBB region, so its
/// nested tasks do not steal the caller's chunks. Rows must not interact: row i of `out` may
/// depend only on row i of `x` and `t(i)`, which is what makes results independent of the chunk
/// size. An exception thrown by `evaluate` reaches the caller of the driver with its own type.
class ScoreModel {
 public:
  virtual ~ScoreModel() = default;
  /// The parameterisation that `evaluate` returns.
  virtual Prediction prediction() const = 0;
  /// Dimension of a sample, or 0 when the model accepts any.
  virtual Eigen::Index dim() const = 0;
  /// out.row(i) = prediction at (x.row(i), t(i)); out has the shape of x.
  virtual void evaluate(const ConstVectorRef& t, const ConstMatrixRef& x, MatrixRef out) const = 0;
  /// Whether `score_divergence` is available (the exact divergence used by log_likelihood).
  virtual bool has_divergence() const { return false; }
  /// out(i) = divergence (trace of the Jacobian in x) of the SCORE grad_x log p_t at
  /// (x.row(i), t(i)), whatever `prediction()` is. Same thread-safety and row-independence
  /// contract as `evaluate`. The default throws InvalidArgument.
  virtual void score_divergence(const ConstVectorRef& t, const ConstMatrixRef& x, VectorRef out) const;
  /// `evaluate` and `score_divergence` at once (what log_likelihood needs per right-hand side).
  /// The default makes the two calls; a model that computes both in one pass (the Gaussian
  /// mixture) overrides it. Must give the bits of the two calls.
  virtual void evaluate_with_divergence(const ConstVectorRef& t, const ConstMatrixRef& x, MatrixRef out,
                                        VectorRef divergence) const;
  /// Whether `jvp` is available (e.g. a network with forward-mode automatic differentiation).
  virtual bool has_jvp() const { return false; }
  /// out.row(i) = J_i v.row(i), with J_i the Jacobian in x of the model's OWN output (in its
  /// `prediction()` parameterisation) at (x.row(i), t(i)); v and out have the shape of x. Same
  /// thread-safety and row-independence contract as `evaluate`. The default throws
  /// InvalidArgument.
  virtual void jvp(const ConstVectorRef& t, const ConstMatrixRef& x, const ConstMatrixRef& v,
                   MatrixRef out) const;
};

/// Converts a prediction `in` made at (x, t) from one parameterisation to another, row by row,
/// with alpha(t) and sigma(t) of `sde` (one place for Tweedie's formula). `out` may alias `in`.
void convert_prediction(const Sde& sde, Prediction from, Prediction to, const ConstVectorRef& t,
                        const ConstMatrixRef& x, const ConstMatrixRef& in, MatrixRef out);

/// Evaluates `model` and returns its output as `want` (converting when needed).
void evaluate_as(const ScoreModel& model, const Sde& sde, Prediction want, const ConstVectorRef& t,
                 const ConstMatrixRef& x, MatrixRef out);

/// The Jacobian-vector product of the SCORE, out.row(i) = J_i v.row(i) with J_i the Jacobian in x
/// of grad_x log p_t at (x.row(i), t(i)), from the model's own `jvp` whatever its parameterisation.
/// Throws InvalidArgument when the model has no JVP.
void score_jvp(const ScoreModel& model, const Sde& sde, const ConstVectorRef& t,
               const ConstMatrixRef& x, const ConstMatrixRef& v, MatrixRef out);

/// A callable as a model: fn(t, x, out) with the signature of ScoreModel::evaluate.
using ModelFunction = std::function<void(const ConstVectorRef&, const ConstMatrixRef&, MatrixRef)>;
/// A callable Jacobian-vector product: jvp(t, x, v, out) with the signature of ScoreModel::jvp.
using JvpFunction = std::function<void(const ConstVectorRef&, const ConstMatrixRef&,
                                       const ConstMatrixRef&, MatrixRef)>;
std::unique_ptr<ScoreModel> make_model(Prediction prediction, Eigen::Index dim, ModelFunction fn);
/// The same with a Jacobian-vector product of the model's output (has_jvp() is then true).
std::unique_ptr<ScoreModel> make_model(Prediction prediction, Eigen::Index dim, ModelFunction fn,
                                       JvpFunction jvp);

}  // namespace tweedie
