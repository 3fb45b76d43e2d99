// .npy inputs as users have them (integers, Fortran order, big-endian) and the hostile headers
// that crashed or exhausted memory before the header was parsed by hand (issue 12).
#include "npy_util.hpp"
#include "test_util.hpp"

#include <tweedie/npy.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

using tweedie::InvalidArgument;
using tweedie::test::TempDir;
using tweedie::test::write_raw_npy;

namespace {

std::string dict(const std::string& descr, const std::string& shape, bool fortran = false) {
  return fmt::format("{{'descr': '{}', 'fortran_order': {}, 'shape': {}, }}", descr,
                     fortran ? "True" : "False", shape);
}

template <class T>
std::vector<unsigned char> bytes_of(const std::vector<T>& v, bool big_endian = false) {
  std::vector<unsigned char> out;
  for (const T& x : v) {
    auto b = std::bit_cast<std::array<unsigned char, sizeof(T)>>(x);
    if (big_endian) std::reverse(b.begin(), b.end());
    out.insert(out.end(), b.begin(), b.end());
  }
  return out;
}

template <class T>
std::vector<double> read_as(const TempDir& dir, const std::string& descr, const std::vector<T>& v,
                            bool big_endian = false) {
  const auto raw = bytes_of(v, big_endian);
  write_raw_npy(dir.file("v.npy"), dict(descr, fmt::format("({},)", v.size())), raw.data(), raw.size());
  const tweedie::NpyArray a = tweedie::read_npy(dir.file("v.npy"));
  CHECK(a.descr == descr);
  return a.values;
}

template <class T>
std::vector<double> as_doubles(const std::vector<T>& v) {
  return {v.begin(), v.end()};
}

}  // namespace

TEST_CASE("integer and bool .npy files are read exactly, every width and signedness") {
  TempDir dir;
  const std::vector<std::uint8_t> u1 = {0, 1, 127, 128, 255};
  CHECK(read_as(dir, "|u1", u1) == as_doubles(u1));
  const std::vector<std::int8_t> i1 = {-128, -1, 0, 127};
  CHECK(read_as(dir, "|i1", i1) == as_doubles(i1));
  const std::vector<std::int16_t> i2 = {-32768, -1, 0, 32767};
  CHECK(read_as(dir, "<i2", i2) == as_doubles(i2));
  const std::vector<std::uint16_t> u2 = {0, 65535};
  CHECK(read_as(dir, "<u2", u2) == as_doubles(u2));
  const std::vector<std::int32_t> i4 = {std::numeric_limits<std::int32_t>::min(), -7, 0, 2147483647};
  CHECK(read_as(dir, "<i4", i4) == as_doubles(i4));
  const std::vector<std::uint32_t> u4 = {0, 4294967295u};
  CHECK(read_as(dir, "<u4", u4) == as_doubles(u4));
  // int64 and uint64: exact up to 2^53, and beyond it wherever the value is a double.
  const std::vector<std::int64_t> i8 = {-(std::int64_t{1} << 53), -1, 0, std::int64_t{1} << 53,
                                        std::numeric_limits<std::int64_t>::min(), std::int64_t{1} << 62};
  CHECK(read_as(dir, "<i8", i8) == as_doubles(i8));
  const std::vector<std::uint64_t> u8 = {0, std::uint64_t{1} << 63, (std::uint64_t{1} << 53) * 3};
  CHECK(read_as(dir, "<u8", u8) == as_doubles(u8));
  const std::vector<std::uint8_t> b1 = {0, 1, 1, 0};
  CHECK(read_as(dir, "|b1", b1) == as_doubles(b1));
}

TEST_CASE("an integer that a double cannot hold exactly is refused, naming its index") {
  TempDir dir;
  const std::vector<std::int64_t> i8 = {1, 2, (std::int64_t{1} << 53) + 1};
  CHECK_THROWS_WITH_AS(read_as(dir, "<i8", i8),
                       doctest::Contains("element 2 = 9007199254740993 is not exactly representable"),
                       InvalidArgument);
  const std::vector<std::uint64_t> u8 = {std::numeric_limits<std::uint64_t>::max()};
  CHECK_THROWS_WITH_AS(read_as(dir, "<u8", u8), doctest::Contains("element 0 = 18446744073709551615"),
                       InvalidArgument);
  const std::vector<std::int64_t> big = {std::numeric_limits<std::int64_t>::max()};
  CHECK_THROWS_AS(read_as(dir, "<i8", big), InvalidArgument);
}

TEST_CASE("big-endian .npy files are read as their values") {
  TempDir dir;
  const std::vector<double> f8 = {1.5, -2.25, 1e-300, 6.02e23};
  CHECK(read_as(dir, ">f8", f8, true) == f8);
  const std::vector<float> f4 = {0.5f, -3.0f, 1e-30f};
  CHECK(read_as(dir, ">f4", f4, true) == as_doubles(f4));
  const std::vector<std::int32_t> i4 = {-123456, 7, 2147483647};
  CHECK(read_as(dir, ">i4", i4, true) == as_doubles(i4));
  const std::vector<std::uint16_t> u2 = {1, 258, 65535};
  CHECK(read_as(dir, ">u2", u2, true) == as_doubles(u2));
}

