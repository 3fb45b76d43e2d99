// Imputation (inpainting) by the replacement method of score_sde, at the model seam.
#pragma once

#include <tweedie/decorator.hpp>
#include <tweedie/model.hpp>
#include <tweedie/random.hpp>
#include <tweedie/sde.hpp>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tweedie {

/// Observed coordinates of each sample: `values` and `mask` have d columns and 1 row (shared by
/// every sample) or n rows (row i for global sample i); mask entries are 1 (observed) or 0.
struct Observation {
  Matrix values;
  Matrix mask;
  /// Throws InvalidArgument naming the bad tensor (shape, an entry of the mask that is not 0 or
  /// 1, a non-finite observed value, row counts that differ); `dim` 0 accepts any width.
  void validate(Eigen::Index dim) const;
};

/// The replacement method (Song et al. 2021, score_sde's `controllable_generation.py`) as a
/// model decorator. score_sde replaces, after each step, the observed coordinates of the state by
/// a forward-noised copy of the observation at the current t; a decorator cannot change the
/// state, so it does the equivalent at the one seam every sampler shares, the model call:
///  - the inner model sees the row with its observed coordinates replaced by
///    alpha(t) y + sigma(t) z, with z drawn afresh for every evaluation time, as score_sde draws
///    it afresh at every update: PhiloxNoise(seed), NoiseStream::observe, the row's sample, and
///    as "step" the 32-bit fold of the bits of t (so the same for every thread count and chunk;
///    the one place where noise is keyed by a time: a z fixed per sample was measured to bias
///    the result far more, docs/guidance.md);
///  - the output on the unobserved coordinates is the inner model's there;
///  - the output on the observed coordinates is the exact conditional score there,
///    (alpha y - x) / sigma^2 (x0 = y): given x_0's observed part y, the observed part of x_t is
///    N(alpha y, sigma^2 I) and independent of the rest, so the state's own observed
///    coordinates follow a forward-noised copy of the observation (the sampler's own noise) and
///    end at y up to the discretisation; `restore_observed` writes y there exactly.
/// Every row needs its global sample index (ModelInput::samples, which the drivers pass).
/// Prediction, conditioning and batch invariance are the inner model's; the JVP is forwarded
/// (block-diagonal: the inner JVP with the observed directions zeroed on the unobserved
/// coordinates, -v / sigma^2 in score terms on the observed ones); no divergence, no VJP.
class Imputation final : public ModelDecorator {
 public:
  /// `sde` must outlive the decorator. Throws InvalidArgument on a bad observation (validate).
  Imputation(std::shared_ptr<const ScoreModel> model, const Sde& sde, Observation observation,
             std::uint64_t seed, int noise_stream = rng_stream_version);
  std::string description() const override;
  Prediction prediction() const override { return inner_->prediction(); }
  Conditioning conditioning() const override { return inner_->conditioning(); }
  bool batch_invariant() const override { return inner_->batch_invariant(); }
  void evaluate(const ModelInput& in, MatrixRef out) const override;
  using ScoreModel::evaluate;
  bool has_jvp() const override { return inner_->has_jvp(); }
  void jvp(const ModelInput& in, const ConstMatrixRef& v, MatrixRef out) const override;
  /// Writes the observation into the observed coordinates of rows of global samples
  /// first_sample, first_sample + 1, ... (the final state of a sampler).
  void restore_observed(std::uint64_t first_sample, MatrixRef x) const;
  /// Observed rows the observation has: 1 (shared) or n.
  Eigen::Index observation_rows() const { return std::max(observation_.values.rows(), observation_.mask.rows()); }

 private:
  /// The observation row of global sample `sample` (throws beyond n rows).
  Eigen::Index observation_row(std::uint64_t sample) const;
  /// The observation row of each row of `in` (throws when the rows carry no sample indices).
  std::vector<Eigen::Index> observation_rows_of(const ModelInput& in) const;
  /// in.x with its observed coordinates replaced by alpha(t) y + sigma(t) z.
  Matrix replaced_input(const ModelInput& in, const std::vector<Eigen::Index>& rows) const;
  /// to(i, j) = from(i, j) at the observed coordinates (observed: true) or the others.
  void copy_coordinates(const std::vector<Eigen::Index>& rows, bool observed, const ConstMatrixRef& from,
                        MatrixRef to) const;
  const Sde& sde_;
  Observation observation_;
  PhiloxNoise noise_;
};

}  // namespace tweedie
