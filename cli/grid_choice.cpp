#include "grid_choice.hpp"

#include <tweedie/optimized_grid.hpp>

#include <fmt/format.h>

namespace tweedie::cli {

bool is_optimized(const std::optional<std::string>& grid) { return grid && *grid == optimized_grid_name; }

GridSpacing grid_spacing_named(const std::string& name) {
  constexpr GridSpacing spacings[] = {GridSpacing::time_uniform, GridSpacing::log_snr, GridSpacing::time_quadratic,
                                      GridSpacing::karras};
  for (GridSpacing s : spacings) {
    if (to_string(s) == name) return s;
  }
  std::string expected;
  for (GridSpacing s : spacings) expected += fmt::format("{}, ", to_string(s));
  throw InvalidArgument(fmt::format("unknown grid '{:.64}' (expected {}or {})", name, expected, optimized_grid_name));
}

std::vector<double> run_grid(const Sde& sde, const ScoreModel& model, const Sampler& sampler, const GridOptions& g,
                             const std::optional<std::string>& grid, std::uint64_t seed) {
  if (!is_optimized(grid)) return make_grid(sde, g);
  const SamplerTraits& traits = sampler.traits();
  if (traits.adaptive) {
    throw InvalidArgument(fmt::format("--grid optimized is for fixed-grid samplers: {} chooses its own steps",
                                      traits.name));
  }
  const bool append = g.append_zero && reaches_zero_noise(sde);
  if (append && g.steps < 2) {
    throw InvalidArgument("--grid optimized on a grid ending at sigma = 0 needs at least 2 steps");
  }
  OptimizedGridOptions o;
  o.steps = g.steps - (append ? 1 : 0);
  o.t_start = g.t_start;
  o.t_end = g.t_end;
  o.order = traits.order;
  o.seed = seed;
  std::vector<double> t = make_optimized_grid(sde, model, o);
  if (append) t.push_back(0.0);
  validate_grid(sde, t);
  return t;
}

}  // namespace tweedie::cli