TEST_CASE("Fortran-order .npy files are read in C order (np.save of a transpose)") {
  TempDir dir;
  // A (2, 3) array a[i][j] = 10 i + j stored column-major: a[0][0], a[1][0], a[0][1], ...
  const std::vector<double> f = {0, 10, 1, 11, 2, 12};
  write_raw_npy(dir.file("f.npy"), dict("<f8", "(2, 3)", true), f.data(), f.size() * 8);
  const tweedie::Matrix m = tweedie::read_npy_matrix(dir.file("f.npy"));
  REQUIRE(m.rows() == 2);
  REQUIRE(m.cols() == 3);
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 3; ++j) CHECK(m(i, j) == 10 * i + j);
  }
  // 3-D, int16: a[i][j][k] = 100 i + 10 j + k at offset i + 2 j + 6 k of the file.
  std::vector<std::int16_t> g(2 * 3 * 4);
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 3; ++j) {
      for (int k = 0; k < 4; ++k) g[static_cast<std::size_t>(i + 2 * j + 6 * k)] = static_cast<std::int16_t>(100 * i + 10 * j + k);
    }
  }
  const auto raw = bytes_of(g);
  write_raw_npy(dir.file("g.npy"), dict("<i2", "(2, 3, 4)", true), raw.data(), raw.size());
  const tweedie::NpyArray a = tweedie::read_npy(dir.file("g.npy"));
  CHECK(a.shape == std::vector<std::size_t>{2, 3, 4});
  for (std::size_t c = 0; c < a.values.size(); ++c) {
    CHECK(a.values[c] == static_cast<double>(100 * (c / 12) + 10 * ((c / 4) % 3) + c % 4));
  }
  // 1-D Fortran order is C order.
  write_raw_npy(dir.file("h.npy"), dict("<f8", "(6,)", true), f.data(), f.size() * 8);
  CHECK(tweedie::read_npy_vector(dir.file("h.npy")) == f);
}

TEST_CASE("regression_issue12: hostile .npy headers are refused without crashing or allocating") {
  TempDir dir;
  const double data[6] = {1, 2, 3, 4, 5, 6};
  auto refused = [&](const std::string& name, const std::string& header, const std::string& why,
                     int version = 1) {
    CAPTURE(name);
    write_raw_npy(dir.file(name), header, data, sizeof data, version);
    CHECK_THROWS_WITH_AS(tweedie::read_npy(dir.file(name)), doctest::Contains(why.c_str()), InvalidArgument);
  };
  // Fields of ~26,000 characters overflowed std::regex's recursion (SIGSEGV).
  refused("long_descr.npy", dict(std::string(26000, 'x'), "(2, 3)"), "dtype 'xxxxxxxxxxxxxxxxxxxxxxxx...'");
  refused("long_shape.npy", dict("<f8", "(" + std::string(26000, '1') + ",)"), "too large");
  std::string many_dims = "(";
  for (int k = 0; k < 20000; ++k) many_dims += "1, ";
  refused("many_dims.npy", dict("<f8", many_dims + ")"), "more than 64 dimensions");
  refused("v2_long.npy", dict("<f8", "(2, 3)") + std::string(10 << 20, ' ') + "x", "unexpected 'x", 2);
  // A 60 KB v1 header of one unterminated string.
  refused("unterminated.npy", "{'descr': '" + std::string(60000, 'a'), "unterminated string");
  // Negative shapes were read as their absolute values.
  refused("neg0.npy", dict("<f8", "(-3, 2)"), "negative shape entry '-3");
  refused("neg1.npy", dict("<f8", "(3, -2)"), "negative shape entry '-2");
  refused("float_shape.npy", dict("<f8", "(2.5, 2)"), "expected ')'");
  refused("dup.npy", "{'descr': '<f8', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
          "duplicate key 'descr'");
  refused("extra.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (6,), 'x': 1}", "unknown key 'x'");
  refused("order.npy", "{'descr': '<f8', 'fortran_order': maybe, 'shape': (6,), }", "must be True or False");
  refused("escape.npy", "{'descr': '<f\\8', 'fortran_order': False, 'shape': (6,), }", "escape");

  // A 12-byte v2 file announcing a 4 GiB header: refused from the file size, nothing allocated.
  {
    std::ofstream out(dir.file("len.npy"), std::ios::binary);
    out.write("\x93NUMPY\x02\x00\xff\xff\xff\xff", 12);
  }
  CHECK_THROWS_WITH_AS(tweedie::read_npy(dir.file("len.npy")),
                       doctest::Contains("it announces 4294967295 bytes, the file has 0"), InvalidArgument);
  // 10^12 elements announced by a small file: refused from the file size.
  refused("tera.npy", dict("<u1", "(1000000, 1000000)"), "truncated data");
}

TEST_CASE("numpy's own headers are parsed: any key order, spacing, Python 2 longs, empty shapes") {
  TempDir dir;
  const double data[6] = {1, 2, 3, 4, 5, 6};
  write_raw_npy(dir.file("a.npy"), "{'shape':(2,3),'fortran_order':False,'descr':'<f8'}", data, sizeof data);
  CHECK(tweedie::read_npy(dir.file("a.npy")).shape == std::vector<std::size_t>{2, 3});
  write_raw_npy(dir.file("b.npy"), "{\"descr\": \"<f8\", \"fortran_order\": False, \"shape\": (2L, 3L)}", data,
                sizeof data);
  CHECK(tweedie::read_npy(dir.file("b.npy")).values == std::vector<double>(data, data + 6));
  write_raw_npy(dir.file("c.npy"), dict("<f8", "()"), data, 8);
  const tweedie::NpyArray scalar = tweedie::read_npy(dir.file("c.npy"));
  CHECK(scalar.shape.empty());
  CHECK(scalar.values == std::vector<double>{1.0});
  write_raw_npy(dir.file("d.npy"), dict("<f8", "(0, 3)"), data, 0);
  CHECK(tweedie::read_npy(dir.file("d.npy")).values.empty());
}
