// --class and --labels on the subcommands that evaluate a model.
#include "cli_util.hpp"
#include "test_util.hpp"

#include <tweedie/tweedie.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <string>

using tweedie::test::run_cli;
using tweedie::test::TempDir;

namespace {

// Two classes far apart: class 0 at x = -4, class 1 at x = +4 (1-D, unit-free).
std::string write_target(const TempDir& dir) {
  const std::string path = dir.file("labelled.json");
  std::ofstream(path) << R"({"weights": [1, 1], "means": [[-4.0], [4.0]], "stds": [[0.2], [0.2]], "classes": [0, 1]})";
  return path;
}

}  // namespace

TEST_CASE("tweedie sample --class draws from the class; --labels gives each sample its own") {
  TempDir dir;
  const std::string target = write_target(dir);
  const std::string common =
      fmt::format("sample --target {} --sde vp --sampler dpm-solver++ --steps 20 --grid log-snr --seed 3 ", target);
  REQUIRE(run_cli(common + "-n 200 --class 1 --out " + dir.file("one.npy")).status == 0);
  const tweedie::Matrix one = tweedie::read_npy_matrix(dir.file("one.npy"));
  CHECK(one.minCoeff() > 2.0);  // every sample near +4

  tweedie::write_npy(dir.file("labels.npy"), std::vector<double>{0, 1, 1, 0, 1});
  REQUIRE(run_cli(common + "-n 5 --labels " + dir.file("labels.npy") + " --out " + dir.file("mixed.npy")).status == 0);
  const tweedie::Matrix mixed = tweedie::read_npy_matrix(dir.file("mixed.npy"));
  CHECK(mixed(0, 0) < -2.0);
  CHECK(mixed(1, 0) > 2.0);
  CHECK(mixed(3, 0) < -2.0);
  CHECK(mixed(4, 0) > 2.0);
}

TEST_CASE("bad labels are refused in one line naming the sample, and nothing is written") {
  TempDir dir;
  const std::string target = write_target(dir);
  const std::string out = dir.file("x.npy");
  const auto refused = [&](const std::string& args, const std::string& message) {
    CAPTURE(args);
    const auto r = run_cli(args);
    CHECK(r.status == 2);
    CHECK(r.output.find(message) != std::string::npos);
    CHECK(std::count(r.output.begin(), r.output.end(), '\n') == 1);
    CHECK(dir.files() == 2);  // the target and the labels file only
  };
  tweedie::write_npy(dir.file("labels.npy"), std::vector<double>{0, 1, 5});
  const std::string sample = fmt::format("sample --target {} --sampler ddim --steps 5 ", target);
  refused(sample + "-n 3 --labels " + dir.file("labels.npy") + " --out " + out,
          "sample 2: label 5 is not a class of the model (0 .. 1, or 2 for none)");
  refused(sample + "-n 4 --labels " + dir.file("labels.npy") + " --out " + out, "--labels has 3 labels for 4 samples");
  refused(sample + "-n 3 --class 7 --out " + out, "sample 0: label 7");
  refused("sample --target builtin:ring --sampler ddim --steps 5 -n 3 --class 0 --out " + out,
          "labels were given but the model is not conditional");
  tweedie::write_npy(dir.file("labels.npy"), std::vector<double>{0, 0.5, 1});
  refused(sample + "-n 3 --labels " + dir.file("labels.npy") + " --out " + out, "entry 1 = 0.5 is not an integer label");
}

TEST_CASE("likelihood, elbo and encode take --class") {
  TempDir dir;
  const std::string target = write_target(dir);
  tweedie::write_npy(dir.file("data.npy"), tweedie::Matrix::Constant(3, 1, 4.1));
  const std::string data = dir.file("data.npy");
  // Under class 1 the points are likely; under class 0 they are ~200 nats less so.
  const auto r1 = run_cli(fmt::format("likelihood --target {} --data {} --class 1 --out {}", target, data, dir.file("l1.npy")));
  const auto r0 = run_cli(fmt::format("likelihood --target {} --data {} --class 0 --out {}", target, data, dir.file("l0.npy")));
  REQUIRE(r1.status == 0);
  REQUIRE(r0.status == 0);
  CHECK(tweedie::read_npy(dir.file("l1.npy")).values[0] > tweedie::read_npy(dir.file("l0.npy")).values[0] + 100.0);
  CHECK(run_cli(fmt::format("elbo --target {} --data {} --class 1 --draws 16", target, data)).status == 0);
  CHECK(run_cli(fmt::format("encode --target {} --data {} --class 1 --out {}", target, data, dir.file("z.npy"))).status == 0);
}
