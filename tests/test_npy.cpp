// .npy and CSV files: round trips, the format's header, refusals, atomic writes.
#include "npy_util.hpp"
#include "test_util.hpp"

#include <tweedie/npy.hpp>

#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <span>
#include <sstream>
#include <string>
#include <vector>

using tweedie::InvalidArgument;
using tweedie::Matrix;
using tweedie::test::bitwise_equal;
using tweedie::test::write_raw_npy;
using tweedie::test::TempDir;
namespace fs = std::filesystem;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  return names;
}

Matrix awkward_values() {
  Matrix m(3, 4);
  m << 0.1, -0.0, 1e-310, 1.0 / 3.0,       //
      -2.5e300, 6.02214076e23, -1.0, 0.7,  //
      std::nextafter(1.0, 2.0), 123456789.123456789, -1e-5, 42.0;
  return m;
}

}  // namespace

TEST_CASE("write_npy then read_npy_matrix round-trips shape and bits") {
  TempDir dir;
  const Matrix m = awkward_values();
  tweedie::write_npy(dir.file("m.npy"), m);
  const Matrix back = tweedie::read_npy_matrix(dir.file("m.npy"));
  CHECK(bitwise_equal(back, m));

  const tweedie::NpyArray raw = tweedie::read_npy(dir.file("m.npy"));
  CHECK(raw.shape == std::vector<std::size_t>{3, 4});
  CHECK_FALSE(raw.float32);

  // A column-major source is written in C order (row i, column j at i * cols + j).
  const Eigen::MatrixXd col_major = m;
  tweedie::write_npy(dir.file("c.npy"), col_major);
  CHECK(bitwise_equal(tweedie::read_npy_matrix(dir.file("c.npy")), m));
}

TEST_CASE("write_npy writes a version 1.0 header that numpy reads") {
  // The .npy format: magic "\x93NUMPY", version 1.0, little-endian header length, a dict
  // literal ending in '\n' so that the data starts at a multiple of 64 bytes.
  TempDir dir;
  tweedie::write_npy(dir.file("m.npy"), Matrix::Zero(3, 2));
  const std::string bytes = slurp(dir.file("m.npy"));
  REQUIRE(bytes.size() >= 10);
  CHECK(bytes.compare(0, 8, std::string("\x93NUMPY\x01\x00", 8)) == 0);
  const std::size_t len = static_cast<unsigned char>(bytes[8]) |
                          (static_cast<std::size_t>(static_cast<unsigned char>(bytes[9])) << 8);
  CHECK((10 + len) % 64 == 0);
  CHECK(bytes.size() == 10 + len + 6 * sizeof(double));
  const std::string header = bytes.substr(10, len);
  CHECK(header.find("'descr': '<f8'") != std::string::npos);
  CHECK(header.find("'fortran_order': False") != std::string::npos);
  CHECK(header.find("'shape': (3, 2)") != std::string::npos);
  CHECK(header.back() == '\n');
}

TEST_CASE("1-D arrays round-trip through write_npy and read_npy_vector") {
  TempDir dir;
  const std::vector<double> v = {0.25, -1e-300, 3.0, std::nextafter(0.1, 1.0)};
  tweedie::write_npy(dir.file("v.npy"), std::span<const double>(v));
  CHECK(tweedie::read_npy(dir.file("v.npy")).shape == std::vector<std::size_t>{4});
  const std::vector<double> back = tweedie::read_npy_vector(dir.file("v.npy"));
  REQUIRE(back.size() == v.size());
  CHECK(std::memcmp(back.data(), v.data(), v.size() * sizeof(double)) == 0);
  CHECK(std::string(slurp(dir.file("v.npy")), 10).find("'shape': (4,)") != std::string::npos);

  // An (n, 1) column is accepted as a vector; an (n, 2) matrix is not.
  tweedie::write_npy(dir.file("col.npy"), Matrix::Constant(3, 1, 2.5));
  CHECK(tweedie::read_npy_vector(dir.file("col.npy")) == std::vector<double>{2.5, 2.5, 2.5});
  tweedie::write_npy(dir.file("two.npy"), Matrix::Zero(3, 2));
  CHECK_THROWS_WITH_AS(tweedie::read_npy_vector(dir.file("two.npy"), "the times"),
                       doctest::Contains("the times must be 1-D"), InvalidArgument);
}

