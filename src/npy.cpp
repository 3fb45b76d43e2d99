#include <tweedie/npy.hpp>

#include "npy_header.hpp"
#include "output_file.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <fstream>

namespace tweedie {
namespace {

static_assert(std::endian::native == std::endian::little, "tweedie's .npy I/O assumes little-endian");

[[noreturn]] void refuse(const std::string& path, const std::string& why) {
  throw InvalidArgument(fmt::format("{}: {}", path, why));
}

template <class T>
T load(const unsigned char* p, bool swap) {
  std::array<unsigned char, sizeof(T)> b;
  std::memcpy(b.data(), p, sizeof(T));
  if (swap) std::reverse(b.begin(), b.end());
  return std::bit_cast<T>(b);
}

// Converts `count` elements of `dtype` at `p` to doubles; integers must be exactly representable.
void convert(const unsigned char* p, std::size_t count, const detail::NpyDtype& dtype, double* out,
             std::size_t first_index, const std::string& path) {
  const bool swap = dtype.big_endian && dtype.size > 1;
  auto inexact = [&](std::size_t k, auto v) {
    refuse(path, fmt::format("element {} = {} is not exactly representable as a double (integers "
                             "beyond 2^53 lose digits)", first_index + k, v));
  };
  for (std::size_t k = 0; k < count; ++k, p += dtype.size) {
    switch (dtype.kind * 16 + static_cast<int>(dtype.size)) {
      case 'f' * 16 + 8: out[k] = load<double>(p, swap); break;
      case 'f' * 16 + 4: out[k] = static_cast<double>(load<float>(p, swap)); break;
      case 'b' * 16 + 1: out[k] = *p ? 1.0 : 0.0; break;
      case 'i' * 16 + 1: out[k] = load<std::int8_t>(p, swap); break;
      case 'u' * 16 + 1: out[k] = load<std::uint8_t>(p, swap); break;
      case 'i' * 16 + 2: out[k] = load<std::int16_t>(p, swap); break;
      case 'u' * 16 + 2: out[k] = load<std::uint16_t>(p, swap); break;
      case 'i' * 16 + 4: out[k] = load<std::int32_t>(p, swap); break;
      case 'u' * 16 + 4: out[k] = load<std::uint32_t>(p, swap); break;
      case 'i' * 16 + 8: {
        const auto v = load<std::int64_t>(p, swap);
        const auto d = static_cast<double>(v);
        if (d >= 0x1p63 || static_cast<std::int64_t>(d) != v) inexact(k, v);
        out[k] = d;
        break;
      }
      case 'u' * 16 + 8: {
        const auto v = load<std::uint64_t>(p, swap);
        const auto d = static_cast<double>(v);
        if (d >= 0x1p64 || static_cast<std::uint64_t>(d) != v) inexact(k, v);
        out[k] = d;
        break;
      }
      default: refuse(path, "unsupported dtype");  // parse_npy_descr admits only the cases above
    }
  }
}

// C order from Fortran order: element (i0, ..., ik) is at sum_j i_j prod_{l<j} shape_l in `f`.
std::vector<double> to_c_order(const std::vector<double>& f, const std::vector<std::size_t>& shape) {
  const std::size_t n = shape.size();
  std::vector<std::size_t> c_stride(n, 1), index(n, 0);
  for (std::size_t k = n; k-- > 1;) c_stride[k - 1] = c_stride[k] * shape[k];
  std::vector<double> c(f.size());
  std::size_t offset = 0;  // C offset of `index`, which runs through the file in Fortran order
  for (const double v : f) {
    c[offset] = v;
    for (std::size_t k = 0; k < n; ++k) {  // odometer, first index fastest
      offset += c_stride[k];
      if (++index[k] < shape[k]) break;
      offset -= c_stride[k] * shape[k];
      index[k] = 0;
    }
  }
  return c;
}

void write_npy_data(const std::string& path, const std::string& shape, std::size_t rows,
                    const std::function<const double*(std::size_t, double*)>& row, std::size_t cols) {
  std::string header = fmt::format("{{'descr': '<f8', 'fortran_order': False, 'shape': {}, }}", shape);
  // magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64 bytes.
  const std::size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  detail::write_output_file(path, [&](detail::OutputSink& out) {
    const unsigned char magic[8] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
    out.write(magic, 8);
    const auto len = static_cast<std::uint16_t>(header.size());
    out.write(&len, 2);
    out.write(header.data(), header.size());
    std::vector<double> scratch(cols);
    for (std::size_t i = 0; i < rows; ++i) out.write(row(i, scratch.data()), cols * sizeof(double));
  });
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

NpyArray read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) refuse(path, "cannot open the file");
  in.seekg(0, std::ios::end);
  const auto end = in.tellg();
  if (end < 0) refuse(path, "cannot read the file's size (not a regular file?)");
  const auto file_size = static_cast<std::size_t>(end);
  in.seekg(0);
  char magic[8];
  if (!in.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0) {
    refuse(path, "not a .npy file (bad magic string)");
  }
  const int major = static_cast<unsigned char>(magic[6]);
  std::size_t header_len = 0, prefix = 0;
  if (major == 1) {
    unsigned char b[2];
    if (!in.read(reinterpret_cast<char*>(b), 2)) refuse(path, "truncated header");
    header_len = b[0] | (static_cast<std::size_t>(b[1]) << 8);
    prefix = 10;
  } else if (major == 2 || major == 3) {
    unsigned char b[4];
    if (!in.read(reinterpret_cast<char*>(b), 4)) refuse(path, "truncated header");
    header_len = b[0] | (static_cast<std::size_t>(b[1]) << 8) | (static_cast<std::size_t>(b[2]) << 16) |
                 (static_cast<std::size_t>(b[3]) << 24);
    prefix = 12;
  } else {
    refuse(path, fmt::format("unsupported .npy format version {}", major));
  }
  if (header_len > file_size - prefix) {  // checked before allocating anything of that size
    refuse(path, fmt::format("truncated header: it announces {} bytes, the file has {} after the prefix",
                             header_len, file_size - prefix));
  }
  std::string text(header_len, '\0');
  if (!in.read(text.data(), static_cast<std::streamsize>(header_len))) refuse(path, "truncated header");
  const detail::NpyHeader h = detail::parse_npy_header(text, path);

