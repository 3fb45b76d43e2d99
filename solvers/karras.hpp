// k-diffusion's and EDM's samplers in the noise level sigma~ = sigma/alpha: shared machinery.
//
// Every family x_t = alpha(t) x_0 + sigma(t) eps is, in the scaled variable x~ = x / alpha(t),
// the EDM/VE form x~ = x_0 + sigma~ eps with noise level sigma~ = sigma/alpha = exp(-lambda).
// Its denoiser D(x~, sigma~) = E[x_0 | x = alpha(t) x~] is the model's data prediction at time t,
// and the probability-flow ODE is Karras et al.'s dx~/dsigma~ = (x~ - D)/sigma~. So k-diffusion's
// and EDM's samplers, written for alpha = 1, run unchanged on every family: the samplers here
// keep the state as x~ inside run() (x /= alpha(t_0) on entry, x *= alpha(t_N) on exit; both
// exact when alpha = 1, as for EDM and VE) and evaluate the model at the time of each noise level.
#pragma once

#include "common.hpp"
#include "numeric.hpp"

#include <tweedie/sampler.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <span>
#include <string>
#include <vector>

namespace tweedie::solvers::karras {

/// A noise level of the integration and the model time that has it: t, alpha(t),
/// sigma~ = sigma(t)/alpha(t) and lambda = -log sigma~ (+inf and 0 where sigma = 0, EDM's t = 0).
struct Level {
  double t, alpha, sigma, lambda;
  bool noiseless() const { return sigma == 0.0; }
};

/// The levels of the grid points (sigma~ = sigma/alpha, lambda from the family's closed form).
inline std::vector<Level> grid_levels(const Sde& sde, std::span<const double> grid) {
  std::vector<Level> levels;
  levels.reserve(grid.size());
  for (const SchedulePoint& p : schedule_points(sde, grid)) {
    levels.push_back({p.t, p.alpha, p.noise_level(), p.lambda});
  }
  return levels;
}

/// The level with log-noise -lambda, at the time where the family has it (t = t(lambda)). Its
/// sigma~ is exp(-lambda), as k-diffusion computes intermediate levels (exp of a lerp of logs).
inline Level level_of_lambda(const Sde& sde, double lambda) {
  const double t = sde.t_of_lambda(lambda);
  return {t, sde.alpha(t), std::exp(-lambda), lambda};
}

/// The denoiser of the scaled variable: out = D(x~, sigma~ of `at`) = the model's data prediction
/// at (alpha(at.t) x~, at.t). One model evaluation per row, counted by the context.
class Denoiser {
 public:
  Denoiser(ChunkContext& ctx, Eigen::Index rows, Eigen::Index cols)
      : ctx_(ctx), scaled_(rows, cols) {}
  void operator()(const Level& at, const ConstMatrixRef& xs, MatrixRef out, std::size_t step) {
    if (at.alpha == 1.0) {  // EDM, VE: x = x~ exactly
      ctx_.predict(Prediction::data, at.t, xs, out, step);
      return;
    }
    scaled_ = at.alpha * xs;
    ctx_.predict(Prediction::data, at.t, scaled_, out, step);
  }

 private:
  ChunkContext& ctx_;
  Matrix scaled_;
};

/// k-diffusion's to_d: the slope d = (x~ - D)/sigma~ of the Karras ODE.
inline void karras_slope(const ConstMatrixRef& xs, const ConstMatrixRef& denoised, double sigma,
                         MatrixRef d) {
  d = (xs - denoised) / sigma;
}

/// An Euler step of the Karras ODE from sigma_from (slope d already there) to sigma_to. The step
/// onto sigma_to = 0 is x~ + (0 - sigma) (x~ - D)/sigma = D: written as x~ = D, so that it returns
/// the model's x0 prediction exactly instead of up to rounding (k-diffusion issue 37 / A1111 1435).
inline void euler_to(MatrixRef xs, const ConstMatrixRef& denoised, const ConstMatrixRef& d,
                     double sigma_from, double sigma_to) {
  if (sigma_to == 0.0) {
    xs = denoised;
  } else {
    xs += (sigma_to - sigma_from) * d;
  }
}

/// psi_k(h) = sum_{j >= 0} (-h)^j / (j + k)!, the phi functions of the data-prediction
/// exponential integrator in lambda (h > 0):
///   psi_1 = (1 - e^-h)/h,  psi_2 = (e^-h - 1 + h)/h^2,  psi_3 = (1/2 - psi_2)/h.
/// k-diffusion's -expm1(-h), phi_2 = expm1(-h)/h + 1 and phi_3 = phi_2/h - 1/2 are h psi_1,
/// h psi_2 and -h psi_3. psi_k(h) = phi_k(-h) (detail::phi, which sums the series where these
/// closed forms cancel).
inline double psi(int k, double h) { return detail::phi(k, -h); }

/// eta and s_noise of the ancestral samplers (k-diffusion's defaults, 1 and 1).
inline std::vector<OptionSpec> ancestral_options() {
  constexpr double inf = std::numeric_limits<double>::infinity();
  return {OptionSpec::real("eta", "1", 0.0, inf, "ancestral noise: 0 is the ODE, 1 the reference's SDE"),
          OptionSpec::real("s_noise", "1", 0.0, inf, "scale of the noise drawn at each step")};
}

/// EDM's / k-diffusion's stochastic churn (Karras et al. 2022, Algorithm 2): before the step from
/// sigma_i, if s_tmin <= sigma_i <= s_tmax, the noise is raised to sigma_hat = sigma_i (1 + gamma),
/// gamma = min(churn / N, sqrt(2) - 1), by adding s_noise sqrt(sigma_hat^2 - sigma_i^2) z.
/// sigma here is the noise level sigma~ of the scaled variable (EDM's sigma = t for EDM). As in
/// EDM and k-diffusion, sigma_hat is not clamped: from the first grid point it exceeds the
/// family's noise level at T, and the model is evaluated at t(sigma_hat) > T (VP, VE), which the
/// closed-form schedules extend smoothly; limit it with --s-tmax if a network cannot.
struct Churn {
  double churn = 0.0;
  double s_tmin = 0.0;
  double s_tmax = std::numeric_limits<double>::infinity();
  double s_noise = 1.0;

