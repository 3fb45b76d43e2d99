#include <tweedie/grid.hpp>

#include "names.hpp"

#include <fmt/format.h>

#include <cmath>

namespace tweedie {

std::string_view to_string(GridSpacing s) {
  switch (s) {
    case GridSpacing::time_uniform: return "time-uniform";
    case GridSpacing::log_snr: return "log-snr";
    case GridSpacing::time_quadratic: return "time-quadratic";
    case GridSpacing::karras: return "karras";
  }
  return "?";
}

GridSpacing grid_spacing_from_string(std::string_view name) {
  return detail::from_name(name, grid_spacings, "grid");
}

std::optional<GridSpacing> run_grid_spacing(std::string_view name) {
  if (name == optimized_grid_name) return std::nullopt;
  for (GridSpacing s : grid_spacings) {
    if (to_string(s) == name) return s;
  }
  std::string expected;
  for (GridSpacing s : grid_spacings) expected += fmt::format("{}, ", to_string(s));
  expected.resize(expected.size() - 2);
  throw InvalidArgument(fmt::format("unknown grid '{:.64}' (expected {} or {})", name, expected, optimized_grid_name));
}

bool reaches_zero_noise(const Sde& sde) { return sde.allows_zero_time() && sde.sigma(0.0) == 0.0; }

std::vector<double> make_grid(const Sde& sde, const GridOptions& o) {
  if (o.steps < 1) throw InvalidArgument(fmt::format("steps = {} must be at least 1", o.steps));
  const double t0 = o.t_start < 0.0 ? sde.T() : o.t_start;
  const double t1 = o.t_end < 0.0 ? sde.default_t_end() : o.t_end;
  sde.check_time(t0, "t_start");
  sde.check_time(t1, "t_end");
  if (!(t1 < t0)) {
    throw InvalidArgument(fmt::format("t_end = {} must be smaller than t_start = {}", t1, t0));
  }
  // The appended step to sigma = 0 is the last of the N; the spacing fills the N - 1 before it
  // (with N = 1 the grid is t_start, 0, as get_sigmas_karras(1, ...)).
  const bool append = o.append_zero && t1 > 0.0 && reaches_zero_noise(sde);
  const int n = o.steps - (append ? 1 : 0);
  std::vector<double> t(static_cast<std::size_t>(n) + 1);
  // Interpolates a monotone coordinate u(t) linearly in the step index, then maps it back.
  auto fill = [&](double u0, double u1, auto&& to_time) {
    for (int i = 1; i < n; ++i) {
      const double w = static_cast<double>(i) / n;
      t[static_cast<std::size_t>(i)] = to_time(u0 + w * (u1 - u0));
    }
  };
  switch (o.spacing) {
    case GridSpacing::time_uniform: fill(t0, t1, [](double u) { return u; }); break;
    case GridSpacing::time_quadratic:
      fill(std::sqrt(t0), std::sqrt(t1), [](double u) { return u * u; });
      break;
    case GridSpacing::log_snr: {
      const double l0 = sde.lambda(t0), l1 = sde.lambda(t1);
      if (!std::isfinite(l0) || !std::isfinite(l1)) {
        throw InvalidArgument(fmt::format(
            "log-snr grid needs a finite log-SNR at both ends (t_end = {} has none): use another "
            "grid or a positive t_end", t1));
      }
      fill(l0, l1, [&](double l) { return sde.t_of_lambda(l); });
      break;
    }
    case GridSpacing::karras: {
      if (!(std::isfinite(o.rho) && o.rho > 0.0)) {
        throw InvalidArgument(fmt::format("rho = {} must be positive", o.rho));
      }
      const double inv = 1.0 / o.rho;
      const double s0 = std::pow(sde.noise_level(t0), inv), s1 = std::pow(sde.noise_level(t1), inv);
      fill(s0, s1, [&](double u) { return sde.t_of_noise_level(std::pow(u, o.rho)); });
      break;
    }
  }
  t.front() = t0;
  if (n > 0) t.back() = t1;
  if (append) t.push_back(0.0);
  validate_grid(sde, t);
  return t;
}

void validate_grid(const Sde& sde, std::span<const double> times) {
  if (times.size() < 2) {
    throw InvalidArgument(
        fmt::format("a time grid needs at least 2 points (1 step), got {}", times.size()));
  }
  for (std::size_t i = 0; i < times.size(); ++i) {
    sde.check_time(times[i], fmt::format("time grid point {}", i));
    if (i > 0 && !(times[i] < times[i - 1])) {
      throw InvalidArgument(fmt::format(
          "time grid is not strictly decreasing at point {}: {} follows {}", i, times[i],
          times[i - 1]));
    }
  }
}

}  // namespace tweedie