  const std::size_t available = file_size - prefix - header_len, item = h.dtype.size;
  std::size_t count = 1;
  for (const std::size_t dim : h.shape) {
    if (dim != 0 && count > available / item / dim) {
      refuse(path, fmt::format("truncated data: the shape needs more than the {} bytes present", available));
    }
    count *= dim;
  }
  if (count * item > available) {
    refuse(path, fmt::format("truncated data: expected {} values of {} bytes, the file has {} bytes",
                             count, item, available));
  }
  NpyArray a;
  a.shape = h.shape;
  a.descr = h.descr;
  a.float32 = h.dtype.kind == 'f' && h.dtype.size == 4;
  a.values.resize(count);
  const bool raw_doubles = h.dtype.kind == 'f' && h.dtype.size == 8 && !h.dtype.big_endian;
  if (raw_doubles) {
    if (!in.read(reinterpret_cast<char*>(a.values.data()), static_cast<std::streamsize>(count * 8))) {
      refuse(path, fmt::format("truncated data: expected {} float64 values", count));
    }
  } else {  // converted in blocks, so the raw bytes never need a second copy of the array
    constexpr std::size_t block = 1 << 16;
    std::vector<unsigned char> raw(std::min(count, block) * item);
    for (std::size_t done = 0; done < count;) {
      const std::size_t n = std::min(block, count - done);
      if (!in.read(reinterpret_cast<char*>(raw.data()), static_cast<std::streamsize>(n * item))) {
        refuse(path, fmt::format("truncated data: expected {} values of dtype '{}'", count, h.descr));
      }
      convert(raw.data(), n, h.dtype, a.values.data() + done, done, path);
      done += n;
    }
  }
  if (h.fortran_order && h.shape.size() > 1) a.values = to_c_order(a.values, a.shape);
  return a;
}

Matrix read_npy_matrix(const std::string& path, const std::string& what) {
  NpyArray a = read_npy(path);
  if (a.shape.size() != 2) {
    refuse(path, fmt::format("{} must be 2-D (samples x dimension), got {} dimension(s)", what,
                             a.shape.size()));
  }
  const auto rows = static_cast<Eigen::Index>(a.shape[0]), cols = static_cast<Eigen::Index>(a.shape[1]);
  return Eigen::Map<const Matrix>(a.values.data(), rows, cols);
}

std::vector<double> read_npy_vector(const std::string& path, const std::string& what) {
  NpyArray a = read_npy(path);
  const bool column = a.shape.size() == 2 && a.shape[1] == 1;
  if (a.shape.size() != 1 && !column) {
    refuse(path, fmt::format("{} must be 1-D, got {} dimension(s)", what, a.shape.size()));
  }
  return std::move(a.values);
}

void write_npy(const std::string& path, const ConstMatrixRef& m) {
  const std::size_t shape[] = {static_cast<std::size_t>(m.rows()), static_cast<std::size_t>(m.cols())};
  write_npy(path, m, shape);
}

void write_npy(const std::string& path, const ConstMatrixRef& m, std::span<const std::size_t> shape) {
  const auto cols = static_cast<std::size_t>(m.cols());
  std::size_t values = 1;
  for (const std::size_t s : shape) values *= s;
  if (shape.size() < 2 || shape.back() != cols || values != static_cast<std::size_t>(m.size())) {
    throw InvalidArgument(fmt::format("cannot write '{}': shape ({}) does not hold a {} x {} matrix", path,
                                      fmt::join(shape, ", "), m.rows(), m.cols()));
  }
  // "(n, d)", "(s, n, d)": Python's tuple syntax (a 1-tuple is written by the vector overload).
  const std::string text = fmt::format("({})", fmt::join(shape, ", "));
  // Row by row from the caller's storage: no copy of the whole matrix.
  write_npy_data(path, text, static_cast<std::size_t>(m.rows()),
                 [&](std::size_t i, double* scratch) -> const double* {
                   const auto r = static_cast<Eigen::Index>(i);
                   if (m.innerStride() == 1) return m.row(r).data();
                   for (std::size_t j = 0; j < cols; ++j) scratch[j] = m(r, static_cast<Eigen::Index>(j));
                   return scratch;
                 },
                 cols);
}

void write_npy(const std::string& path, std::span<const double> v) {
  write_npy_data(path, fmt::format("({},)", v.size()), v.empty() ? 0 : 1,
                 [&](std::size_t, double*) { return v.data(); }, v.size());
}

void write_csv(const std::string& path, const ConstMatrixRef& m) {
  detail::write_output_file(path, [&](detail::OutputSink& out) {
    std::string line;
    for (Eigen::Index i = 0; i < m.rows(); ++i) {
      line.clear();
      for (Eigen::Index j = 0; j < m.cols(); ++j) {
        if (j) line += ',';
        line += fmt::format("{:.17g}", m(i, j));
      }
      line += '\n';
      out.write(line.data(), line.size());
    }
  });
}

void write_matrix(const std::string& path, const ConstMatrixRef& m) {
  if (ends_with(path, ".csv")) return write_csv(path, m);
  if (ends_with(path, ".npy") || detail::is_special_file(path)) return write_npy(path, m);
  const auto dot = path.rfind('.');
  const auto slash = path.rfind('/');
  const bool has_ext = dot != std::string::npos && (slash == std::string::npos || dot > slash);
  throw InvalidArgument(fmt::format("cannot write '{}': {} (expected .npy or .csv, or '-' for standard output)",
                                    path, has_ext ? fmt::format("unknown extension '{}'", path.substr(dot))
                                                  : std::string("no extension")));
}

}  // namespace tweedie
