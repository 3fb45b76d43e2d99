// NumPy .npy files (floats, integers and booleans, either order and byte order) and CSV, written
// so that a failure or a kill never damages the file they replace.
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
  bool float32 = false;  ///< the file stored float32 ('<f4' or '>f4')
  std::string descr;     ///< the file's dtype as written, e.g. '<f8', '|u1'
};

/// Reads a .npy file (format versions 1-3) of dtype float64/float32, signed or unsigned integers of
/// 1, 2, 4 or 8 bytes, or bool, little- or big-endian, in C or Fortran order; the values come
/// back as doubles in C order. Integers are converted exactly: one beyond 2^53 that a double
/// cannot hold is refused, naming its index. Anything else (another dtype, negative or
/// non-integer shape entries, a header or data longer than the file, a malformed header) is
/// refused with InvalidArgument naming the file, before allocating what the header announces.
NpyArray read_npy(const std::string& path);
/// A 2-D array as a matrix (rows = samples). `what` names the array in messages.
Matrix read_npy_matrix(const std::string& path, const std::string& what = "array");
/// A 1-D array (or an (n, 1) column) as a vector of numbers.
std::vector<double> read_npy_vector(const std::string& path, const std::string& what = "array");

/// Writes float64 C-order .npy of shape (rows, cols), or (n,) for a vector, row by row from `m`
/// (no copy). The file appears only complete (see write_output_file in src/output_file.hpp):
/// '-' is standard output; a symbolic link is followed and its target replaced atomically; a
/// device or FIFO is written in place; a new file gets 0666 minus the umask, a replaced file keeps
/// its mode and owner. Errors throw InvalidArgument "cannot write '<path>': <reason>".
void write_npy(const std::string& path, const ConstMatrixRef& m);
void write_npy(const std::string& path, std::span<const double> v);
/// The same for an array of two or more dimensions whose last entry is rows.cols(): the rows of `rows`, in
/// order, are its C-order rows (a (steps, n, d) stack is steps * n rows of d). Throws
/// InvalidArgument when the shape does not hold exactly those values.
void write_npy(const std::string& path, const ConstMatrixRef& rows, std::span<const std::size_t> shape);
/// Comma-separated values with 17 significant digits (round-trips doubles), written as write_npy.
void write_csv(const std::string& path, const ConstMatrixRef& m);
/// .csv for names ending in ".csv"; .npy for ".npy", '-' (standard output) and existing devices or
/// FIFOs; any other name is refused (an unknown extension is not given .npy bytes).
void write_matrix(const std::string& path, const ConstMatrixRef& m);

}  // namespace tweedie
