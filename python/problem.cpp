#include "problem.hpp"

#include "family_model.hpp"

#include <tweedie/gaussian_mixture.hpp>

#include <fmt/format.h>

namespace py = pybind11;

namespace tweedie::python {
namespace {

// The family a model was trained with, when it carries one: its `sde` attribute (MlpModel,
// TorchScriptModel, PythonModel, GaussianMixture.model's FamilyModel).
std::shared_ptr<const Sde> own_family(const py::object& model) {
  const py::object sde = py::getattr(model, "sde", py::none());
  return sde.is_none() ? nullptr : sde.cast<std::shared_ptr<Sde>>();
}

}  // namespace

SdeSpec family_spec(const std::string& family) {
  SdeSpec spec;
  spec.family = family;
  return spec;
}

std::shared_ptr<const Sde> family_arg(const py::object& sde) {
  if (sde.is_none()) return make_sde(SdeSpec{});
  if (py::isinstance<py::str>(sde)) return make_sde(family_spec(sde.cast<std::string>()));
  try {
    return sde.cast<std::shared_ptr<Sde>>();
  } catch (const py::cast_error&) {
    throw InvalidArgument("sde must be a family name (" + fmt::format("{}", fmt::join(sde_names(), ", ")) +
                          ") or a tweedie.Sde");
  }
}

Problem resolve_problem(const py::object& target, const py::object& sde) {
  Problem p;
  if (py::isinstance<GaussianMixture>(target)) {
    p.sde = family_arg(sde);
    p.model = exact_model(target.cast<const GaussianMixture&>(), *p.sde);
    return p;
  }
  try {
    p.model = target.cast<std::shared_ptr<ScoreModel>>();
  } catch (const py::cast_error&) {
    throw InvalidArgument("the target must be a tweedie.GaussianMixture or a tweedie.ScoreModel");
  }
  if (const auto* family = dynamic_cast<const FamilyModel*>(p.model.get())) p.needs_labels = family->needs_labels();
  p.sde = own_family(target);
  if (!p.sde) {
    p.sde = family_arg(sde);
  } else if (!sde.is_none()) {
    const auto given = family_arg(sde);
    if (given->name() != p.sde->name()) {
      throw InvalidArgument(fmt::format("sde gives {} but the model was trained with {} (leave sde out)",
                                        given->name(), p.sde->name()));
    }
  }
  return p;
}

void require_labels(const Problem& p, const py::object& labels) {
  if (!p.needs_labels.empty() && labels.is_none()) throw InvalidArgument(p.needs_labels);
}

SamplerOptions sampler_options(const py::kwargs& options) {
  SamplerOptions o;
  for (const auto& [key, value] : options) {
    const std::string name = key.cast<std::string>();
    if (py::isinstance<py::bool_>(value)) {
      throw InvalidArgument(fmt::format("option {}: a bool is not a sampler option value", name));
    } else if (py::isinstance<py::float_>(value) || py::isinstance<py::int_>(value)) {
      o.set(name, py::repr(value).cast<std::string>());
    } else if (py::isinstance<py::str>(value)) {
      o.set(name, value.cast<std::string>());
    } else {
      throw InvalidArgument(fmt::format("option {}: expected a number or a str, got {}", name,
                                        py::repr(py::type::of(value)).cast<std::string>()));
    }
  }
  return o;
}

}  // namespace tweedie::python
