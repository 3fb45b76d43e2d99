// numpy arrays in and out of the library without copies where the layout allows.
#pragma once

#include <tweedie/types.hpp>

#include <pybind11/numpy.h>

#include <optional>
#include <string>
#include <vector>

namespace tweedie::python {

/// A C-contiguous float64 array: the caller's own when it already is one (no copy), else a
/// converted copy (pybind11's forcecast).
using RowsArray = pybind11::array_t<double, pybind11::array::c_style | pybind11::array::forcecast>;

/// The (n, d) array `a` as the library's row-major matrix, viewing its memory (no copy). `what`
/// names the argument in the InvalidArgument thrown when it is not two-dimensional.
Eigen::Map<const Matrix> rows_view(const RowsArray& a, const std::string& what);
/// The one-dimensional array `a` as a vector, viewing its memory.
Eigen::Map<const Vector> vector_view(const RowsArray& a, const std::string& what);

/// An array that owns `m`'s buffer (moved, not copied): its base is a capsule that frees it.
pybind11::array_t<double> to_numpy(Matrix&& m);
pybind11::array_t<double> to_numpy(Vector&& v);
pybind11::array_t<double> to_numpy(Eigen::RowVectorXd&& v);
pybind11::array_t<double> to_numpy(Eigen::MatrixXd&& m);  ///< column-major: its transpose's layout, so copied
/// A read-only array viewing `m`'s memory (no copy), valid while `m` is; `base` (not null) becomes
/// its base object.
pybind11::array_t<double> view_numpy(const ConstMatrixRef& m, pybind11::handle base);
pybind11::array_t<double> view_numpy(const ConstVectorRef& v, pybind11::handle base);

/// Class labels as the drivers take them: None (none), one int (every sample) or one per sample
/// (`n` of them, integers).
std::vector<int> labels_arg(const pybind11::object& labels, std::size_t n);

}  // namespace tweedie::python
