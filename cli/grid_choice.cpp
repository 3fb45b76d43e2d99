#include "grid_choice.hpp"

#include <tweedie/sampler_grid.hpp>

#include <fmt/format.h>

namespace tweedie::cli {

bool is_optimized(const std::optional<std::string>& grid) { return grid && *grid == optimized_grid_name; }

GridSpacing grid_spacing_named(const std::string& name) {
  if (const std::optional<GridSpacing> s = run_grid_spacing(name)) return *s;
  throw InvalidArgument(fmt::format("the {} grid is not a spacing here", optimized_grid_name));
}

std::vector<double> run_grid(const Sde& sde, const ScoreModel& model, const Sampler& sampler, const GridOptions& g,
                             const std::optional<std::string>& grid, std::uint64_t seed) {
  return make_run_grid(sde, model, sampler, g, is_optimized(grid), seed);
}

}  // namespace tweedie::cli
