// Time grids: the library's make_grid and the samplers' default grids.
#include "bindings.hpp"
#include "arrays.hpp"
#include "problem.hpp"

#include <tweedie/grid.hpp>
#include <tweedie/sampler.hpp>
#include <tweedie/sampler_grid.hpp>

#include <pybind11/stl.h>

namespace py = pybind11;

namespace tweedie::python {

std::vector<double> run_grid(const std::string& sampler, const Sde& sde, const GridArgs& g, const GridPilot* pilot) {
  if (!g.times.is_none()) {
    if (!g.spacing.is_none() || g.t_start || g.t_end) {
      throw InvalidArgument("times replaces grid, t_start and t_end: give one or the other");
    }
    const RowsArray t = g.times.cast<RowsArray>();
    const auto view = vector_view(t, "times");
    std::vector<double> times(view.begin(), view.end());
    validate_grid(sde, times);
    return times;
  }
  const std::optional<std::string> name =
      g.spacing.is_none() ? std::nullopt : std::optional(g.spacing.cast<std::string>());
  const std::optional<GridSpacing> spacing = name ? run_grid_spacing(*name) : std::nullopt;
  const bool optimized = name && !spacing;
  if (optimized && !pilot) {
    throw InvalidArgument("grid=\"optimized\" is made from a pilot solve on the model: tweedie.sample takes it");
  }
  GridOptions o = default_grid(sampler, sde, g.steps, spacing);
  o.t_start = g.t_start.value_or(-1.0);
  o.t_end = g.t_end.value_or(-1.0);
  o.rho = g.rho;
  if (!optimized) return make_grid(sde, o);
  return without_gil([&] { return make_run_grid(sde, pilot->model, pilot->sampler, o, true, pilot->seed); });
}

void bind_grids(py::module_& m) {
  m.def(
      "make_grid",
      [](const py::object& sde, int steps, const std::string& spacing, std::optional<double> t_start,
         std::optional<double> t_end, double rho, bool append_zero) {
        const auto family = family_arg(sde);
        GridOptions o;
        o.spacing = grid_spacing_from_string(spacing);
        o.steps = steps;
        o.t_start = t_start.value_or(-1.0);
        o.t_end = t_end.value_or(-1.0);
        o.rho = rho;
        o.append_zero = append_zero;
        std::vector<double> t = make_grid(*family, o);
        return to_numpy(Vector(Eigen::Map<const Vector>(t.data(), static_cast<Eigen::Index>(t.size()))));
      },
      py::arg("sde") = "vp", py::kw_only(), py::arg("steps") = GridOptions{}.steps,
      py::arg("spacing") = std::string(to_string(GridOptions{}.spacing)), py::arg("t_start") = py::none(),
      py::arg("t_end") = py::none(), py::arg("rho") = GridOptions{}.rho, py::arg("append_zero") = false,
      "The steps + 1 times of a grid (time-uniform, log-snr, time-quadratic or karras), from t_start "
      "(default: the family's T) to t_end (default: the family's default_t_end).");
  m.def(
      "sampler_grid",
      [](const std::string& sampler, const py::object& sde, int steps, const py::object& grid,
         std::optional<double> t_start, std::optional<double> t_end, double rho) {
        const auto family = family_arg(sde);
        std::vector<double> t = run_grid(sampler, *family, {steps, grid, t_start, t_end, rho, py::none()}, nullptr);
        return to_numpy(Vector(Eigen::Map<const Vector>(t.data(), static_cast<Eigen::Index>(t.size()))));
      },
      py::arg("sampler"), py::arg("sde") = "vp", py::kw_only(), py::arg("steps") = 100, py::arg("grid") = py::none(),
      py::arg("t_start") = py::none(), py::arg("t_end") = py::none(), py::arg("rho") = GridOptions{}.rho,
      "The grid `sample` uses for these arguments: the sampler's default grid (its reference's "
      "spacing; Karras ending at sigma = 0 on EDM), the spacing `grid` when given (not \"optimized\", which "
      "needs the model: sample(..., grid=\"optimized\")).");
}

}  // namespace tweedie::python
