#include <tweedie/npy.hpp>

#include <fmt/format.h>

#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <regex>

namespace tweedie {
namespace {

static_assert(std::endian::native == std::endian::little, "tweedie's .npy I/O assumes little-endian");

[[noreturn]] void refuse(const std::string& path, const std::string& why) {
  throw InvalidArgument(fmt::format("{}: {}", path, why));
}

// Writes through `fill` into a temporary file next to `path`, then renames it over `path`.
void write_atomically(const std::string& path, const std::function<void(std::FILE*)>& fill) {
  std::string tmp = path + ".tmp-XXXXXX";
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0) {
    throw InvalidArgument(fmt::format("cannot write '{}': {}", path, std::strerror(errno)));
  }
  std::FILE* f = ::fdopen(fd, "wb");
  if (!f) {
    ::close(fd);
    std::remove(tmp.c_str());
    throw InvalidArgument(fmt::format("cannot write '{}'", path));
  }
  try {
    fill(f);
  } catch (...) {
    std::fclose(f);
    std::remove(tmp.c_str());
    throw;
  }
  const bool ok = std::fflush(f) == 0 && ::fsync(::fileno(f)) == 0;
  const bool closed = std::fclose(f) == 0;
  if (!ok || !closed || std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    std::remove(tmp.c_str());
    throw InvalidArgument(fmt::format("cannot write '{}': {}", path, why));
  }
}

void put(std::FILE* f, const void* data, std::size_t bytes) {
  if (bytes && std::fwrite(data, 1, bytes, f) != bytes) throw std::runtime_error("write failed");
}

void write_npy_data(const std::string& path, const std::string& shape, const double* data,
                    std::size_t count) {
  std::string header = fmt::format("{{'descr': '<f8', 'fortran_order': False, 'shape': {}, }}", shape);
  // magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64 bytes.
  const std::size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  write_atomically(path, [&](std::FILE* f) {
    const unsigned char magic[8] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
    put(f, magic, 8);
    const auto len = static_cast<std::uint16_t>(header.size());
    put(f, &len, 2);
    put(f, header.data(), header.size());
    put(f, data, count * sizeof(double));
  });
}

}  // namespace

NpyArray read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) refuse(path, "cannot open the file");
  char magic[8];
  if (!in.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0) {
    refuse(path, "not a .npy file (bad magic string)");
  }
  const int major = static_cast<unsigned char>(magic[6]);
  std::size_t header_len = 0;
  if (major == 1) {
    unsigned char b[2];
    if (!in.read(reinterpret_cast<char*>(b), 2)) refuse(path, "truncated header");
    header_len = b[0] | (static_cast<std::size_t>(b[1]) << 8);
  } else if (major == 2 || major == 3) {
    unsigned char b[4];
    if (!in.read(reinterpret_cast<char*>(b), 4)) refuse(path, "truncated header");
    header_len = b[0] | (static_cast<std::size_t>(b[1]) << 8) | (static_cast<std::size_t>(b[2]) << 16) |
                 (static_cast<std::size_t>(b[3]) << 24);
  } else {
    refuse(path, fmt::format("unsupported .npy format version {}", major));
  }
  std::string header(header_len, '\0');
  if (!in.read(header.data(), static_cast<std::streamsize>(header_len))) {
    refuse(path, "truncated header");
  }
  std::smatch m;
  if (!std::regex_search(header, m, std::regex(R"('descr'\s*:\s*'([^']*)')"))) {
    refuse(path, "header has no 'descr'");
  }
  NpyArray a;
  const std::string descr = m[1];
  if (descr == "<f8") {
    a.float32 = false;
  } else if (descr == "<f4") {
    a.float32 = true;
  } else {
    refuse(path, fmt::format("dtype '{}' is not supported (expected little-endian float64 '<f8' or "
                             "float32 '<f4')", descr));
  }
  if (!std::regex_search(header, m, std::regex(R"('fortran_order'\s*:\s*(True|False))"))) {
    refuse(path, "header has no 'fortran_order'");
  }
  if (m[1] == "True") refuse(path, "Fortran-order arrays are not supported (save in C order)");
  if (!std::regex_search(header, m, std::regex(R"('shape'\s*:\s*\(([^)]*)\))"))) {
    refuse(path, "header has no 'shape'");
  }
  const std::string dims = m[1];
  std::size_t count = 1;
  const std::size_t item = a.float32 ? 4 : 8;
  const auto data_start = in.tellg();
  in.seekg(0, std::ios::end);
  const auto available = static_cast<std::size_t>(in.tellg() - data_start);
  in.seekg(data_start);
  const std::regex number(R"(\d+)");
  for (std::sregex_iterator it(dims.begin(), dims.end(), number), end; it != end; ++it) {
    std::size_t dim = 0;
    try {
      dim = std::stoull(it->str());
    } catch (const std::exception&) {
      refuse(path, fmt::format("shape entry '{}' is too large", it->str()));
    }
    a.shape.push_back(dim);
    if (dim != 0 && count > available / item / dim) {
      refuse(path, fmt::format("truncated data: the shape ({}) needs more than the {} bytes present",
                               dims, available));
    }
    count *= dim;
  }
  if (count * item > available) {
    refuse(path, fmt::format("truncated data: expected {} values of {} bytes, the file has {} bytes",
                             count, item, available));
  }
  a.values.resize(count);
  if (a.float32) {
    std::vector<float> raw(count);
    if (!in.read(reinterpret_cast<char*>(raw.data()), static_cast<std::streamsize>(count * 4))) {
      refuse(path, fmt::format("truncated data: expected {} float32 values", count));
    }
    std::copy(raw.begin(), raw.end(), a.values.begin());
  } else if (!in.read(reinterpret_cast<char*>(a.values.data()),
                      static_cast<std::streamsize>(count * 8))) {
    refuse(path, fmt::format("truncated data: expected {} float64 values", count));
  }
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
  const Matrix dense = m;  // row-major, contiguous
  write_npy_data(path, fmt::format("({}, {})", m.rows(), m.cols()), dense.data(),
                 static_cast<std::size_t>(dense.size()));
}

void write_npy(const std::string& path, std::span<const double> v) {
  write_npy_data(path, fmt::format("({},)", v.size()), v.data(), v.size());
}

void write_csv(const std::string& path, const ConstMatrixRef& m) {
  write_atomically(path, [&](std::FILE* f) {
    for (Eigen::Index i = 0; i < m.rows(); ++i) {
      std::string line;
      for (Eigen::Index j = 0; j < m.cols(); ++j) {
        if (j) line += ',';
        line += fmt::format("{:.17g}", m(i, j));
      }
      line += '\n';
      put(f, line.data(), line.size());
    }
  });
}

void write_matrix(const std::string& path, const ConstMatrixRef& m) {
  if (path.size() >= 4 && path.compare(path.size() - 4, 4, ".csv") == 0) {
    write_csv(path, m);
  } else {
    write_npy(path, m);
  }
}

}  // namespace tweedie