  /// The four options (EDM's S_churn, S_tmin, S_tmax, S_noise) with their defaults.
  static std::vector<OptionSpec> options() {
    constexpr double inf = std::numeric_limits<double>::infinity();
    return {OptionSpec::real("churn", "0", 0.0, inf, "EDM's stochastic churn S_churn (0: deterministic)"),
            OptionSpec::real("s_tmin", "0", 0.0, inf, "lowest noise level sigma that is churned"),
            OptionSpec::real("s_tmax", "inf", 0.0, inf, "highest noise level sigma that is churned"),
            OptionSpec::real("s_noise", "1", 0.0, inf, "scale of the churn's noise (EDM's S_noise)")};
  }
  /// Reads them; s_tmax must not be below s_tmin.
  static Churn read(const OptionValues& options) {
    Churn c;
    c.churn = options.number("churn");
    c.s_tmin = options.number("s_tmin");
    c.s_tmax = options.number("s_tmax");
    if (!(c.s_tmax >= c.s_tmin)) {
      throw InvalidArgument(fmt::format("option s_tmax of sampler {} must be >= option s_tmin = {}, got {}",
                                        options.sampler(), c.s_tmin, c.s_tmax));
    }
    c.s_noise = options.number("s_noise");
    return c;
  }
  bool stochastic() const { return churn > 0.0 && s_noise > 0.0; }
  double gamma(double sigma, std::size_t steps) const {
    if (!(churn > 0.0 && s_tmin <= sigma && sigma <= s_tmax)) return 0.0;
    return std::min(churn / static_cast<double>(steps), std::sqrt(2.0) - 1.0);
  }
  /// Raises the noise of x~ from `at` (the level of grid point `step`) with the step's noise
  /// (ctx.noise(step, 0, diffusion)) and returns the raised level; `at` itself when gamma = 0.
  Level raise(ChunkContext& ctx, const Level& at, std::size_t step, MatrixRef xs, MatrixRef z) const {
    const double g = gamma(at.sigma, ctx.steps());
    if (g == 0.0) return at;
    // sqrt(sigma_hat^2 - sigma^2) = sigma sqrt(gamma (2 + gamma)), without the cancellation.
    if (stochastic()) {
      ctx.noise(step, 0, NoiseStream::diffusion, z);
      xs += (s_noise * at.sigma * std::sqrt(g * (2.0 + g))) * z;
    }
    Level hat = level_of_lambda(ctx.sde(), at.lambda - std::log1p(g));
    hat.sigma = at.sigma * (1.0 + g);  // the references' sigma_hat, for the update arithmetic
    return hat;
  }
};

/// The loop EDM's Heun and DPM-2 share: churn, denoise at sigma_hat, Euler on the last step
/// (EDM's rule: NFE = 2N - 1 on every grid), otherwise a second-stage update that subclasses
/// write in `second_stage` (x~ and the first slope d given; one more denoiser evaluation).
class TwoStageSampler : public Sampler {
 public:
  TwoStageSampler(Churn churn, SamplerTraits traits) : churn_(churn), traits_(std::move(traits)) {
    traits_.nfe_per_step = 2;
    traits_.stochastic = churn.stochastic();
    traits_.consumes = Prediction::data;
  }
  const SamplerTraits& traits() const override { return traits_; }
  std::size_t nfe(std::size_t steps) const override { return steps == 0 ? 0 : 2 * steps - 1; }

  void run(ChunkContext& ctx, MatrixRef x) const override {
    const auto levels = grid_levels(ctx.sde(), ctx.grid());
    const std::size_t n = levels.size() - 1;
    Denoiser denoise(ctx, x.rows(), x.cols());
    Scratch s{Matrix(x.rows(), x.cols()), Matrix(x.rows(), x.cols()), Matrix(x.rows(), x.cols()),
              Matrix(x.rows(), x.cols())};
    Matrix z(churn_.stochastic() ? x.rows() : 0, x.cols());
    x /= levels[0].alpha;  // x~ from here on
    for (std::size_t i = 0; i < n; ++i) {
      const Level hat = churn_.raise(ctx, levels[i], i, x, z);
      const Level& next = levels[i + 1];
      denoise(hat, x, s.denoised, i);
      karras_slope(x, s.denoised, hat.sigma, s.d);
      if (i + 1 == n || next.noiseless()) {
        euler_to(x, s.denoised, s.d, hat.sigma, next.sigma);  // Euler step
      } else {
        second_stage(ctx.sde(), denoise, hat, next, i, x, s);
      }
      ctx.check_state(x, i, next.t, next.alpha);  // x is x~: the observer sees alpha x~
    }
    x *= levels[n].alpha;
  }

 protected:
  struct Scratch {
    Matrix denoised, d, x2, d2;
  };
  /// From x~ at `hat` (slope s.d there) to `next`.
  virtual void second_stage(const Sde& sde, Denoiser& denoise, const Level& hat, const Level& next,
                            std::size_t step, MatrixRef x, Scratch& s) const = 0;

 private:
  Churn churn_;
  SamplerTraits traits_;
};

}  // namespace tweedie::solvers::karras
