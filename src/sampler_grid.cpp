#include <tweedie/optimized_grid.hpp>
#include <tweedie/sampler.hpp>
#include <tweedie/sampler_grid.hpp>

#include <fmt/format.h>

namespace tweedie {

GridOptions default_grid(const std::string& sampler, const Sde& sde, int steps,
                         std::optional<GridSpacing> spacing) {
  GridOptions g = default_grid(sampler, sde, steps);
  if (spacing) {
    g.spacing = *spacing;
    g.append_zero = *spacing == GridSpacing::karras;
  }
  return g;
}

RunGrid plan_run_grid(const Sde& sde, const ScoreModel& model, const Sampler& sampler, const GridOptions& g,
                      bool optimized, std::uint64_t seed) {
  if (!optimized) return {make_grid(sde, g), std::nullopt};
  const SamplerTraits& traits = sampler.traits();
  if (traits.adaptive) {
    throw InvalidArgument(fmt::format("the {} grid is for fixed-grid samplers: {} chooses its own steps",
                                      optimized_grid_name, traits.name));
  }
  // As make_grid's append_zero: N - 1 steps to t_end (where the pilot can end), the last to 0.
  const bool append = g.append_zero && reaches_zero_noise(sde);
  if (append && g.steps < 2) {
    throw InvalidArgument(
        fmt::format("the {} grid on a grid ending at sigma = 0 needs at least 2 steps", optimized_grid_name));
  }
  OptimizedGridOptions o;
  o.steps = g.steps - (append ? 1 : 0);
  o.t_start = g.t_start;
  o.t_end = g.t_end;
  o.order = traits.order;
  o.seed = seed;
  o.append_zero = append;
  RunGrid r;
  r.optimized = optimized_grid_for(sde, model, sampler, o);
  r.times = r.optimized->times;
  if (append) r.times.push_back(0.0);
  validate_grid(sde, r.times);
  return r;
}

std::vector<double> make_run_grid(const Sde& sde, const ScoreModel& model, const Sampler& sampler,
                                  const GridOptions& g, bool optimized, std::uint64_t seed) {
  return plan_run_grid(sde, model, sampler, g, optimized, seed).times;
}

}  // namespace tweedie
