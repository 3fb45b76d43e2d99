// The grid of a run whose caller may name the spacing: the CLI's --grid, the Python module's grid=.
#pragma once

#include <tweedie/grid.hpp>
#include <tweedie/model.hpp>
#include <tweedie/sampler.hpp>
#include <tweedie/sde.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tweedie {

/// default_grid(sampler, sde, steps) (sampler.hpp) where `spacing`, when given, replaces the
/// sampler's: a Karras grid then keeps its final step to sigma = 0 on EDM (k-diffusion's
/// get_sigmas_karras), any other spacing ends at t_end.
GridOptions default_grid(const std::string& sampler, const Sde& sde, int steps,
                         std::optional<GridSpacing> spacing);

/// The times of a run of `sampler`: make_grid(sde, g), or with `optimized` (the grid named
/// optimized_grid_name) make_optimized_grid(sde, model, sampler, ...) (optimized_grid.hpp) over g's
/// steps and end points, its pilot keyed by `seed`. g comes from default_grid with no spacing for
/// the optimised grid (the sampler's default end points); on EDM, where that grid ends with a step
/// to sigma = 0, the optimised grid fills the N - 1 steps before it. An adaptive sampler, which
/// chooses its own steps, is refused.
std::vector<double> make_run_grid(const Sde& sde, const ScoreModel& model, const Sampler& sampler,
                                  const GridOptions& g, bool optimized, std::uint64_t seed);

}  // namespace tweedie