TEST_CASE("float32 .npy files are read as doubles") {
  TempDir dir;
  const float values[6] = {0.5f, -1.25f, 3.0f, 0.1f, 1e-30f, -65504.0f};
  write_raw_npy(dir.file("f.npy"), "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                values, sizeof values);
  const tweedie::NpyArray a = tweedie::read_npy(dir.file("f.npy"));
  CHECK(a.float32);
  CHECK(a.shape == std::vector<std::size_t>{2, 3});
  const Matrix m = tweedie::read_npy_matrix(dir.file("f.npy"));
  REQUIRE(m.rows() == 2);
  REQUIRE(m.cols() == 3);
  for (int k = 0; k < 6; ++k) CHECK(m(k / 3, k % 3) == static_cast<double>(values[k]));
}

TEST_CASE("malformed .npy files are refused with a message naming the problem") {
  TempDir dir;
  const double data[6] = {1, 2, 3, 4, 5, 6};
  auto refused = [&](const std::string& name, const std::string& dict, std::size_t bytes,
                     const std::string& why) {
    write_raw_npy(dir.file(name), dict, data, bytes);
    CAPTURE(name);
    CHECK_THROWS_WITH_AS(tweedie::read_npy(dir.file(name)), doctest::Contains(why.c_str()),
                         InvalidArgument);
    // The message also names the file.
    CHECK_THROWS_WITH_AS(tweedie::read_npy(dir.file(name)), doctest::Contains(name.c_str()),
                         InvalidArgument);
  };
  refused("complex.npy", "{'descr': '<c16', 'fortran_order': False, 'shape': (1, 3), }", 48,
          "dtype '<c16'");
  refused("half.npy", "{'descr': '<f2', 'fortran_order': False, 'shape': (2, 3), }", 12,
          "dtype '<f2'");
  refused("struct.npy", "{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (2,), }", 16,
          "structured");
  refused("truncated.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", 40,
          "truncated data");
  refused("no_shape.npy", "{'descr': '<f8', 'fortran_order': False, }", 48, "'shape'");

  std::ofstream(dir.file("magic.npy"), std::ios::binary) << "PK\x03\x04 this is a zip file";
  CHECK_THROWS_WITH_AS(tweedie::read_npy(dir.file("magic.npy")), doctest::Contains("bad magic"),
                       InvalidArgument);
  std::ofstream(dir.file("short.npy"), std::ios::binary) << "\x93NUM";
  CHECK_THROWS_WITH_AS(tweedie::read_npy(dir.file("short.npy")), doctest::Contains("magic"),
                       InvalidArgument);
  CHECK_THROWS_WITH_AS(tweedie::read_npy(dir.file("absent.npy")), doctest::Contains("cannot open"),
                       InvalidArgument);
}

TEST_CASE("read_npy refuses a header announcing more data than the file holds, however large") {
  // Such a file is a truncated file: refused with InvalidArgument, without first allocating the
  // announced size (2^62 doubles: std::length_error) and without the element count wrapping
  // around (2^32 x 2^32 = 2^64 elements wrap to 0 in size_t, so nothing would be read at all).
  TempDir dir;
  const double data[6] = {1, 2, 3, 4, 5, 6};
  write_raw_npy(dir.file("huge.npy"),
                "{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904,), }", data,
                sizeof data);
  CHECK_THROWS_WITH_AS(tweedie::read_npy(dir.file("huge.npy")), doctest::Contains("huge.npy"),
                       InvalidArgument);
  write_raw_npy(dir.file("wrap.npy"),
                "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }",
                data, sizeof data);
  CHECK_THROWS_WITH_AS(tweedie::read_npy(dir.file("wrap.npy")), doctest::Contains("wrap.npy"),
                       InvalidArgument);
}

TEST_CASE("read_npy_matrix refuses arrays that are not 2-D") {
  TempDir dir;
  const double data[8] = {};
  write_raw_npy(dir.file("cube.npy"),
                "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2, 2), }", data,
                sizeof data);
  CHECK(tweedie::read_npy(dir.file("cube.npy")).shape == std::vector<std::size_t>{2, 2, 2});
  CHECK_THROWS_WITH_AS(tweedie::read_npy_matrix(dir.file("cube.npy"), "the initial state"),
                       doctest::Contains("the initial state must be 2-D"), InvalidArgument);
  const std::vector<double> v = {1.0, 2.0};
  tweedie::write_npy(dir.file("v.npy"), std::span<const double>(v));
  CHECK_THROWS_WITH_AS(tweedie::read_npy_matrix(dir.file("v.npy")),
                       doctest::Contains("got 1 dimension"), InvalidArgument);
}

TEST_CASE("write_npy is atomic: no temporary left behind, nothing created on failure") {
  TempDir dir;
  tweedie::write_npy(dir.file("out.npy"), Matrix::Ones(4, 3));
  tweedie::write_npy(dir.file("out.npy"), Matrix::Zero(2, 2));  // replaces the file
  CHECK(entries(dir.path()) == std::vector<std::string>{"out.npy"});
  CHECK(tweedie::read_npy_matrix(dir.file("out.npy")) == Matrix::Zero(2, 2));

  const fs::path missing = dir.path() / "no" / "such" / "folder";
  CHECK_THROWS_WITH_AS(tweedie::write_npy((missing / "x.npy").string(), Matrix::Ones(1, 1)),
                       doctest::Contains("cannot write"), InvalidArgument);
  CHECK_THROWS_AS(tweedie::write_csv((missing / "x.csv").string(), Matrix::Ones(1, 1)),
                  InvalidArgument);
  CHECK_FALSE(fs::exists(dir.path() / "no"));
  CHECK(entries(dir.path()) == std::vector<std::string>{"out.npy"});
}

TEST_CASE("write_csv writes 17 significant digits that parse back to the same doubles") {
  TempDir dir;
  const Matrix m = awkward_values();
  tweedie::write_csv(dir.file("m.csv"), m);
  std::istringstream text(slurp(dir.file("m.csv")));
  std::string line;
  Matrix back(m.rows(), m.cols());
  Eigen::Index i = 0;
  while (std::getline(text, line)) {
    REQUIRE(i < m.rows());
    std::istringstream cells(line);
    std::string cell;
    Eigen::Index j = 0;
    while (std::getline(cells, cell, ',')) {
      REQUIRE(j < m.cols());
      back(i, j++) = std::strtod(cell.c_str(), nullptr);
    }
    CHECK(j == m.cols());
    ++i;
  }
  CHECK(i == m.rows());
  CHECK(bitwise_equal(back, m));
  CHECK(entries(dir.path()) == std::vector<std::string>{"m.csv"});
}

TEST_CASE("write_matrix chooses CSV for .csv names, .npy for .npy and refuses other names") {
  TempDir dir;
  const Matrix m = awkward_values();
  tweedie::write_matrix(dir.file("a.csv"), m);
  tweedie::write_matrix(dir.file("a.npy"), m);
  CHECK(slurp(dir.file("a.csv")).rfind("0.10000000000000001,", 0) == 0);
  CHECK(bitwise_equal(tweedie::read_npy_matrix(dir.file("a.npy")), m));
  CHECK_THROWS_WITH_AS(tweedie::write_matrix(dir.file("a.txt"), m),
                       doctest::Contains("unknown extension '.txt' (expected .npy or .csv"), InvalidArgument);
  CHECK_THROWS_WITH_AS(tweedie::write_matrix(dir.file("out"), m), doctest::Contains("no extension"),
                       InvalidArgument);
  CHECK(dir.files() == 2);
}
