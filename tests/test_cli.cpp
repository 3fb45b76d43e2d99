// The tweedie program: outputs, shared conventions, and one clear line with status 2 on errors.
#include "cli_util.hpp"
#include "test_util.hpp"

#include <tweedie/npy.hpp>
#include <tweedie/random.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

namespace fs = std::filesystem;

namespace {

using tweedie::test::Outcome;
using tweedie::test::run_cli;

using tweedie::test::TempDir;

void check_refused(const std::string& args, const std::string& message) {
  CAPTURE(args);
  const Outcome r = run_cli(args);
  CHECK(r.status == 2);
  CHECK(r.output.find(message) != std::string::npos);
  CHECK(r.output.rfind("tweedie: error: ", 0) == 0);
  CHECK(std::count(r.output.begin(), r.output.end(), '\n') == 1);  // one line
}

}  // namespace

TEST_CASE("tweedie sample writes an (n, d) float64 .npy and a one-line summary") {
  TempDir dir;
  const Outcome r = run_cli(fmt::format(
      "sample --target builtin:ring --sde vp --sampler em --steps 20 -n 300 --seed 5 --out {}",
      dir.file("x.npy")));
  REQUIRE(r.status == 0);
  CHECK(r.output.find("em: 20 steps, NFE/sample 20") != std::string::npos);
  CHECK(r.output.find("samples/s") != std::string::npos);
  const auto a = tweedie::read_npy(dir.file("x.npy"));
  CHECK(a.shape == std::vector<std::size_t>{300, 2});
  CHECK_FALSE(a.float32);
  CHECK(dir.files() == 1);  // no temporary left behind
}

TEST_CASE("tweedie sample output does not depend on --threads or --chunk") {
  TempDir dir;
  const std::string common =
      "sample --target builtin:ring --sde ve --sampler em --steps 30 -n 500 --seed 9 ";
  REQUIRE(run_cli(common + "--threads 1 --chunk 7 --out " + dir.file("a.npy")).status == 0);
  REQUIRE(run_cli(common + "--threads 2 --chunk 100 --out " + dir.file("b.npy")).status == 0);
  CHECK(tweedie::read_npy(dir.file("a.npy")).values == tweedie::read_npy(dir.file("b.npy")).values);
}

TEST_CASE("--noise-stream selects the noise layout, is recorded in the summary and is bounded") {
  TempDir dir;
  const std::string common = "sample --target builtin:ring --sampler em --steps 10 -n 50 --seed 3 ";
  const Outcome v1 = run_cli(common + "--noise-stream 1 --out " + dir.file("v1.npy"));
  const Outcome v2 = run_cli(common + "--noise-stream 2 --out " + dir.file("v2.npy"));
  const Outcome dflt = run_cli(common + "--out " + dir.file("default.npy"));
  REQUIRE(v1.status == 0);
  REQUIRE(v2.status == 0);
  REQUIRE(dflt.status == 0);
  CHECK(v1.output.find("(seed 3, noise stream 1)") != std::string::npos);
  CHECK(dflt.output.find(fmt::format("(seed 3, noise stream {})", tweedie::rng_stream_version)) !=
        std::string::npos);
  const auto a = tweedie::read_npy(dir.file("v1.npy")).values, b = tweedie::read_npy(dir.file("v2.npy")).values;
  CHECK(a != b);  // the layouts differ in the last bits
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(std::fabs(a[i] - b[i]) < 1e-9);  // but not more
  CHECK(tweedie::read_npy(dir.file("default.npy")).values == b);
  const Outcome elbo = run_cli("elbo --target builtin:ring --draws 4 --noise-stream 1 --data " + dir.file("v1.npy"));
  REQUIRE(elbo.status == 0);
  CHECK(elbo.output.find("(seed 0, noise stream 1)") != std::string::npos);
  const Outcome hutchinson = run_cli("likelihood --target builtin:ring --divergence hutchinson --data " +
                                     dir.file("v1.npy"));
  REQUIRE(hutchinson.status == 0);
  CHECK(hutchinson.output.find("(seed 0, noise stream 2)") != std::string::npos);
  check_refused(common + "--noise-stream 3 --out " + dir.file("x.npy"), "--noise-stream");
  check_refused(common + "--noise-stream 0 --out " + dir.file("x.npy"), "--noise-stream");
  const Outcome info = run_cli("info");
  CHECK(info.output.find(fmt::format("stream layout version {} (--noise-stream 1 .. {})",
                                     tweedie::rng_stream_version, tweedie::rng_stream_version)) !=
        std::string::npos);
}

TEST_CASE("tweedie sample takes --times, --init, --denoise and writes .csv") {
  TempDir dir;
  tweedie::write_npy(dir.file("times.npy"), std::vector<double>{80.0, 10.0, 1.0, 0.0});
  tweedie::Matrix init = tweedie::Matrix::Constant(4, 2, 3.0);
  tweedie::write_npy(dir.file("init.npy"), init);
  const Outcome r = run_cli(fmt::format(
      "sample --target builtin:ring --sde edm --sampler euler --times {} --init {} --denoise "
      "--out {}", dir.file("times.npy"), dir.file("init.npy"), dir.file("out.csv")));
  REQUIRE(r.status == 0);
  CHECK(r.output.find("3 steps, NFE/sample 4") != std::string::npos);
  std::ifstream csv(dir.file("out.csv"));
  std::string line;
  int lines = 0;
  while (std::getline(csv, line)) {
    ++lines;
    CHECK(std::count(line.begin(), line.end(), ',') == 1);
  }
  CHECK(lines == 4);
}

