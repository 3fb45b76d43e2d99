// What every driver call assembles from its arguments, as the CLI does from its flags: the family,
// the model (a mixture's exact score or a model object), the grid and the sampler options.
#pragma once

#include <tweedie/model.hpp>
#include <tweedie/sampler.hpp>
#include <tweedie/sde.hpp>

#include <pybind11/pybind11.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tweedie::python {

/// The family `family` with its default parameters.
SdeSpec family_spec(const std::string& family);
/// The family argument: None (vp, the CLI's default), a family name, or a tweedie.Sde.
std::shared_ptr<const Sde> family_arg(const pybind11::object& sde);

/// A driver's problem: the family and the model (which may refer to it; both are kept).
struct Problem {
  std::shared_ptr<const Sde> sde;
  std::shared_ptr<const ScoreModel> model;
  std::string needs_labels;  ///< a guided model's message when a driver gets no labels (FamilyModel)
};
/// `target` is a tweedie.GaussianMixture (its exact score under `sde`, default vp) or a
/// tweedie.ScoreModel. A model that carries its family (a safetensors MlpModel, a TorchScript
/// module that names one) samples in it: `sde` may then only name that family.
Problem resolve_problem(const pybind11::object& target, const pybind11::object& sde);
/// Throws InvalidArgument (p.needs_labels) when the model is guided and `labels` is None.
void require_labels(const Problem& p, const pybind11::object& labels);

/// The grid arguments of `sample`: times (an explicit decreasing grid) or steps with the optional
/// spacing name, endpoints and Karras rho.
struct GridArgs {
  int steps = 100;
  pybind11::object spacing;  ///< None: the sampler's default
  std::optional<double> t_start, t_end;
  double rho = 7.0;
  pybind11::object times;  ///< None, or an array of times replacing the others
};
/// What grid="optimized" is made from: the run's model, sampler and seed (its pilot's noise).
struct GridPilot {
  const ScoreModel& model;
  const Sampler& sampler;
  std::uint64_t seed;
};
/// The grid `sample` runs on (grids.cpp), as `tweedie sample` builds it from its flags: the
/// spacing, or "optimized" (make_run_grid), which needs `pilot` (null: refused).
std::vector<double> run_grid(const std::string& sampler, const Sde& sde, const GridArgs& g, const GridPilot* pilot);

/// `run()` with the GIL released, so that the library's threads run (a PythonModel takes the GIL
/// around each call of its callable); its result is returned.
template <class Run>
auto without_gil(Run&& run) {
  pybind11::gil_scoped_release release;
  return run();
}

/// Keyword options of a sampler as the strings the registry checks against its declarations:
/// a float as Python's repr (the shortest text that reads back to the same double), an int as
/// its decimal digits, a str as it is. Anything else is refused naming the option.
SamplerOptions sampler_options(const pybind11::kwargs& options);

}  // namespace tweedie::python
