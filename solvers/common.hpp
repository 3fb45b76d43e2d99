// Machinery shared by several samplers (internal to solvers/).
#pragma once

#include <tweedie/sampler.hpp>

#include <cmath>
#include <span>
#include <vector>

namespace tweedie::solvers {

/// The schedule at one time: everything the update rules of exponential integrators and
/// sigma-space samplers read. lambda = +inf and noise_level = 0 where sigma = 0 (EDM's t = 0).
struct SchedulePoint {
  double t, alpha, sigma, lambda;
  double noise_level() const { return sigma / alpha; }
  bool noiseless() const { return sigma == 0.0; }
};

inline SchedulePoint schedule_point(const Sde& sde, double t) {
  const double a = sde.alpha(t), s = sde.sigma(t);
  return {t, a, s, s == 0.0 ? INFINITY : sde.lambda(t)};
}

inline std::vector<SchedulePoint> schedule_points(const Sde& sde, std::span<const double> grid) {
  std::vector<SchedulePoint> points;
  points.reserve(grid.size());
  for (double t : grid) points.push_back(schedule_point(sde, t));
  return points;
}

/// k-diffusion's get_ancestral_step: the deterministic part goes to sigma_down, then noise of
/// scale sigma_up is added, with sigma_down^2 + sigma_up^2 = sigma_to^2 (noise levels).
struct AncestralSplit {
  double sigma_down, sigma_up;
};
inline AncestralSplit ancestral_split(double sigma_from, double sigma_to, double eta) {
  if (eta == 0.0 || sigma_to == 0.0) return {sigma_to, 0.0};
  const double up = std::min(
      sigma_to, eta * std::sqrt(sigma_to * sigma_to * (sigma_from * sigma_from - sigma_to * sigma_to) /
                                (sigma_from * sigma_from)));
  return {std::sqrt(sigma_to * sigma_to - up * up), up};
}

}  // namespace tweedie::solvers
