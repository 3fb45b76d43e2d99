// Score models: the common interface, the safetensors networks (MlpModel) and, when tweedie::torch
// is built, TorchScript modules.
#include "bindings.hpp"
#include "arrays.hpp"
#include "problem.hpp"

#include <tweedie/mlp_model.hpp>
#if TWEEDIE_WITH_TORCH
#include <tweedie/torchscript_model.hpp>
#endif

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
      .def(
          "evaluate",
          [](const ScoreModel& s, const RowsArray& t, const RowsArray& x, const py::object& labels) {
            const auto rows = rows_view(x, "x");
            const auto times = vector_view(t, "t");
            if (times.size() != rows.rows()) {
              throw InvalidArgument(fmt::format("t has {} times for {} rows", times.size(), rows.rows()));
            }
            const std::vector<int> y = labels_arg(labels, static_cast<std::size_t>(rows.rows()));
            Matrix out(rows.rows(), rows.cols());
            {
              py::gil_scoped_release release;
              s.evaluate(ModelInput{times, rows, {}, y}, out);
            }
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
      .def_property_readonly("sde", [](const std::shared_ptr<MlpModel>& s) {
        return std::shared_ptr<Sde>(s, const_cast<Sde*>(&s->sde()));  // lives as long as the model
      });

#if TWEEDIE_WITH_TORCH
  py::class_<TorchScriptModel, ScoreModel, std::shared_ptr<TorchScriptModel>>(
      m, "TorchScriptModel",
      "A TorchScript module through libtorch (docs/models.md): conventions from its attributes, or these arguments")
      .def(py::init([](const std::string& path, const std::optional<std::string>& prediction,
                       const std::optional<std::string>& sde, const std::optional<std::string>& time_input,
                       std::optional<double> time_scale, std::optional<double> time_shift,
                       std::optional<Eigen::Index> dim, std::optional<int> classes, std::optional<int> null_class) {
             TorchScriptOptions o;
             if (prediction) o.prediction = prediction_from_string(*prediction);
             if (sde) o.sde = family_spec(*sde);
             if (time_input) o.time_input = time_input_from_string(*time_input);
             o.time_scale = time_scale;
             o.time_shift = time_shift;
             o.dim = dim;
             o.classes = classes;
             o.null_class = null_class;
             return std::make_shared<TorchScriptModel>(path, o);
           }),
           py::arg("path"), py::kw_only(), py::arg("prediction") = py::none(), py::arg("sde") = py::none(),
           py::arg("time_input") = py::none(), py::arg("time_scale") = py::none(), py::arg("time_shift") = py::none(),
           py::arg("dim") = py::none(), py::arg("classes") = py::none(), py::arg("null_class") = py::none())
      .def_property_readonly("dtype", &TorchScriptModel::dtype);
  m.attr("has_torch") = true;
#else
  m.attr("has_torch") = false;
#endif
}

}  // namespace tweedie::python
