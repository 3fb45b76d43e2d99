// "Gotta Go Fast" (Jolicoeur-Martineau et al. 2021): the adaptive Euler-Maruyama / stochastic
// improved Euler sampler of the reverse SDE, with a per-sample Brownian path that stays
// consistent when a step is rejected and retried with a smaller size.
#pragma once

#include "odeint.hpp"

#include <tweedie/sampler.hpp>

#include <span>
#include <vector>

namespace tweedie::solvers {

/// The Brownian motion W of one sample, known at a growing set of times and extended on demand
/// with the exact conditional laws: a new time between two known ones gets the Brownian bridge
///   W(tau) = W(l) + (tau - l)/(r - l) (W(r) - W(l)) + sqrt((tau - l)(r - tau)/(r - l)) z,
/// and one outside them an independent increment W(tau) = W(edge) + sqrt(|tau - edge|) z, from a
/// standard normal z (Rackauckas & Nie's RSwM / the Brownian interval of Kidger et al.). However
/// the times are chosen, the values are those of a single Brownian path, so the increment over a
/// retried half of a rejected step is consistent with the rejected one. W(t_start) = 0.
class BrownianPath {
 public:
  BrownianPath(double t_start, Eigen::Index dim);
  bool known(double t) const;
  /// Adds W(t) for a time not yet known, from z (d standard normals).
  void add(double t, const Eigen::Ref<const Eigen::RowVectorXd>& z);
  /// W(t) for a known time.
  Eigen::Map<const Eigen::RowVectorXd> at(double t) const;
  /// Forgets the times above t (an integration running down past t never queries them again).
  void forget_above(double t);
  std::size_t size() const { return times_.size(); }
  Eigen::Index dim() const { return dim_; }

 private:
  std::size_t find(double t) const;  ///< index of the first known time <= t (times_ decrease)
  Eigen::Map<const Eigen::RowVectorXd> value(std::size_t i) const {
    return {values_.data() + i * static_cast<std::size_t>(dim_), dim_};
  }
  Eigen::Index dim_;
  std::vector<double> times_;   // known times, decreasing (the integration appends at the end)
  std::vector<double> values_;  // W at times_[i] in values_[i d, (i + 1) d)
};

/// One stage of GGF's step for rows each with its own step t -> t_next: k = dt [f(t_e) x -
/// g(t_e)^2 score] + g(t_e) dw with dt = t_next - t, from the score at (x, t_e).
void ggf_increment(const Sde& sde, const ConstVectorRef& t, const ConstVectorRef& t_next,
                   const ConstVectorRef& t_eval, const ConstMatrixRef& x, const ConstMatrixRef& score,
                   const ConstMatrixRef& dw, MatrixRef k);

/// The two proposals of one step from t to t_next < t for rows of a chunk (given compactly:
/// row k of t, t_next, x and dw belongs to chunk row rows[k], whose step count for error
/// messages is steps[k]), with dt = t_next - t and dw = W(t_next) - W(t):
///   K1 = dt [f(t) x - g(t)^2 s(x, t)] + g(t) dw
///   K2 = dt [f(t') x1 - g(t')^2 s(x1, t')] + g(t') dw,   x1 = x + K1,  t' = t_next
///   x_low = x + K1 (Euler-Maruyama), x_high = x + (K1 + K2)/2 (stochastic improved Euler),
///   err = (K2 - K1)/2,
/// exactly as GGF's AdaptivePredictor (sde_improved_euler = True). Two model evaluations per row.
void ggf_proposals(ChunkContext& ctx, std::span<const Eigen::Index> rows,
                   std::span<const std::size_t> steps, const ConstVectorRef& t,
                   const ConstVectorRef& t_next, const ConstMatrixRef& x, const ConstMatrixRef& dw,
                   MatrixRef x_low, MatrixRef x_high, MatrixRef err);

/// GGF's adaptive sampler ("adaptive-sde") from grid[0] to grid[N] (interior grid points are not
/// visited). Per sample: propose x_low and x_high from the same Brownian increment, scale the
/// error with delta = max(atol, rtol max(|x_low|, |x_prev|)) (x_prev: the previous accepted
/// x_low), E = ||err / delta||_2 / sqrt(d), accept x_high iff E <= 1, and take
/// h <- min(t - t_end, 0.9 h E^-0.9); h starts at 0.01. Defaults from the reference code:
/// rtol = 0.01, atol = 0.0078 (0.0039 for the ve family, data in [0, 1] there).
/// Differences from the reference, all deliberate:
///  - the Brownian path is kept consistent when a step is rejected (BrownianPath; the reference
///    draws fresh noise for the retry, which biases the accepted increments towards small ones);
///  - rows advance in lockstep (one batched model call per stage over the rows still running),
///    each with its own detail::StepControl, and each sample's noise is keyed by (seed, sample,
///    its own attempt index): results do not depend on the batch; finished rows are not
///    evaluated again (the reference re-evaluates every row until the whole batch is done);
///  - the end is reached exactly (the reference stops within 1e-6 of it);
///  - a non-finite E or proposal rejects the step with h <- h/5 (the reference would propagate
///    a NaN step size); a step below min_step(t) throws; more than --max-steps attempts per
///    sample throw StepLimitError; a sample that fails (so, or with a non-finite score) leaves
///    the batch, the rows below it finish, and the lowest failing sample's error is thrown;
///  - a grid ending at sigma = 0 stops at grid[N-1] and takes the denoising last step.
class AdaptiveSde final : public Sampler {
 public:
  static constexpr double safety = 0.9;
  static constexpr double exponent = 0.9;
  static constexpr double h_init = 0.01;
  static constexpr double rtol_default = 0.01;
  static constexpr double atol_default = 0.0078;     ///< data in [-1, 1] (VP, sub-VP, cosine, EDM)
  static constexpr double atol_default_ve = 0.0039;  ///< score_sde's VE data in [0, 1]

  /// tolerances.atol NaN: the family's default at run time.
  explicit AdaptiveSde(AdaptiveTolerances tolerances);
  const SamplerTraits& traits() const override { return traits_; }
  void run(ChunkContext& ctx, MatrixRef x) const override { integrate(ctx, x, nullptr); }
  /// run(), optionally handing back each row's whole Brownian path (no point forgotten), so that
  /// a test can integrate the same path with another scheme.
  void integrate(ChunkContext& ctx, MatrixRef x, std::vector<BrownianPath>* paths) const;
  double atol(const Sde& sde) const;

 private:
  AdaptiveTolerances tol_;
  SamplerTraits traits_;
};

}  // namespace tweedie::solvers
