#include <tweedie/grid.hpp>
#include <tweedie/metrics.hpp>
#include <tweedie/optimized_grid.hpp>
#include <tweedie/random.hpp>
#include <tweedie/sample.hpp>

#include "adaptive_rk.hpp"
#include "pf_ode.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

namespace tweedie {

double StepDensity::cumulative(double t, double power) const {
  double sum = 0.0;
  for (std::size_t j = 0; j < rho.size(); ++j) {
    const double hi = knots[j], lo = std::max(knots[j + 1], t);
    if (lo >= hi) break;
    sum += std::pow(rho[j], power) * (hi - lo);
  }
  return sum;
}

std::uint64_t pilot_seed(std::uint64_t seed) { return (seed + 0x9E3779B9u) & 0xFFFFFFFFu; }

double optimized_grid_power(int order) {
  if (order < 1) throw InvalidArgument(fmt::format("sampler order = {} must be at least 1", order));
  return 1.0;
}

namespace {

struct Span {
  double t0, t1;
};

Span grid_span(const Sde& sde, double t_start, double t_end) {
  GridOptions g;
  g.steps = 1;
  g.t_start = t_start;
  g.t_end = t_end;
  const auto ends = make_grid(sde, g);  // the end points and their checks, as every grid's
  if (!(sde.sigma(ends.back()) > 0.0)) {
    throw InvalidArgument(fmt::format(
        "an optimized grid needs noise at t_end (the pilot solves the PF-ODE there): t_end = {} has sigma = 0",
        ends.back()));
  }
  return {ends.front(), ends.back()};
}

}  // namespace

namespace {

// The pilot: dopri5 from the prior draws of the pilot seed to t_end, with its pooled step density.
struct PilotSolve {
  StepDensity density;
  Matrix start, end;   // the rows at t_start and the teacher's solution at t_end
  double nfe = 0.0;    // model evaluations per row
};

PilotSolve pilot_solve(const Sde& sde, const ScoreModel& model, const OptimizedGridOptions& o) {
  if (o.pilot_samples < 1) throw InvalidArgument("pilot_samples must be at least 1");
  if (!(std::isfinite(o.pilot_tolerance) && o.pilot_tolerance > 0.0)) {
    throw InvalidArgument(fmt::format("pilot_tolerance = {} must be positive", o.pilot_tolerance));
  }
  const Span span = grid_span(sde, o.t_start, o.t_end);
  const auto n = static_cast<Eigen::Index>(o.pilot_samples);
  PilotSolve pilot;
  pilot.start = sample_prior(sde, model.dim(), o.pilot_samples, 0, PhiloxNoise(pilot_seed(o.seed)));
  pilot.end = pilot.start;
  detail::FlowSystem system(sde, model, model.dim(), 0, n, {});
  detail::AdaptiveTolerances tol;
  tol.rtol = tol.atol = o.pilot_tolerance;
  // Each accepted step adds 1/h on its interval, h the step the controller chose (the last
  // step, shortened to land on t_end, counts with the step it would have taken).
  std::vector<std::pair<double, double>> events;  // (t, change of the summed 1/h going down in t)
  double min_inv = std::numeric_limits<double>::infinity();
  detail::integrate_rk(detail::RkPair::dopri5, system, pilot.end, span.t0, span.t1, tol, 0,
                       [&](Eigen::Index, double t, double t_new, double proposed) {
                         const double inv = 1.0 / std::fabs(proposed);
                         min_inv = std::min(min_inv, inv);
                         events.emplace_back(t, inv);
                         events.emplace_back(t_new, -inv);
                       });
  pilot.nfe = system.nfe.sum() / static_cast<double>(n);
  std::sort(events.begin(), events.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  StepDensity& d = pilot.density;
  d.knots.push_back(span.t0);
  double sum = 0.0;
  for (std::size_t i = 0; i < events.size();) {
    const double t = events[i].first;
    while (i < events.size() && events[i].first == t) sum += events[i++].second;
    if (t <= span.t1) break;
    d.knots.push_back(i < events.size() ? events[i].first : span.t1);
    // Every sample has a step over every t: the sum is at least n min_inv (the bound holds it
    // there against the rounding of the running sum).
    d.rho.push_back(std::max(sum, static_cast<double>(n) * min_inv) / static_cast<double>(n));
  }
  return pilot;
}

}  // namespace

StepDensity pilot_step_density(const Sde& sde, const ScoreModel& model, const OptimizedGridOptions& o) {
  return pilot_solve(sde, model, o).density;
}

std::vector<double> equidistribute(const StepDensity& d, double power, int steps) {
  if (steps < 1) throw InvalidArgument(fmt::format("steps = {} must be at least 1", steps));
  if (!(std::isfinite(power) && power > 0.0)) {
    throw InvalidArgument(fmt::format("grid power = {} must be positive", power));
  }
  const std::size_t m = d.rho.size();
  std::vector<double> weight(m), cum(m + 1, 0.0);  // cum[j]: the integral from knots[j] to knots[0]
  for (std::size_t j = 0; j < m; ++j) {
    weight[j] = std::pow(d.rho[j], power);
    cum[j + 1] = cum[j] + weight[j] * (d.knots[j] - d.knots[j + 1]);
  }
  std::vector<double> t(static_cast<std::size_t>(steps) + 1);
  t.front() = d.knots.front();
  t.back() = d.knots.back();
  std::size_t j = 0;
  for (int i = 1; i < steps; ++i) {
    const double target = cum[m] * static_cast<double>(i) / steps;
    while (j + 1 < m && cum[j + 1] <= target) ++j;
    t[static_cast<std::size_t>(i)] = std::clamp(d.knots[j] - (target - cum[j]) / weight[j], d.knots[j + 1], d.knots[j]);
  }
  return t;
}

namespace {

// The density grid with its pilot's cost (no trials, no errors measured).
OptimizedGrid density_grid(const Sde& sde, const ScoreModel& model, const OptimizedGridOptions& o) {
  const double power = std::isnan(o.power) ? optimized_grid_power(o.order) : o.power;
  if (o.steps < 1) throw InvalidArgument(fmt::format("steps = {} must be at least 1", o.steps));
  const PilotSolve pilot = pilot_solve(sde, model, o);
  OptimizedGrid g;
  g.times = equidistribute(pilot.density, power, o.steps);
  validate_grid(sde, g.times);
  g.start = "density";
  g.pilot_nfe = pilot.nfe;
  g.pilot_rows = o.pilot_samples;
  g.start_error = g.error = std::numeric_limits<double>::quiet_NaN();
  return g;
}

}  // namespace

std::vector<double> make_optimized_grid(const Sde& sde, const ScoreModel& model, const OptimizedGridOptions& o) {
  return density_grid(sde, model, o).times;
}

namespace {

// What trials are scored against: the pilot's solution at t_end or, when the run appends the
// step to sigma = 0, its continuation there. The PF-ODE's drift is O(t) as sigma -> 0 (EDM), so
// ending at 1e-8 t_start leaves a displacement O(t^2 |score|) from t = 0, as compare's reference
// does. Adds the continuation's evaluations per row to `nfe`.
Matrix trial_teacher(const Sde& sde, const ScoreModel& model, const OptimizedGridOptions& o,
                     const PilotSolve& pilot, bool append_zero, double& nfe) {
  if (!append_zero) return pilot.end;
  const Span span = grid_span(sde, o.t_start, o.t_end);
  const Eigen::Index n = pilot.end.rows();
  Matrix teacher = pilot.end;
  detail::FlowSystem system(sde, model, model.dim(), 0, n, {});
  detail::AdaptiveTolerances tol;
  tol.rtol = tol.atol = o.pilot_tolerance;
  detail::integrate_rk(detail::RkPair::dopri5, system, teacher, span.t1, std::min(span.t1, 1e-8 * span.t0), tol, 0);
  nfe += system.nfe.sum() / static_cast<double>(n);
  return teacher;
}

// The sampler's runs over the pilot rows, scored against the teacher.
class GridTrials {
 public:
  GridTrials(const Sde& sde, const ScoreModel& model, const Sampler& sampler, const Matrix& start,
             Matrix teacher, bool append_zero)
      : sde_(sde), model_(model), sampler_(sampler), start_(start), teacher_(std::move(teacher)),
        append_zero_(append_zero) {}