TEST_CASE("tweedie sample reports accepted and rejected steps of adaptive samplers") {
  TempDir dir;
  const Outcome r = run_cli(fmt::format(
      "sample --target builtin:ring --sampler dopri5 --rtol 1e-4 --atol 1e-4 -n 20 --out {}",
      dir.file("x.npy")));
  REQUIRE(r.status == 0);
  CHECK(r.output.find("accepted/rejected steps per sample") != std::string::npos);
}

TEST_CASE("tweedie info lists families, samplers with traits, and grids") {
  const Outcome r = run_cli("info");
  REQUIRE(r.status == 0);
  for (const char* word : {"vp", "subvp", "ve", "cosine", "edm", "em", "euler", "karras", "log-snr",
                           "stochastic"}) {
    CHECK(r.output.find(word) != std::string::npos);
  }
  CHECK(r.output.find(fmt::format("stream layout version {}", tweedie::rng_stream_version)) != std::string::npos);
}

TEST_CASE("bad arguments exit with status 2, one line, and no output file") {
  TempDir dir;
  const std::string out = " --out " + dir.file("x.npy");
  const std::string ring = "sample --target builtin:ring";
  check_refused(ring + " --sampler nope" + out, "unknown sampler 'nope'");
  check_refused(ring + " --sde vq" + out, "unknown SDE family 'vq'");
  check_refused(ring + " --steps 0" + out, "steps = 0 must be at least 1");
  check_refused(ring + " --t-end 0" + out, "t_end = 0 is outside the vp family's time domain");
  check_refused(ring + " --t-end 2" + out, "t_end = 2 is outside");
  check_refused(ring + " --sde vp --sigma-max 3" + out, "--sigma-max does not apply to the vp family");
  check_refused(ring + " --grid cubic" + out, "unknown grid 'cubic'");
  check_refused(ring + " --seed 4294967296" + out, "--seed: must be an integer in 0..4294967295");
  check_refused(ring + " --threads -2" + out, "--threads: must be an integer in 0..1024, got '-2'");
  check_refused("sample --target missing.json" + out, "cannot open target file 'missing.json'");
  check_refused("sample --target builtin:disc" + out, "unknown built-in target");
  check_refused(ring + " --init " + dir.file("none.npy") + out, "cannot open the file");
  check_refused(ring, "--out is required");
  check_refused("frobnicate", "unknown subcommand 'frobnicate' (expected one of: sample, info, likelihood, elbo, encode, decode, compare)");
  {
    std::ofstream bad(dir.file("bad.json"));
    bad << R"({"weights": [1, 2], "means": [[0, 0], [1]], "stds": [[1, 1], [1, 1]]})";
  }
  check_refused("sample --target " + dir.file("bad.json") + out, "means[1] has 1 numbers");
  tweedie::write_npy(dir.file("times.npy"), std::vector<double>{1.0, 0.5, 0.7});
  check_refused(ring + " --times " + dir.file("times.npy") + out, "not strictly decreasing at point 2");
  tweedie::write_npy(dir.file("init3.npy"), tweedie::Matrix::Zero(5, 3));
  check_refused(ring + " --init " + dir.file("init3.npy") + out, "--init has 3 columns");
  CHECK_FALSE(fs::exists(dir.file("x.npy")));
  CHECK(dir.files() == 3);  // only the inputs written above
}

TEST_CASE("a NaN during sampling exits with status 2 and writes nothing") {
  TempDir dir;
  // A zero-width component makes the exact score infinite at t_end = 0 under EDM.
  {
    std::ofstream target(dir.file("point.json"));
    target << R"({"weights": [1], "means": [[0.5]], "stds": [[0]]})";
  }
  const Outcome r = run_cli(fmt::format(
      "sample --target {} --sde edm --grid karras --steps 5 --t-end 0 --denoise -n 3 --out {}",
      dir.file("point.json"), dir.file("x.npy")));
  CHECK(r.status == 2);
  CHECK(r.output.find("non-finite value at sample 0") != std::string::npos);
  CHECK_FALSE(fs::exists(dir.file("x.npy")));
}

TEST_CASE("tweedie --version names the version, the commit and the noise stream version") {
  const Outcome r = run_cli("--version");
  CHECK(r.status == 0);
  CHECK(r.output.rfind("tweedie 0.1.0 (commit ", 0) == 0);
  CHECK(r.output.find(fmt::format("noise stream layout version {})", tweedie::rng_stream_version)) !=
        std::string::npos);
}

TEST_CASE("sample without --grid uses the sampler's default grid; karras on edm ends at sigma = 0") {
  TempDir dir;
  const std::string edm = "sample --target builtin:ring --sde edm --sigma-min 0.01 --sigma-max 50 -n 3 --sampler heun ";
  const Outcome given = run_cli(edm + "--grid karras --steps 20 --out " + dir.file("k.npy"));
  CHECK(given.status == 0);
  CHECK(given.output.find("heun: 20 steps, NFE/sample 39,") == 0);  // k-diffusion's sample_heun
  const Outcome by_default = run_cli(edm + "--steps 20 --out " + dir.file("d.npy"));
  CHECK(by_default.output.find("heun: 20 steps, NFE/sample 39,") == 0);
  CHECK(tweedie::read_npy_matrix(dir.file("k.npy")) == tweedie::read_npy_matrix(dir.file("d.npy")));
  // The declared default elsewhere: time-uniform for ddim on vp, as --grid time-uniform.
  const std::string vp = "sample --target builtin:ring --sampler ddim --steps 7 -n 3 --out ";
  CHECK(run_cli(vp + dir.file("a.npy")).status == 0);
  CHECK(run_cli(vp + dir.file("b.npy") + " --grid time-uniform").status == 0);
  CHECK(tweedie::read_npy_matrix(dir.file("a.npy")) == tweedie::read_npy_matrix(dir.file("b.npy")));
}
