// The CLI's grid names (--grid, compare --grids): a spacing or "optimized", made from a pilot solve
// on the model; the names and the grids are the library's (grid.hpp, sampler_grid.hpp).
#pragma once

#include <tweedie/grid.hpp>
#include <tweedie/model.hpp>
#include <tweedie/sampler.hpp>
#include <tweedie/sampler_grid.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tweedie::cli {

bool is_optimized(const std::optional<std::string>& grid);
/// The spacing named `name`; an unknown name is refused listing the spacings and optimized
/// (run_grid_spacing), and so is optimized itself, which is no spacing.
GridSpacing grid_spacing_named(const std::string& name);

/// plan_run_grid (sampler_grid.hpp) for the --grid value `grid` (none: a spacing's grid). Under
/// MPI rank 0 alone makes the optimised grid (its pilot and search) and broadcasts its times
/// (computed_at_root, sample_by_rank.hpp): a failure there is every rank's; only rank 0's result
/// has `optimized` (the search's cost, for its report and summary).
RunGrid run_grid(const Sde& sde, const ScoreModel& model, const Sampler& sampler, const GridOptions& g,
                 const std::optional<std::string>& grid, std::uint64_t seed);

/// ", optimized grid: P pilot NFE x R rows, K trials" (the search's cost per pilot row, for a
/// summary line), or empty without a search.
std::string optimized_grid_note(const RunGrid& grid);

}  // namespace tweedie::cli
