// Time grids: validated, strictly decreasing lists of times from t_start to t_end.
#pragma once

#include <tweedie/sde.hpp>

#include <array>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tweedie {

enum class GridSpacing {
  time_uniform,    ///< uniform in t
  log_snr,         ///< uniform in lambda = log(alpha / sigma) (DPM-Solver's logSNR)
  time_quadratic,  ///< uniform in sqrt(t), squared (DPM-Solver's time_quadratic)
  karras,          ///< uniform in (sigma/alpha)^(1/rho) (EDM), rho = 7 by default
};
/// Every spacing, in the order names are listed in messages and help.
inline constexpr std::array<GridSpacing, 4> grid_spacings = {GridSpacing::time_uniform, GridSpacing::log_snr,
                                                             GridSpacing::time_quadratic, GridSpacing::karras};
std::string_view to_string(GridSpacing s);
/// The spacing named `name` (to_string's inverse); otherwise InvalidArgument listing grid_spacings.
GridSpacing grid_spacing_from_string(std::string_view name);

/// The grid name beside the spacings that a run takes (the CLI's --grid and compare --grids,
/// Python's grid=): the optimised grid of a pilot solve on the model (optimized_grid.hpp,
/// make_run_grid in sampler_grid.hpp), which make_grid cannot make.
inline constexpr std::string_view optimized_grid_name = "optimized";
/// The spacing named `name`, or nullopt for optimized_grid_name; otherwise InvalidArgument
/// "unknown grid 'NAME' (expected time-uniform, log-snr, time-quadratic, karras or optimized)".
std::optional<GridSpacing> run_grid_spacing(std::string_view name);

struct GridOptions {
  GridSpacing spacing = GridSpacing::time_uniform;
  int steps = 100;         ///< number of intervals N >= 1 (the grid has N + 1 points)
  double t_start = -1.0;   ///< negative: the family's T
  double t_end = -1.0;     ///< negative: the family's default_t_end()
  double rho = 7.0;        ///< Karras exponent
  /// On a family whose sigma reaches 0 (EDM) with t_end > 0: the first N - 1 steps go from
  /// t_start to t_end on the spacing and the last one to t = 0 (sigma = 0), as k-diffusion's
  /// get_sigmas_karras and EDM's sampler (N = 20, sigma 50 .. 0.01: get_sigmas_karras(20, 0.01,
  /// 50) and the appended 0). Ignored on other families, whose sigma stays positive.
  bool append_zero = false;
};

/// Whether the family's noise reaches 0 inside its time domain (sigma(0) = 0 is a valid time: EDM).
bool reaches_zero_noise(const Sde& sde);

/// The N + 1 times of a grid. The endpoints are exactly t_start and t_end; interior points are
/// computed from their index (no accumulated increments). Throws InvalidArgument on bad options.
std::vector<double> make_grid(const Sde& sde, const GridOptions& options);

/// Checks an explicit grid: at least two points, finite, strictly decreasing, inside the family's
/// time domain. The message names the first offending index.
void validate_grid(const Sde& sde, std::span<const double> times);

}  // namespace tweedie
