#include <tweedie/sampler.hpp>
#include <tweedie/sampler_grid.hpp>

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

}  // namespace tweedie
