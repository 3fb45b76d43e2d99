#include "python_model.hpp"

#include "arrays.hpp"
#include "bindings.hpp"
#include "problem.hpp"

#include <pybind11/stl.h>

#include <fmt/format.h>

namespace py = pybind11;

namespace tweedie::python {

PythonModel::PythonModel(py::object fn, Prediction prediction, Eigen::Index dim, Conditioning conditioning,
                         bool batch_invariant, std::shared_ptr<const Sde> sde, py::object jvp)
    : fn_(std::move(fn)), jvp_(std::move(jvp)), prediction_(prediction), dim_(dim), conditioning_(conditioning),
      batch_invariant_(batch_invariant), sde_(std::move(sde)) {
  if (!PyCallable_Check(fn_.ptr())) throw InvalidArgument("PythonModel: fn must be callable");
  if (!jvp_.is_none() && !PyCallable_Check(jvp_.ptr())) throw InvalidArgument("PythonModel: jvp must be callable");
  if (dim_ < 0) throw InvalidArgument(fmt::format("PythonModel: dim must be >= 0, got {}", dim_));
}

PythonModel::~PythonModel() {
  py::gil_scoped_acquire gil;
  fn_ = py::object();
  jvp_ = py::object();
}

void PythonModel::evaluate(const ModelInput& in, MatrixRef out) const { call(fn_, "fn", in, nullptr, out); }

void PythonModel::jvp(const ModelInput& in, const ConstMatrixRef& v, MatrixRef out) const {
  if (!has_jvp()) ScoreModel::jvp(in, v, out);  // the library's message
  call(jvp_, "jvp", in, &v, out);
}

void PythonModel::call(const py::object& fn, const char* name, const ModelInput& in, const ConstMatrixRef* v,
                       MatrixRef out) const {
  py::gil_scoped_acquire gil;
  // The views' base: an empty capsule (a view needs one, or numpy copies), owning nothing.
  const py::capsule base(const_cast<double*>(in.x.data()), [](void*) {});
  py::list args;
  args.append(view_numpy(in.x, base));
  args.append(view_numpy(in.t, base));
  if (v) args.append(view_numpy(*v, base));
  if (conditioning_.conditional()) {
    py::array_t<int> labels(static_cast<py::ssize_t>(in.rows()));
    for (Eigen::Index i = 0; i < in.rows(); ++i) labels.mutable_data()[i] = in.label(i, conditioning_.null_class);
    args.append(labels);
  }
  const py::object result = fn(*args);
  const auto a = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(result);
  if (!a || a.ndim() != 2 || a.shape(0) != in.rows() || a.shape(1) != in.x.cols()) {
    throw InvalidArgument(fmt::format("PythonModel: {} returned {} for {} rows of dimension {} (expected an array "
                                      "of shape ({}, {}))",
                                      name,
                                      py::repr(a ? py::object(a.attr("shape")) : py::type::of(result)).cast<std::string>(),
                                      in.rows(), in.x.cols(), in.rows(), in.x.cols()));
  }
  out = rows_view(a, "the model's output");
}

void bind_python_model(py::module_& m) {
  py::class_<PythonModel, ScoreModel, std::shared_ptr<PythonModel>>(
      m, "PythonModel",
      "A Python callable as a score model: fn(x, t) -> (n, d) (fn(x, t, labels) when classes > 0), called on "
      "whole chunks with the GIL taken only around the call. x and t are read-only views valid during the call. "
      "jvp(x, t, v[, labels]) -> J v, optional, gives the exact divergence of log_likelihood.")
      .def(py::init([](py::object fn, const std::string& prediction, Eigen::Index dim, int classes, int null_class,
                       bool batch_invariant, const py::object& sde, py::object jvp) {
             return std::make_shared<PythonModel>(std::move(fn), prediction_from_string(prediction), dim,
                                                  Conditioning{classes, null_class}, batch_invariant,
                                                  sde.is_none() ? nullptr : family_arg(sde), std::move(jvp));
           }),
           py::arg("fn"), py::kw_only(), py::arg("prediction") = "score", py::arg("dim") = 0, py::arg("classes") = 0,
           py::arg("null_class") = -1, py::arg("batch_invariant") = false, py::arg("sde") = py::none(),
           py::arg("jvp") = py::none())
      .def_property_readonly("sde", [](const PythonModel& p) { return std::const_pointer_cast<Sde>(p.sde()); },
                             "the family given at construction (None: the drivers' sde argument)");
}

}  // namespace tweedie::python
