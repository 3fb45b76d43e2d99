// The safetensors reader: exact decoding of every dtype, and each kind of malformed file refused
// with a message naming the file and the tensor (the bytes are made here).
#include <tweedie/safetensors.hpp>
#include <tweedie/types.hpp>

#include "test_util.hpp"

#include <doctest/doctest.h>

#include <bit>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

using namespace tweedie;

namespace {

std::vector<std::byte> le_bytes(std::uint64_t v, int n) {
  std::vector<std::byte> out;
  for (int i = 0; i < n; ++i) out.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xff));
  return out;
}

// A file: the declared header length (the real one unless given), the header, the buffer.
std::vector<std::byte> make_file(const std::string& header, const std::vector<std::byte>& buffer,
                                 std::uint64_t declared = std::numeric_limits<std::uint64_t>::max()) {
  std::vector<std::byte> out = le_bytes(declared == std::numeric_limits<std::uint64_t>::max() ? header.size() : declared, 8);
  for (char c : header) out.push_back(static_cast<std::byte>(c));
  out.insert(out.end(), buffer.begin(), buffer.end());
  return out;
}

std::vector<std::byte> zeros(std::size_t n) { return std::vector<std::byte>(n, std::byte{0}); }

SafetensorsFile parse(const std::vector<std::byte>& bytes) { return SafetensorsFile::parse(bytes, "net.safetensors"); }

// The message must name the file, and the tensor when there is one.
void check_refused(const std::vector<std::byte>& bytes, const std::string& part) {
  CHECK_THROWS_WITH_AS(parse(bytes), doctest::Contains(part.c_str()), InvalidArgument);
  CHECK_THROWS_WITH_AS(parse(bytes), doctest::Contains("net.safetensors: "), InvalidArgument);
}

}  // namespace

TEST_CASE("safetensors: F64, F32, F16 and BF16 decode exactly, with shapes, order and metadata") {
  std::vector<std::byte> buf;
  auto append = [&](const std::vector<std::byte>& b) { buf.insert(buf.end(), b.begin(), b.end()); };
  append(le_bytes(std::bit_cast<std::uint64_t>(-1.25e-300), 8));            // F64 [2]
  append(le_bytes(std::bit_cast<std::uint64_t>(3.0), 8));
  append(le_bytes(std::bit_cast<std::uint32_t>(0.1f), 4));                   // F32 [1, 1]
  for (std::uint16_t h : {0x3c00, 0xc000, 0x0001, 0x7bff, 0x7c00, 0x8000}) append(le_bytes(h, 2));  // F16 [2, 3]
  for (std::uint16_t b : {0x3f80, 0xc2f7}) append(le_bytes(b, 2));           // BF16 [2]
  const std::string header =
      R"({"b":{"dtype":"F32","shape":[1,1],"data_offsets":[16,20]},)"
      R"("a":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},)"
      R"("h":{"dtype":"F16","shape":[2,3],"data_offsets":[20,32]},)"
      R"("z":{"dtype":"BF16","shape":[2],"data_offsets":[32,36]},)"
      R"("e":{"dtype":"F64","shape":[0,4],"data_offsets":[36,36]},)"
      R"("__metadata__":{"tweedie.mlp":"{}","card":"ring"}})";
  const SafetensorsFile f = parse(make_file(header, buf));
  CHECK(f.names() == std::vector<std::string>{"a", "b", "h", "z", "e"});
  CHECK(f.tensor("a").values == std::vector<double>{-1.25e-300, 3.0});
  CHECK(f.tensor("b").values == std::vector<double>{static_cast<double>(0.1f)});
  CHECK(f.tensor("b").shape == std::vector<std::int64_t>{1, 1});
  // 1, -2, the smallest subnormal 2^-24, the largest finite 65504, +inf, -0.
  const auto& h = f.tensor("h").values;
  CHECK(h[0] == 1.0);
  CHECK(h[1] == -2.0);
  CHECK(h[2] == std::ldexp(1.0, -24));
  CHECK(h[3] == 65504.0);
  CHECK(h[4] == std::numeric_limits<double>::infinity());
  CHECK(std::signbit(h[5]));
  CHECK(h[5] == 0.0);
  CHECK(f.tensor("z").values == std::vector<double>{1.0, -123.5});
  CHECK(f.tensor("z").dtype == "BF16");
  CHECK(f.tensor("e").values.empty());
  CHECK(f.metadata().at("card") == "ring");
  CHECK(f.contains("a"));
  CHECK_FALSE(f.contains("__metadata__"));
  CHECK_THROWS_WITH_AS(f.tensor("nope"), "net.safetensors: no tensor 'nope'", InvalidArgument);
}

TEST_CASE("safetensors: a file without metadata or tensors is valid") {
  const SafetensorsFile f = parse(make_file("{}", {}));
  CHECK(f.names().empty());
  CHECK(f.metadata().empty());
}

