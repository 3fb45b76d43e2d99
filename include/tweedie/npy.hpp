// NumPy .npy files (float32/float64, C order, little-endian) and CSV, written atomically.
#pragma once

#include <tweedie/types.hpp>

#include <span>
#include <string>
#include <vector>

namespace tweedie {

/// An array read from a .npy file, as doubles in C order.
struct NpyArray {
  std::vector<std::size_t> shape;
  std::vector<double> values;
  bool float32 = false;  ///< the file stored '<f4'
};

/// Reads a .npy file of dtype '<f8' or '<f4' in C order. Anything else (Fortran order, another
/// dtype, a truncated file, a bad header) is refused with InvalidArgument naming the file.
NpyArray read_npy(const std::string& path);
/// A 2-D array as a matrix (rows = samples). `what` names the array in messages.
Matrix read_npy_matrix(const std::string& path, const std::string& what = "array");
/// A 1-D array (or an (n, 1) column) as a vector of numbers.
std::vector<double> read_npy_vector(const std::string& path, const std::string& what = "array");

/// Writes float64 C-order .npy of shape (rows, cols), or (n,) for a vector. The file appears
/// only complete: it is written to a temporary file in the same folder, then renamed.
void write_npy(const std::string& path, const ConstMatrixRef& m);
void write_npy(const std::string& path, std::span<const double> v);
/// Comma-separated values with 17 significant digits (round-trips doubles), atomically.
void write_csv(const std::string& path, const ConstMatrixRef& m);
/// .csv when the name ends in ".csv", .npy otherwise.
void write_matrix(const std::string& path, const ConstMatrixRef& m);

}  // namespace tweedie
