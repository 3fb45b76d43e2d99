// Grids adapted to a problem and a sampler: searched against a tight pilot solve (deterministic
// samplers), or the steps of that solve equidistributed (the density grid, for the others).
#pragma once

#include <tweedie/model.hpp>
#include <tweedie/sampler.hpp>
#include <tweedie/sde.hpp>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace tweedie {

/// The pooled density of accepted steps of a pilot solve, rho(t) = mean over the pilot samples
/// of 1 / h(t) (h: the step the controller chose on the step containing t), piecewise constant
/// between knots t_start = knots[0] > knots[1] > ... > knots[M] = t_end; rho[j] on
/// (knots[j+1], knots[j]). Its integral from t to t_start is the mean number of pilot steps taken
/// down to t.
struct StepDensity {
  std::vector<double> knots;
  std::vector<double> rho;  ///< M values, each > 0
  /// The integral of rho^power from t to knots[0] (t in [knots[M], knots[0]]).
  double cumulative(double t, double power) const;
};

struct OptimizedGridOptions {
  int steps = 10;          ///< intervals N >= 1 of the grid
  double t_start = -1.0;   ///< negative: the family's T
  double t_end = -1.0;     ///< negative: the family's default_t_end(); sigma(t_end) must be > 0
  /// The global order p of the sampler the grid is for (SamplerTraits::order), >= 1.
  int order = 1;
  /// The exponent q of the density: the grid equidistributes rho^q. NaN: optimized_grid_power(order).
  double power = std::numeric_limits<double>::quiet_NaN();
  std::size_t pilot_samples = 256;  ///< rows of the pilot solve, >= 1
  /// rtol = atol of the pilot dopri5, whose end points are the search's teacher: well below the
  /// errors the search compares (1e-3 to 1e-5 at 10 to 20 NFE on the built-in targets).
  double pilot_tolerance = 1e-7;
  /// The search's bound: at most this many runs of the sampler over the pilot rows (each costs
  /// sampler.nfe(steps) evaluations per row), >= 1: after the starts, up to a quarter for the
  /// descent on the mean, up to a quarter for its polish on the median, and what is left for the
  /// descent on the median.
  int max_trials = 2000;
  /// The pilot's initial noise is that of samples 0, 1, ... of the seed pilot_seed(seed).
  std::uint64_t seed = 0;
  /// The run's grid goes on from t_end to t = 0 with one more step (a family whose sigma reaches
  /// 0, GridOptions::append_zero): optimize_grid's trials run the grid with that step appended and
  /// are scored against the teacher continued to t = 1e-8 t_start (compare's reference), so the
  /// search sees the sampler's last step and its order schedule as the run has them; the times it
  /// returns stay without the appended point. Ignored on other families, as GridOptions'.
  bool append_zero = false;
};

/// The seed of the pilot's initial noise for a run of seed `seed` (< 2^32): a fixed function of it
/// other than itself, so the pilot does not reuse the run's own initial points.
std::uint64_t pilot_seed(std::uint64_t seed);

/// The exponent q for a sampler of global order p. dopri5 keeps its local error estimate
/// C5(t) h^5 at the tolerance, so rho_pilot ~ C5^(1/5); a method of order p with local error
/// C_p(t) h^(p+1) has its global error minimised at fixed N by a density ~ C_p^(1/(p+1)). When the
/// solution varies on one time scale tau(t), every C_p ~ tau^-(p+1) and the optimal density is
/// ~ 1/tau ~ rho_pilot for every p: q = 1 (measured against 5/(p+1) and others: docs/compare.md,
/// "Optimised grids").
double optimized_grid_power(int order);

/// The pooled step density of a dopri5 solve of the probability-flow ODE of (sde, model) from
/// t_start to t_end, from the prior samples of options.seed's pilot seed (unconditional), in one
/// batch: deterministic, independent of any thread count. Throws InvalidArgument on bad options.
StepDensity pilot_step_density(const Sde& sde, const ScoreModel& model, const OptimizedGridOptions& options);

/// The N + 1 times t_0 = knots[0] > ... > t_N = knots[M] with equal integrals of rho^power between
/// consecutive times (the cumulative, piecewise linear, inverted exactly piece by piece).
std::vector<double> equidistribute(const StepDensity& density, double power, int steps);

/// The density grid: equidistribute(pilot_step_density(...), q, steps), q = options.power or
/// optimized_grid_power(options.order). The end points are exactly those of make_grid.
std::vector<double> make_optimized_grid(const Sde& sde, const ScoreModel& model, const OptimizedGridOptions& options);

/// A searched grid, what it cost and what it achieved on the pilot.
struct OptimizedGrid {
  std::vector<double> times;  ///< t_start = times[0] > ... > times[steps] = t_end
  std::string start;          ///< the grid the search started from: a spacing's name or "density"
  int trials = 0;             ///< runs of the sampler over the pilot rows
  double pilot_nfe = 0.0;     ///< model evaluations per pilot row: the pilot solve and every trial
  std::size_t pilot_rows = 0; ///< rows of the pilot (options.pilot_samples)
  double start_error = 0.0;   ///< median pilot ODE error on the start grid (NaN: not measured)
  double error = 0.0;         ///< median pilot ODE error on `times` (<= start_error; NaN: not measured)
};

/// The grid of options.steps steps on which `sampler` (deterministic, fixed-grid) has the smallest
/// median per-row ODE error against the pilot's dopri5 end points (the teacher), over the pilot
/// rows, found by coordinate descent on the interior points in lambda (each moved a fraction of
/// the way to a neighbour, kept if the objective falls; the fraction halved after a sweep without
/// gain, from 1/2 down to 1/64). Two descents, the one with the smaller median kept: on the median
/// from the best of the four spacings and the density grid by median, and on the mean per-row
/// error from the best of them by mean, then polished on the median (the mean is smooth in the
/// grid where the median is not, so that descent escapes the median's local minima). Within
/// options.max_trials runs in all. Deterministic: the same bits for every thread count and chunk size
/// of the run it is for. options.order and options.power are not used. Throws InvalidArgument for
/// an adaptive or stochastic sampler and on bad options.
OptimizedGrid optimize_grid(const Sde& sde, const ScoreModel& model, const Sampler& sampler,
                            const OptimizedGridOptions& options);

/// The grid of `--grid optimized` for `sampler` with what it cost: optimize_grid(...) for a
/// deterministic sampler; for a stochastic one (whose error is not the ODE's) the density grid for
/// its order, as an OptimizedGrid with start "density", no trials, the pilot's NFE and NaN errors
/// (not measured). Throws InvalidArgument for an adaptive sampler and on bad options.
OptimizedGrid optimized_grid_for(const Sde& sde, const ScoreModel& model, const Sampler& sampler,
                                 const OptimizedGridOptions& options);

/// optimized_grid_for(...).times.
std::vector<double> make_optimized_grid(const Sde& sde, const ScoreModel& model, const Sampler& sampler,
                                        const OptimizedGridOptions& options);

}  // namespace tweedie
