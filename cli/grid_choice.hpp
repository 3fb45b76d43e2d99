// The CLI's grid names beyond the spacings: "optimized" (--grid, compare --grids) is made from a
// pilot solve on the model (tweedie/optimized_grid.hpp), so it is built here, not by make_grid.
#pragma once

#include <tweedie/grid.hpp>
#include <tweedie/model.hpp>
#include <tweedie/sampler.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tweedie::cli {

inline constexpr const char* optimized_grid_name = "optimized";
bool is_optimized(const std::optional<std::string>& grid);
/// The spacing named `name`; an unknown name is refused listing the spacings and optimized.
GridSpacing grid_spacing_named(const std::string& name);

/// The times of a run: make_grid(sde, g), or with `grid` "optimized" the optimised grid for the
/// sampler's order over g's steps and end points (g from grid_options: the sampler's default end
/// points; on EDM, where that grid ends with a step to sigma = 0, the optimised grid fills the
/// N - 1 steps before it), its pilot keyed by `seed`. An adaptive sampler is refused.
std::vector<double> run_grid(const Sde& sde, const ScoreModel& model, const Sampler& sampler, const GridOptions& g,
                             const std::optional<std::string>& grid, std::uint64_t seed);

}  // namespace tweedie::cli
