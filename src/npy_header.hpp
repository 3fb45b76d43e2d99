// The header of a .npy file: a Python dict literal, parsed by hand in one bounded pass (no regex:
// std::regex backtracks recursively and overflowed the stack on a 26,000-character field).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tweedie::detail {

/// The element type of a .npy array, from its 'descr'.
struct NpyDtype {
  char kind = 'f';          ///< 'f' float, 'i' signed integer, 'u' unsigned integer, 'b' bool
  std::size_t size = 8;     ///< bytes per element
  bool big_endian = false;  ///< '>' (bytes to swap on this little-endian machine)
};

struct NpyHeader {
  std::string descr;
  NpyDtype dtype;
  bool fortran_order = false;
  std::vector<std::size_t> shape;
};

/// The most dimensions a header may declare (numpy's NPY_MAXDIMS).
inline constexpr std::size_t npy_max_dims = 64;

/// Parses the header dictionary {'descr': ..., 'fortran_order': ..., 'shape': (...)}. Keys may
/// come in any order; each must appear exactly once and no other key is allowed. Throws
/// InvalidArgument "<path>: <what is wrong>", quoting at most a few characters of the header.
NpyHeader parse_npy_header(std::string_view header, const std::string& path);

/// The dtype named by a descr such as '<f8', '|u1', '>i4'; throws InvalidArgument naming the
/// supported ones otherwise.
NpyDtype parse_npy_descr(std::string_view descr, const std::string& path);

}  // namespace tweedie::detail