TEST_CASE("safetensors: malformed files are refused, naming the file and the tensor") {
  const std::string ok = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  SUBCASE("fewer than 8 bytes") { check_refused(zeros(5), "5 bytes are too few"); }
  SUBCASE("header longer than the file") {
    check_refused(make_file(ok, zeros(8), ok.size() + 9), "is longer than the");
  }
  SUBCASE("header over the 100 MB cap") { check_refused(make_file(ok, zeros(8), 200'000'000), "exceeds the cap"); }
  SUBCASE("not JSON") { check_refused(make_file(R"({"w": {"dtype": )", zeros(8)), "not valid JSON"); }
  SUBCASE("not an object") { check_refused(make_file("[1, 2]", {}), "not a JSON object"); }
  SUBCASE("unsupported dtype") {
    check_refused(make_file(R"({"w":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}})", zeros(8)),
                  "tensor 'w': unsupported dtype 'I32'");
  }
  SUBCASE("negative extent") {
    check_refused(make_file(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", zeros(8)),
                  "tensor 'w': bad shape [-2]");
  }
  SUBCASE("fractional extent") {
    check_refused(make_file(R"({"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", zeros(8)),
                  "tensor 'w': bad shape");
  }
  SUBCASE("shape not a list") {
    check_refused(make_file(R"({"w":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", zeros(8)),
                  "tensor 'w': shape is not a list");
  }
  SUBCASE("offsets outside the buffer") {
    check_refused(make_file(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", zeros(8)),
                  "tensor 'w': data_offsets [0, 16] leave the buffer of 8 bytes");
  }
  SUBCASE("offsets far outside the buffer") {
    check_refused(make_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[18446744073709551600,18446744073709551608]}})",
                            zeros(8)),
                  "tensor 'w': data_offsets");
  }
  SUBCASE("end before begin") {
    check_refused(make_file(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", zeros(8)),
                  "tensor 'w': data_offsets [8, 0] end before they begin");
  }
  SUBCASE("size does not match the shape") {
    check_refused(make_file(R"({"w":{"dtype":"F64","shape":[2],"data_offsets":[0,8]}})", zeros(8)),
                  "tensor 'w': data_offsets [0, 8] hold 8 bytes, but shape [2] of F64 needs 16");
  }
  SUBCASE("a shape whose element count overflows") {
    check_refused(make_file(R"({"w":{"dtype":"F64","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}})", zeros(8)),
                  "needs more than 2^64");
  }
  SUBCASE("overlapping tensors") {
    check_refused(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                            R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                            zeros(12)),
                  "tensor 'b': data_offsets [4, 12] overlap tensor 'a'");
  }
  SUBCASE("a gap between tensors") {
    check_refused(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                            R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                            zeros(12)),
                  "tensor 'b': data_offsets [8, 12] leave a gap of 4 bytes");
  }
  SUBCASE("bytes after the last tensor") {
    check_refused(make_file(ok, zeros(12)), "4 bytes after the last tensor");
  }
  SUBCASE("a duplicated name leaves its first range uncovered") {
    check_refused(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                            R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                            zeros(8)),
                  "leave a gap of 4 bytes");
  }
  SUBCASE("metadata not string to string") {
    check_refused(make_file(R"({"__metadata__":{"layers":3}})", {}), "__metadata__ entry 'layers' is not a string");
    check_refused(make_file(R"({"__metadata__":["x"]})", {}), "__metadata__ is not a JSON object");
  }
  SUBCASE("missing and unknown fields") {
    check_refused(make_file(R"({"w":{"dtype":"F32","shape":[2]}})", zeros(8)), "tensor 'w': missing field 'data_offsets'");
    check_refused(make_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})", zeros(8)),
                  "tensor 'w': unknown field 'x'");
    check_refused(make_file(R"({"w":[1]})", zeros(8)), "tensor 'w': the entry is not a JSON object");
  }
  SUBCASE("offsets not two integers") {
    check_refused(make_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", zeros(8)),
                  "tensor 'w': data_offsets must be two non-negative integers");
  }
}

TEST_CASE("safetensors: reading a file, and a file that cannot be opened") {
  test::TempDir dir;
  const std::string path = dir.file("net.safetensors");
  {
    const auto bytes = make_file(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                                 le_bytes(std::bit_cast<std::uint32_t>(2.5f), 4));
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  }
  CHECK(SafetensorsFile::read(path).tensor("w").values == std::vector<double>{2.5});
  CHECK(SafetensorsFile::read(path).source() == path);
  CHECK_THROWS_WITH_AS(SafetensorsFile::read(dir.file("missing.safetensors")), doctest::Contains("cannot open"),
                       InvalidArgument);
}
