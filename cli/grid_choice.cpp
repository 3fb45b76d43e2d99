#include "grid_choice.hpp"
#include "sample_by_rank.hpp"

#include <tweedie/sampler_grid.hpp>

#include <fmt/format.h>

namespace tweedie::cli {

bool is_optimized(const std::optional<std::string>& grid) { return grid && *grid == optimized_grid_name; }

GridSpacing grid_spacing_named(const std::string& name) {
  if (const std::optional<GridSpacing> s = run_grid_spacing(name)) return *s;
  throw InvalidArgument(fmt::format("the {} grid is not a spacing here", optimized_grid_name));
}

RunGrid run_grid(const Sde& sde, const ScoreModel& model, const Sampler& sampler, const GridOptions& g,
                 const std::optional<std::string>& grid, std::uint64_t seed) {
  if (!is_optimized(grid)) return plan_run_grid(sde, model, sampler, g, false, seed);
  RunGrid r;
  r.times = computed_at_root([&] {
    r = plan_run_grid(sde, model, sampler, g, true, seed);
    return r.times;
  });
  return r;
}

std::string optimized_grid_note(const RunGrid& grid) {
  if (!grid.optimized) return "";
  const OptimizedGrid& o = *grid.optimized;
  return fmt::format(", optimized grid: {:.0f} pilot NFE x {} rows, {} trials", o.pilot_nfe, o.pilot_rows, o.trials);
}

}  // namespace tweedie::cli
