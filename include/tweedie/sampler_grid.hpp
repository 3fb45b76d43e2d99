// The grid of a run whose caller may name the spacing: the CLI's --grid, the Python module's grid=.
#pragma once

#include <tweedie/grid.hpp>
#include <tweedie/sde.hpp>

#include <optional>
#include <string>

namespace tweedie {

/// default_grid(sampler, sde, steps) (sampler.hpp) where `spacing`, when given, replaces the
/// sampler's: a Karras grid then keeps its final step to sigma = 0 on EDM (k-diffusion's
/// get_sigmas_karras), any other spacing ends at t_end.
GridOptions default_grid(const std::string& sampler, const Sde& sde, int steps,
                         std::optional<GridSpacing> spacing);

}  // namespace tweedie
