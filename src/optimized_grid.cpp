#include <tweedie/grid.hpp>
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

StepDensity pilot_step_density(const Sde& sde, const ScoreModel& model, const OptimizedGridOptions& o) {
  if (o.pilot_samples < 1) throw InvalidArgument("pilot_samples must be at least 1");
  if (!(std::isfinite(o.pilot_tolerance) && o.pilot_tolerance > 0.0)) {
    throw InvalidArgument(fmt::format("pilot_tolerance = {} must be positive", o.pilot_tolerance));
  }
  const Span span = grid_span(sde, o.t_start, o.t_end);
  const auto n = static_cast<Eigen::Index>(o.pilot_samples);
  Matrix z = sample_prior(sde, model.dim(), o.pilot_samples, 0, PhiloxNoise(pilot_seed(o.seed)));
  detail::FlowSystem system(sde, model, model.dim(), 0, n, {});
  detail::AdaptiveTolerances tol;
  tol.rtol = tol.atol = o.pilot_tolerance;
  // Each accepted step adds 1/h on its interval, h the step the controller chose (the last
  // step, shortened to land on t_end, counts with the step it would have taken).
  std::vector<std::pair<double, double>> events;  // (t, change of the summed 1/h going down in t)
  double min_inv = std::numeric_limits<double>::infinity();
  detail::integrate_rk(detail::RkPair::dopri5, system, z, span.t0, span.t1, tol, 0,
                       [&](Eigen::Index, double t, double t_new, double proposed) {
                         const double inv = 1.0 / std::fabs(proposed);
                         min_inv = std::min(min_inv, inv);
                         events.emplace_back(t, inv);
                         events.emplace_back(t_new, -inv);
                       });
  std::sort(events.begin(), events.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  StepDensity d;
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
  return d;
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

std::vector<double> make_optimized_grid(const Sde& sde, const ScoreModel& model, const OptimizedGridOptions& o) {
  const double power = std::isnan(o.power) ? optimized_grid_power(o.order) : o.power;
  if (o.steps < 1) throw InvalidArgument(fmt::format("steps = {} must be at least 1", o.steps));
  std::vector<double> t = equidistribute(pilot_step_density(sde, model, o), power, o.steps);
  validate_grid(sde, t);
  return t;
}

}  // namespace tweedie
