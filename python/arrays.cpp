#include "arrays.hpp"

#include <fmt/format.h>

#include <utility>

namespace py = pybind11;

namespace tweedie::python {
namespace {

template <class Owned>
py::array_t<double> owning_array(Owned&& value, std::vector<py::ssize_t> shape) {
  auto* owned = new Owned(std::move(value));  // the same buffer: Eigen moves its pointer
  py::capsule free_it(owned, [](void* p) { delete static_cast<Owned*>(p); });
  std::vector<py::ssize_t> strides(shape.size(), sizeof(double));
  if (shape.size() == 2) strides[0] = static_cast<py::ssize_t>(sizeof(double)) * shape[1];
  return py::array_t<double>(std::move(shape), std::move(strides), owned->data(), free_it);
}

}  // namespace

Eigen::Map<const Matrix> rows_view(const RowsArray& a, const std::string& what) {
  if (a.ndim() != 2) {
    throw InvalidArgument(fmt::format("{} must be a two-dimensional array (n, d), got {} dimensions", what, a.ndim()));
  }
  return {a.data(), a.shape(0), a.shape(1)};
}

Eigen::Map<const Vector> vector_view(const RowsArray& a, const std::string& what) {
  if (a.ndim() != 1) {
    throw InvalidArgument(fmt::format("{} must be a one-dimensional array, got {} dimensions", what, a.ndim()));
  }
  return {a.data(), a.shape(0)};
}

py::array_t<double> to_numpy(Matrix&& m) {
  const std::vector<py::ssize_t> shape{m.rows(), m.cols()};
  return owning_array(std::move(m), shape);
}
py::array_t<double> to_numpy(Vector&& v) {
  const std::vector<py::ssize_t> shape{v.size()};
  return owning_array(std::move(v), shape);
}
py::array_t<double> to_numpy(Eigen::RowVectorXd&& v) {
  const std::vector<py::ssize_t> shape{v.size()};
  return owning_array(std::move(v), shape);
}
py::array_t<double> to_numpy(Eigen::MatrixXd&& m) { return to_numpy(Matrix(m)); }

py::array_t<double> view_numpy(const ConstMatrixRef& m, py::handle base) {
  py::array_t<double> a({m.rows(), m.cols()},
                        {static_cast<py::ssize_t>(sizeof(double)) * m.outerStride(),
                         static_cast<py::ssize_t>(sizeof(double))},
                        m.data(), base);
  a.attr("setflags")(py::arg("write") = false);
  return a;
}

py::array_t<double> view_numpy(const ConstVectorRef& v, py::handle base) {
  py::array_t<double> a({v.size()}, {static_cast<py::ssize_t>(sizeof(double)) * v.innerStride()}, v.data(), base);
  a.attr("setflags")(py::arg("write") = false);
  return a;
}

std::vector<int> labels_arg(const py::object& labels, std::size_t n) {
  if (labels.is_none()) return {};
  if (py::isinstance<py::int_>(labels)) return std::vector<int>(n, labels.cast<int>());
  std::vector<int> out;
  try {
    out = labels.cast<std::vector<int>>();
  } catch (const py::cast_error&) {
    throw InvalidArgument("labels must be an int or a sequence of ints, one per sample");
  }
  if (out.size() != n) throw InvalidArgument(fmt::format("labels has {} labels for {} samples", out.size(), n));
  return out;
}

}  // namespace tweedie::python
