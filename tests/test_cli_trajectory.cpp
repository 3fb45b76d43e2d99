// tweedie sample --trajectory FILE.npy --every K: shape, bits and refusals.
#include "cli_util.hpp"
#include "test_util.hpp"

#include <tweedie/npy.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

using tweedie::test::run_cli;
using tweedie::test::TempDir;

namespace {

const std::string kSample = "sample --target builtin:ring --sde vp --steps 10 -n 5 --seed 3 ";

/// Slice s of a (steps, n, d) array, as its values.
std::vector<double> slice(const tweedie::NpyArray& a, std::size_t s) {
  const std::size_t size = a.shape[1] * a.shape[2];
  return {a.values.begin() + static_cast<std::ptrdiff_t>(s * size),
          a.values.begin() + static_cast<std::ptrdiff_t>((s + 1) * size)};
}

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

}  // namespace

TEST_CASE("--trajectory --every 3 keeps steps 3, 6, 9 and the last: (4, n, d), the last slice the samples") {
  TempDir dir;
  const std::string every1 = dir.file("every1.npy"), every3 = dir.file("every3.npy"), out = dir.file("x.npy");
  REQUIRE(run_cli(kSample + "--sampler em --out " + out + " --trajectory " + every1).status == 0);
  const auto r = run_cli(kSample + "--sampler em --threads 2 --chunk 2 --out " + out + " --trajectory " + every3 +
                         " --every 3");
  REQUIRE(r.status == 0);
  CHECK(r.output.find("trajectory: 4 saved steps x 5 x 2 -> " + every3) != std::string::npos);
  const tweedie::NpyArray all = tweedie::read_npy(every1), some = tweedie::read_npy(every3);
  CHECK(all.shape == std::vector<std::size_t>{10, 5, 2});
  REQUIRE(some.shape == std::vector<std::size_t>{4, 5, 2});
  const tweedie::Matrix samples = tweedie::read_npy_matrix(out);
  CHECK(same_bits(slice(some, 3), std::vector<double>(samples.data(), samples.data() + samples.size())));
  // Steps 3, 6, 9, 10 of the every-step record, from another thread count and chunk size.
  for (std::size_t k = 0; k < 4; ++k) CHECK(same_bits(slice(some, k), slice(all, std::min<std::size_t>(3 * k + 2, 9))));
}

TEST_CASE("an adaptive sampler's trajectory holds every K-th grid time by dense output, the last slice the samples") {
  TempDir dir;
  const std::string out = dir.file("x.npy"), plain = dir.file("plain.npy"), every1 = dir.file("every1.npy"),
                    every3 = dir.file("every3.npy");
  REQUIRE(run_cli(kSample + "--sampler dopri5 --out " + plain).status == 0);
  REQUIRE(run_cli(kSample + "--sampler dopri5 --out " + out + " --trajectory " + every1).status == 0);
  const auto r = run_cli(kSample + "--sampler dopri5 --threads 2 --chunk 2 --out " + out + " --trajectory " +
                         every3 + " --every 3");
  REQUIRE(r.status == 0);
  CHECK(r.output.find("trajectory: 4 saved steps x 5 x 2 -> " + every3) != std::string::npos);
  const tweedie::NpyArray all = tweedie::read_npy(every1), some = tweedie::read_npy(every3);
  CHECK(all.shape == std::vector<std::size_t>{10, 5, 2});
  REQUIRE(some.shape == std::vector<std::size_t>{4, 5, 2});
  // The samples are those of a run without --trajectory; the last slice is them.
  const tweedie::Matrix samples = tweedie::read_npy_matrix(out), unobserved = tweedie::read_npy_matrix(plain);
  const std::vector<double> bits(samples.data(), samples.data() + samples.size());
  CHECK(same_bits(bits, std::vector<double>(unobserved.data(), unobserved.data() + unobserved.size())));
  CHECK(same_bits(slice(some, 3), bits));
  for (std::size_t k = 0; k < 4; ++k) CHECK(same_bits(slice(some, k), slice(all, std::min<std::size_t>(3 * k + 2, 9))));
}

TEST_CASE("--every without --trajectory, K < 1 and paths not written as .npy are refused before any output") {
  TempDir dir;
  const std::string out = dir.file("x.npy");
  struct Case {
    std::string args, names;
  };
  const std::vector<Case> cases = {
      {"--every 2", "--every has no effect without --trajectory"},
      {"--trajectory " + dir.file("t.npy") + " --every 0", "--every"},
      {"--trajectory " + dir.file("t.csv"), "--trajectory is written as .npy"},
      {"--trajectory -", "--trajectory cannot be '-'"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.args);
    const auto r = run_cli(kSample + "--sampler em --out " + out + " " + c.args);
    CHECK(r.status == 2);
    CHECK(r.output.find(c.names) != std::string::npos);
    CHECK(std::count(r.output.begin(), r.output.end(), '\n') == 1);
    CHECK(dir.files() == 0);
  }
}
