// Score models: the common interface, the exact models of mixtures under a family and the
// safetensors networks (MlpModel). TorchScript modules are in the extension tweedie._torch
// (torch/torch_models.cpp), loaded only when used.
#include "bindings.hpp"
#include "arrays.hpp"
#include "problem.hpp"

#include "decorators.hpp"
#include "family_model.hpp"

#include <tweedie/mlp_model.hpp>

#include <pybind11/stl.h>

#include <fmt/format.h>

namespace py = pybind11;

namespace tweedie::python {

void bind_models(py::module_& m) {
  py::class_<ScoreModel, std::shared_ptr<ScoreModel>>(
      m, "ScoreModel", "A model of the score in one of four parameterisations (score, noise, data, velocity)")
      .def_property_readonly("prediction", [](const ScoreModel& s) { return std::string(to_string(s.prediction())); })
      .def_property_readonly("dim", &ScoreModel::dim, "dimension of a sample (0: any)")
      .def_property_readonly("classes", [](const ScoreModel& s) { return s.conditioning().classes; })
      .def_property_readonly("null_class", [](const ScoreModel& s) { return s.conditioning().null_class; })
      .def_property_readonly("batch_invariant", &ScoreModel::batch_invariant)
      .def_property_readonly("has_jvp", &ScoreModel::has_jvp)
      .def_property_readonly("has_vjp", &ScoreModel::has_vjp)
      .def_property_readonly("has_divergence", &ScoreModel::has_divergence)
      .def_property_readonly(
          "decorators", [](const ScoreModel& s) { return decorator_lines(s); },
          "the decorators from the outermost inwards, one line each (tweedie info's list)")
      .def(
          "evaluate",
          [](const ScoreModel& s, const RowsArray& t, const RowsArray& x, const py::object& labels) {
            const auto rows = rows_view(x, "x");
            const auto times = vector_view(t, "t");
            if (times.size() != rows.rows()) {
              throw InvalidArgument(fmt::format("t has {} times for {} rows", times.size(), rows.rows()));
            }
            const std::vector<int> y = labels_arg(labels, static_cast<std::size_t>(rows.rows()));
            Matrix out = without_gil([&] {
              Matrix result(rows.rows(), rows.cols());
              s.evaluate(ModelInput{times, rows, {}, y}, result);
              return result;
            });
            return to_numpy(std::move(out));
          },
          py::arg("t"), py::arg("x"), py::arg("labels") = py::none(),
          "The model's output at each row (x.row(i), t[i]), in its own parameterisation");

  py::class_<MlpModel, ScoreModel, std::shared_ptr<MlpModel>>(
      m, "MlpModel", "A tweedie.mlp network from a safetensors file; it carries the family it was trained with")
      .def_static(
          "load",
          [](const std::string& path, const std::string& precision) {
            return std::shared_ptr<MlpModel>(MlpModel::load(path, MlpOptions{precision_from_string(precision)}));
          },
          py::arg("path"), py::arg("precision") = "float64")
      .def_property_readonly("description", &MlpModel::description)
      .def_property_readonly("precision", [](const MlpModel& s) { return std::string(to_string(s.precision())); })
      .def_property_readonly(
          "sde",
          [](const std::shared_ptr<MlpModel>& s) {
            return std::shared_ptr<Sde>(s, const_cast<Sde*>(&s->sde()));  // lives as long as the model
          },
          "the family it was trained with");

  py::class_<FamilyModel, ScoreModel, std::shared_ptr<FamilyModel>>(
      m, "FamilyModel", "A model defined in one family (GaussianMixture.model): the drivers sample in it")
      .def_property_readonly("sde", [](const FamilyModel& f) { return std::const_pointer_cast<Sde>(f.sde()); });
}

}  // namespace tweedie::python
