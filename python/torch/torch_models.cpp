// The extension tweedie._torch: TorchScript modules through libtorch (tweedie::torch), apart from
// tweedie._tweedie so that `import tweedie` does not load libtorch; the package imports it on the
// first use of tweedie.TorchScriptModel. Debian's python3-torch loads this same libtorch.
#include <tweedie/model.hpp>
#include <tweedie/torchscript_model.hpp>

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <string>

namespace py = pybind11;

PYBIND11_MODULE(_torch, m) {
  using namespace tweedie;
  py::module_::import("tweedie._tweedie");  // ScoreModel, Sde and the exception translation
  py::class_<TorchScriptModel, ScoreModel, std::shared_ptr<TorchScriptModel>>(
      m, "TorchScriptModel",
      "A TorchScript module through libtorch (docs/models.md): its conventions from its attributes, or these "
      "arguments (an argument and an attribute that disagree are refused)")
      .def(py::init([](const std::string& path, const std::optional<std::string>& prediction,
                       const std::optional<std::string>& sde, const std::optional<std::string>& time_input,
                       std::optional<double> time_scale, std::optional<double> time_shift,
                       std::optional<Eigen::Index> dim, std::optional<int> classes, std::optional<int> null_class) {
             TorchScriptOptions o;
             if (prediction) o.prediction = prediction_from_string(*prediction);
             if (sde) {
               o.sde.emplace();
               o.sde->family = *sde;
             }
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
      .def_property_readonly("dtype", &TorchScriptModel::dtype, "float32 or float64: what the module computes in")
      .def_property_readonly(
          "sde",
          [](const TorchScriptModel& s) -> std::shared_ptr<Sde> {
            if (!s.sde_spec()) return nullptr;
            return make_sde(*s.sde_spec());
          },
          "the family the module names (None: the drivers' sde argument)");
}