  // The per-row ODE errors of the sampler on grid t (infinite if a state is not finite).
  RowErrors errors(const std::vector<double>& times) {
    SampleOptions so;
    so.init = &start_;
    ++trials;
    std::vector<double> t = times;
    if (append_zero_) t.push_back(0.0);
    try {
      const SampleResult r = sample(sde_, model_, sampler_, t, so);
      nfe += r.stats.nfe_per_sample;
      return ode_error(r.samples, teacher_);
    } catch (const NonFiniteError&) {
      nfe += static_cast<double>(sampler_.nfe(t.size() - 1));
      constexpr double inf = std::numeric_limits<double>::infinity();
      return {inf, inf, inf};
    }
  }

  int trials = 0;
  double nfe = 0.0;  // per row, over the trials

 private:
  const Sde& sde_;
  const ScoreModel& model_;
  const Sampler& sampler_;
  const Matrix& start_;
  Matrix teacher_;
  bool append_zero_;
};

// A grid, the start it came from, and its errors on the pilot.
struct ScoredGrid {
  std::vector<double> times;
  std::string start;
  RowErrors errors;
};

// Coordinate descent in lambda on grid.times, minimising grid.errors.*objective: each interior
// point in turn is moved the fraction f of the way to a neighbour and kept if the objective falls;
// f is halved after a sweep without gain, from 1/2 down to 1/64, or the trials reach `until`.
void descend(const Sde& sde, GridTrials& trials, ScoredGrid& grid, double RowErrors::*objective, int until) {
  std::vector<double>& t = grid.times;
  for (double f = 0.5; f >= 1.0 / 64.0 && std::isfinite(grid.errors.*objective) && trials.trials < until;) {
    bool improved = false;
    for (std::size_t i = 1; i + 1 < t.size() && trials.trials < until; ++i) {
      for (std::size_t neighbour : {i + 1, i - 1}) {
        if (trials.trials >= until) break;
        const double l = sde.lambda(t[i]);
        const double moved = sde.t_of_lambda(l + f * (sde.lambda(t[neighbour]) - l));
        if (!(moved < t[i - 1] && moved > t[i + 1]) || moved == t[i]) continue;
        const double old = std::exchange(t[i], moved);
        const RowErrors e = trials.errors(t);
        if (e.*objective < grid.errors.*objective) {
          grid.errors = e;
          improved = true;
          break;
        }
        t[i] = old;
      }
    }
    if (!improved) f /= 2.0;
  }
}

}  // namespace

OptimizedGrid optimize_grid(const Sde& sde, const ScoreModel& model, const Sampler& sampler,
                            const OptimizedGridOptions& o) {
  const SamplerTraits& traits = sampler.traits();
  if (traits.adaptive || traits.stochastic) {
    throw InvalidArgument(fmt::format("a searched grid is for deterministic fixed-grid samplers: {} is {}", traits.name,
                                      traits.adaptive ? "adaptive" : "stochastic"));
  }
  if (o.steps < 1) throw InvalidArgument(fmt::format("steps = {} must be at least 1", o.steps));
  if (o.max_trials < 1) throw InvalidArgument(fmt::format("max_trials = {} must be at least 1", o.max_trials));
  const PilotSolve pilot = pilot_solve(sde, model, o);
  const bool append_zero = o.append_zero && reaches_zero_noise(sde);
  double pilot_nfe = pilot.nfe;
  GridTrials trials(sde, model, sampler, pilot.start, trial_teacher(sde, model, o, pilot, append_zero, pilot_nfe),
                    append_zero);

  // The starts: the density grid and the four spacings, each run once on the pilot.
  std::vector<ScoredGrid> starts;
  auto offer = [&](std::vector<double> t, std::string name) {
    if (trials.trials >= o.max_trials) return;
    const RowErrors e = trials.errors(t);
    starts.push_back({std::move(t), std::move(name), e});
  };
  offer(equidistribute(pilot.density, 1.0, o.steps), "density");
  for (GridSpacing s : grid_spacings) {
    GridOptions g;
    g.spacing = s;
    g.steps = o.steps;
    g.t_start = pilot.density.knots.front();
    g.t_end = pilot.density.knots.back();
    offer(make_grid(sde, g), std::string(to_string(s)));
  }
  auto best_start = [&](double RowErrors::*objective) {
    return *std::min_element(starts.begin(), starts.end(),
                             [&](const ScoredGrid& a, const ScoredGrid& b) {
                               return a.errors.*objective < b.errors.*objective;
                             });
  };
  // Two descents, kept by their median: one on the median itself, and one on the mean (smooth in
  // the grid where the median jumps from row to row, so it leaves the median's local minima;
  // measured on held-out mixtures in docs/compare.md) polished on the median.
  const int quarter = std::max(1, o.max_trials / 4);
  ScoredGrid by_mean = best_start(&RowErrors::mean), by_median = best_start(&RowErrors::median);
  const double mean_start_error = by_mean.errors.median, median_start_error = by_median.errors.median;
  descend(sde, trials, by_mean, &RowErrors::mean, std::min(o.max_trials, trials.trials + quarter));
  descend(sde, trials, by_mean, &RowErrors::median, std::min(o.max_trials, trials.trials + quarter));
  descend(sde, trials, by_median, &RowErrors::median, o.max_trials);
  const bool mean_wins = by_mean.errors.median < by_median.errors.median;
  const ScoredGrid& chosen = mean_wins ? by_mean : by_median;
  OptimizedGrid best;
  best.times = chosen.times;
  best.start = chosen.start;
  best.error = chosen.errors.median;
  best.start_error = mean_wins ? mean_start_error : median_start_error;
  validate_grid(sde, best.times);
  best.trials = trials.trials;
  best.pilot_nfe = pilot_nfe + trials.nfe;
  best.pilot_rows = o.pilot_samples;
  return best;
}

OptimizedGrid optimized_grid_for(const Sde& sde, const ScoreModel& model, const Sampler& sampler,
                                 const OptimizedGridOptions& o) {
  const SamplerTraits& traits = sampler.traits();
  if (traits.adaptive) {
    throw InvalidArgument(fmt::format("an optimized grid is for fixed-grid samplers: {} chooses its own steps", traits.name));
  }
  if (!traits.stochastic) return optimize_grid(sde, model, sampler, o);
  OptimizedGridOptions density = o;
  density.order = traits.order;
  return density_grid(sde, model, density);
}

std::vector<double> make_optimized_grid(const Sde& sde, const ScoreModel& model, const Sampler& sampler,
                                        const OptimizedGridOptions& o) {
  return optimized_grid_for(sde, model, sampler, o).times;
}

}  // namespace tweedie
