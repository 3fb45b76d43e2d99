// The grid of a run whose caller may name the spacing: the CLI's --grid, the Python module's grid=.
#pragma once

#include <tweedie/grid.hpp>
#include <tweedie/model.hpp>
#include <tweedie/optimized_grid.hpp>
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

/// The grid of a run and, for the optimised grid, what made it.
struct RunGrid {
  std::vector<double> times;
  /// With the optimised grid: optimized_grid_for's result (its cost, start and pilot errors); its
  /// times are the optimised steps, without the final step to sigma = 0 that `times` may append.
  std::optional<OptimizedGrid> optimized;
};

/// The grid of a run of `sampler`: make_grid(sde, g), or with `optimized` (the grid named
/// optimized_grid_name) optimized_grid_for(sde, model, sampler, ...) (optimized_grid.hpp) over g's
/// steps and end points, its pilot keyed by `seed`. g comes from default_grid with no spacing for
/// the optimised grid (the sampler's default end points). With g.append_zero on a family whose
/// sigma reaches 0 (EDM), the optimised grid ends as the Karras grid does: its first N - 1 steps
/// are optimised from t_start to t_end (sigma_min > 0, where the pilot ends) and the last goes to
/// t = 0, so that it has N + 1 points, the same NFE and the same end as the Karras grid (N >= 2).
/// An adaptive sampler, which chooses its own steps, is refused.
RunGrid plan_run_grid(const Sde& sde, const ScoreModel& model, const Sampler& sampler, const GridOptions& g,
                      bool optimized, std::uint64_t seed);

/// plan_run_grid(...).times.
std::vector<double> make_run_grid(const Sde& sde, const ScoreModel& model, const Sampler& sampler,
                                  const GridOptions& g, bool optimized, std::uint64_t seed);

}  // namespace tweedie
