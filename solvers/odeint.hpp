// The probability-flow ODE through Boost.Odeint steppers (fixed-step RK4 and the adaptive
// Dormand-Prince 5(4), Cash-Karp 5(4), Fehlberg 7(8) and Bulirsch-Stoer), and the machinery that
// the adaptive samplers of this family share (tolerance options, the step-size floor, the last
// step to sigma = 0). Boost itself is included only by odeint.cpp.
#pragma once

#include <tweedie/sampler.hpp>

#include "adaptive_control.hpp"
#include "dense_output.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

namespace tweedie::solvers {

// ---- shared by the adaptive samplers (odeint steppers and adaptive-sde) -------------------

using detail::AdaptiveCounts;
using detail::AdaptiveTolerances;
using detail::StepSizeUnderflowError;
using detail::min_step;

/// Reads rtol (>= 0), atol (> 0) and max_steps (>= 1) with the given defaults; throws
/// InvalidArgument naming the option. A NaN default atol stays NaN when --atol is not given (the
/// sampler then chooses it at run time).
/// The declarations of rtol, atol (> 0; "" by default when NaN: chosen at run time, as
/// `atol_help` says) and max_steps with these defaults.
std::vector<OptionSpec> tolerance_options(const AdaptiveTolerances& defaults, const std::string& atol_help = "");
/// Their values.
AdaptiveTolerances read_tolerances(const OptionValues& options);

/// Where an adaptive sampler stops integrating: grid.back(), or grid[N-1] when the grid ends
/// at sigma = 0 (EDM's t = 0, where the score does not exist); the sampler then takes the last
/// step with `finish_noiseless`.
double adaptive_end(const Sde& sde, std::span<const double> grid);
bool ends_noiseless(const Sde& sde, std::span<const double> grid);

/// ctx.predict for rows given by their chunk index, each with its own time and its own step
/// count for error messages (`steps[k]` for `rows[k]`): one batched call; the first row with a
/// non-finite output is thrown for, with its own step count.
void predict_rows(ChunkContext& ctx, Prediction want, const ConstVectorRef& t,
                  const ConstMatrixRef& x, MatrixRef out, std::span<const Eigen::Index> rows,
                  std::span<const std::size_t> steps);

/// The dense output of an adaptive sampler's chunk onto the grid's interior points, sent to the
/// chunk's observer (ChunkContext::observe_grid_point); nullptr without one (nothing is buffered).
std::unique_ptr<detail::DenseGridOutput> dense_grid_output(ChunkContext& ctx, const ConstMatrixRef& x);

/// The last step of a grid that ends at sigma = 0, for every row of the chunk (all at time
/// t = grid[N-1]): the Euler step of the PF-ODE to sigma = 0, which is Tweedie's denoiser,
/// x <- alpha(t_N) x0_hat(x, t) (k-diffusion and EDM take the same first-order last step).
/// One model evaluation per row; `steps[r]` is row r's step count for error messages.
void finish_noiseless(ChunkContext& ctx, MatrixRef x, std::span<const std::size_t> steps);

// ---- the samplers ----------------------------------------------------------------------

/// Classical Runge-Kutta 4 (odeint's runge_kutta4) on the PF-ODE dx/dt = f x - g^2 s / 2: one
/// step per grid interval, 4 model evaluations per step, global order 4. The whole chunk is one
/// state vector (every row at the same time), so each stage is one batched model call. On a grid
/// that ends at sigma = 0 the last step is `finish_noiseless` (RK4's last stage would need the
/// score at sigma = 0): NFE 4(N - 1) + 1 there, as k-diffusion's Heun (2N - 1).
class OdeintRk4 final : public Sampler {
 public:
  OdeintRk4();
  const SamplerTraits& traits() const override { return traits_; }
  std::size_t nfe_to_noiseless(std::size_t steps) const override {
    return steps == 0 ? 0 : 4 * (steps - 1) + 1;
  }
  void run(ChunkContext& ctx, MatrixRef x) const override;

 private:
  SamplerTraits traits_;
};

enum class OdeintMethod { dopri5, cash_karp54, fehlberg78, bulirsch_stoer };

/// An adaptive odeint stepper on the PF-ODE from grid[0] to grid[N] (interior grid points are not
/// visited: the stepper chooses its own steps; the last step is shortened to land on grid[N]
/// exactly). Each sample has its own step size and error control, with odeint's error checker
/// and step adjuster (controlled_runge_kutta, or odeint's bulirsch_stoer), as integrate_adaptive
/// would run it, plus the guards of detail::StepControl. Differences from score_sde's ODE sampler
/// (scipy RK45, rtol = atol = 1e-5, defaults kept), all deliberate:
///  - each sample is integrated with its own error control, so its result does not depend on
///    the batch (scipy integrates the flattened batch as one ODE with one RMS error norm);
///  - odeint's error norm and controller: max over components of |err_i| / (atol + rtol (|x_i| +
///    |dt| |dxdt_i|)), reject if > 1 with dt *= max(0.9 err^(-1/(q-1)), 0.2), grow only if
///    err < 0.5 (at most x4.5); step counts differ from scipy's;
///  - the first step comes from the Hairer-Norsett-Wanner heuristic as scipy's
///    select_initial_step, per sample (one extra model evaluation);
///  - a non-finite error estimate or proposed state rejects the step and divides dt by 5
///    (odeint's `max_rel_err > 1.0` is false for NaN and would accept it); a step below
///    `min_step` throws (NonFiniteError if the last rejection was non-finite,
///    StepSizeUnderflowError otherwise); more than max_steps attempts (accepted + rejected)
///    throw StepLimitError;
///  - a grid ending at sigma = 0 stops at grid[N-1] and takes `finish_noiseless`.
/// dopri5, cash-karp54 and fehlberg78 run every row of the chunk together (detail::integrate_rk:
/// one model call per stage on all rows still running, each at its own time), in odeint's
/// arithmetic, so each sample's result is bitwise that of the sample integrated alone.
/// bulirsch-stoer, whose extrapolation depth and evaluations per attempt vary per sample, runs
/// every row as a state machine of odeint's bulirsch_stoer (detail::integrate_bulirsch_stoer):
/// one model call per round on every row waiting for an evaluation, each row bitwise as alone.
class OdeintAdaptive final : public Sampler {
 public:
  OdeintAdaptive(OdeintMethod method, AdaptiveTolerances tolerances);
  const SamplerTraits& traits() const override { return traits_; }
  void run(ChunkContext& ctx, MatrixRef x) const override;
  const AdaptiveTolerances& tolerances() const { return tol_; }

 private:
  OdeintMethod method_;
  AdaptiveTolerances tol_;
  SamplerTraits traits_;
};

}  // namespace tweedie::solvers
