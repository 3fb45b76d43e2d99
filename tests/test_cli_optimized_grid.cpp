// --grid optimized on the command line: sample's bits for every thread count, compare's rows,
// and the refusals (one line, status 2).
#include "cli_util.hpp"
#include "fs_util.hpp"
#include "test_util.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <string>

using tweedie::test::file_bytes;
using tweedie::test::Outcome;
using tweedie::test::run_cli;
using tweedie::test::TempDir;

namespace {

void check_refused(const std::string& args, const std::string& message) {
  CAPTURE(args);
  const Outcome r = run_cli(args);
  CHECK(r.status == 2);
  CHECK(r.output.find(message) != std::string::npos);
  CHECK(std::count(r.output.begin(), r.output.end(), '\n') == 1);  // one line
}

}  // namespace

TEST_CASE("sample --grid optimized gives the same bits for every thread count") {
  TempDir dir;
  std::string first;
  for (int threads : {1, 2}) {
    const std::string out = dir.file(fmt::format("x{}.npy", threads));
    const Outcome r = run_cli(fmt::format(
        "sample --target builtin:ring2d --sampler heun --grid optimized --steps 6 -n 40 --seed 2 --chunk 7 "
        "--threads {} --out {}", threads, out));
    INFO(r.output);
    REQUIRE(r.status == 0);
    if (first.empty()) first = file_bytes(out);
    CHECK(file_bytes(out) == first);
  }
}

TEST_CASE("compare --grids optimized runs each sampler on its optimised grid") {
  TempDir dir;
  const std::string report = dir.file("r");
  const Outcome r = run_cli("compare --target builtin:ring2d -n 40 --seed 1 --samplers euler,heun --grids "
                            "optimized,time-uniform --nfe 10 --report " + report);
  INFO(r.output);
  REQUIRE(r.status == 0);
  const auto j = nlohmann::json::parse(file_bytes(report + "/report.json"));
  int optimized = 0;
  for (const auto& row : j["rows"]) {
    if (row["grid"] == "optimized") {
      ++optimized;
      CHECK(row["nfe_per_sample"].get<double>() <= 10.0);
    }
  }
  CHECK(optimized == 2);
}

TEST_CASE("--grid optimized is refused for adaptive samplers and a misspelt grid is named") {
  TempDir dir;
  const std::string out = dir.file("x.npy");
  check_refused("sample --target builtin:ring2d --sampler dopri5 --grid optimized -n 4 --out " + out,
                "dopri5 chooses its own steps");
  check_refused("sample --target builtin:ring2d --sampler heun --grid optimised -n 4 --out " + out, "optimised");
  check_refused("compare --target builtin:ring2d --samplers heun --grids optimised --nfe 10 --report " + dir.file("r"),
                "optimised");
}
