// --grid optimized on the command line: sample's bits for every thread count and its summary of the
// search's cost, compare's rows (with the search's cost; on EDM, the Karras grid's NFE and end), and the
// refusals (one line, status 2).
#include "cli_util.hpp"
#include "compare_util.hpp"
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

struct CompareRun {
  Outcome outcome;
  nlohmann::json report;  // report.json
};

// `tweedie compare ARGS --report REPORT`, which must succeed.
CompareRun run_compare(const std::string& args, const std::string& report) {
  CompareRun c{run_cli("compare " + args + " --report " + report), {}};
  INFO(c.outcome.output);
  REQUIRE(c.outcome.status == 0);
  c.report = nlohmann::json::parse(file_bytes(report + "/report.json"));
  return c;
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
    // The summary says what the search cost (per pilot row, 256 rows).
    CHECK(r.output.find("6 steps, optimized grid: ") != std::string::npos);
    CHECK(r.output.find(" pilot NFE x 256 rows, ") != std::string::npos);
  }
}

TEST_CASE("compare --grids optimized runs each sampler on its optimised grid") {
  TempDir dir;
  const std::string report = dir.file("r");
  const auto [r, j] = run_compare("--target builtin:ring2d -n 40 --seed 1 --samplers euler,heun --grids "
                                  "optimized,time-uniform --nfe 10", report);
  INFO(r.output);
  const auto csv = tweedie::test::text_lines(file_bytes(report + "/results.csv"));
  REQUIRE(csv.size() == j["rows"].size() + 1);
  const auto header = tweedie::test::csv_fields(csv[0]);
  auto field = [&](std::size_t line, const std::string& name) {
    return tweedie::test::csv_fields(csv[line])[tweedie::test::csv_column(header, name)];
  };
  CHECK(r.output.find("| grid search |") != std::string::npos);
  int optimized = 0;
  for (std::size_t k = 0; k < j["rows"].size(); ++k) {
    const auto& row = j["rows"][k];
    CAPTURE(k);
    if (row["grid"] == "optimized") {
      ++optimized;
      CHECK(row["nfe_per_sample"].get<double>() <= 10.0);
      // The search's cost and pilot errors, in the JSON, the CSV and the table.
      const auto& search = row["grid_search"];
      const int trials = search["trials"].get<int>();
      const double pilot_nfe = search["pilot_nfe_per_row"].get<double>();
      CHECK(trials >= 1);
      CHECK(trials <= tweedie::OptimizedGridOptions{}.max_trials);
      CHECK(search["pilot_rows"] == 256);
      CHECK(pilot_nfe > trials * row["nfe_per_sample"].get<double>());  // the pilot's dopri5 and every trial
      CHECK(search["error"].get<double>() <= search["start_error"].get<double>());
      CHECK_FALSE(search["start"].get<std::string>().empty());
      CHECK(std::stod(field(k + 1, "search_pilot_nfe")) == doctest::Approx(pilot_nfe).epsilon(1e-8));
      CHECK(std::stoi(field(k + 1, "search_trials")) == trials);
      CHECK(r.output.find(fmt::format("| {:.0f} NFE x 256, {} trials |", pilot_nfe, trials)) != std::string::npos);
    } else {
      CHECK_FALSE(row.contains("grid_search"));
      CHECK(field(k + 1, "search_trials").empty());
    }
  }
  CHECK(optimized == 2);
}

TEST_CASE("compare --grids optimized on EDM spends the Karras grid's NFE and ends at sigma = 0 as it does") {
  TempDir dir;
  const auto [r, j] = run_compare("--target builtin:ring2d --sde edm -n 40 --seed 1 --samplers heun --grids "
                                  "optimized,karras --nfe 11 --reference-tol 1e-8", dir.file("r"));
  INFO(r.output);
  REQUIRE(j["rows"].size() == 2);
  CHECK(j["truths"].size() == 1);  // one end time: t = 0
  CHECK(j["truths"][0]["t_end"] == 0.0);
  CHECK(j["rows"][0]["steps"] == j["rows"][1]["steps"]);
  CHECK(j["rows"][0]["nfe_per_sample"] == j["rows"][1]["nfe_per_sample"]);
  CHECK(j["rows"][0].contains("grid_search"));
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
