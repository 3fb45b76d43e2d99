// tweedie compare: the report folder, its tables and settings, and the ODE error it reports
// recomputed from `tweedie sample` with the same seed (its bad inputs are in test_cli_catalogue).
#include "cli_util.hpp"
#include "compare_util.hpp"
#include "fs_util.hpp"
#include "test_util.hpp"

#include <tweedie/metrics.hpp>
#include <tweedie/npy.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

using tweedie::test::csv_fields;
using tweedie::test::file_bytes;
using tweedie::test::have_gnuplot;
using tweedie::test::run_cli;
using tweedie::test::TempDir;

namespace {

const std::string kProblem = "--target builtin:ring2d --sde vp -n 300 --seed 3 --threads 2";

}  // namespace

TEST_CASE("compare: a complete report folder whose tables parse, and the ODE error recomputed") {
  TempDir dir;
  const std::string report = dir.file("report");
  const auto r = run_cli(fmt::format(
      "compare {} --samplers euler,heun,dpm-solver++:order=3,em,dopri5,dopri5:rtol=1e-10:atol=1e-10 --grids default,time-uniform --nfe 4,10 "
      "--tolerances 1e-3 --report {}",
      kProblem, report));
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("| sampler | grid | budget |") != std::string::npos);
  CHECK(r.output.find("report: " + report + "/report.md") != std::string::npos);
  for (const char* f : {"report.md", "results.csv", "report.json", "plots.gp"}) {
    CHECK_MESSAGE(std::filesystem::is_regular_file(report + "/" + f), f);
  }

  // CSV: a header and one line per run, every line with the header's fields: 4 fixed-step
  // samplers x 2 grids x 2 budgets, dopri5 at one tolerance and at its own.
  const auto csv = tweedie::test::text_lines(file_bytes(report + "/results.csv"));
  REQUIRE(csv.size() == 1 + 4 * 2 * 2 + 1 + 1);
  const auto header = csv_fields(csv[0]);
  for (const auto& l : csv) CHECK(csv_fields(l).size() == header.size());
  auto column = [&](const std::string& name) { return tweedie::test::csv_column(header, name); };
  CHECK(csv_fields(csv[1])[column("sampler")] == "euler");  // each sampler: default grid x budgets, then time-uniform
  CHECK(csv_fields(csv[5])[column("sampler")] == "heun");

  // JSON: every setting, the version, the rows.
  const auto j = nlohmann::json::parse(file_bytes(report + "/report.json"));
  CHECK(j["settings"]["count"] == 300);
  CHECK(j["settings"]["seed"] == 3);
  CHECK(j["settings"]["target"] == "builtin:ring2d");
  CHECK(j["settings"]["samplers"][2]["options"]["order"] == "3");
  CHECK(j["settings"]["reference"]["rtol"] == 1e-10);
  CHECK_FALSE(j["tweedie"]["version"].get<std::string>().empty());
  CHECK_FALSE(j["tweedie"]["commit"].get<std::string>().empty());
  REQUIRE(j["rows"].size() == csv.size() - 1);

  // euler on the time-uniform grid at 10 NFE is `tweedie sample --sampler euler --steps 10`, and
  // the reference dopri5 at rtol = atol = 1e-10 over the same span, both from the same seed.
  const auto& row = j["rows"][3];  // euler: default x {4, 10}, then time-uniform x {4, 10}
  REQUIRE(row["sampler"] == "euler");
  REQUIRE(row["grid"] == "time-uniform");
  REQUIRE(row["budget"] == "10");
  CHECK(row["steps"] == 10);
  CHECK(row["nfe_per_sample"] == 10.0);
  const std::string sample = "sample " + kProblem + " --grid time-uniform ";
  REQUIRE(run_cli(sample + "--sampler euler --steps 10 --out " + dir.file("euler.npy")).status == 0);
  REQUIRE(run_cli(sample + "--sampler dopri5 --rtol 1e-10 --atol 1e-10 --steps 1 --out " + dir.file("ref.npy")).status ==
          0);
  const tweedie::RowErrors direct =
      tweedie::ode_error(tweedie::read_npy_matrix(dir.file("euler.npy")), tweedie::read_npy_matrix(dir.file("ref.npy")));
  CHECK(row["ode_error"]["median"].get<double>() == direct.median);
  CHECK(row["ode_error"]["mean"].get<double>() == direct.mean);
  CHECK(row["ode_error"]["max"].get<double>() == direct.max);
  CHECK(std::stod(csv_fields(csv[4])[column("ode_error_median")]) == doctest::Approx(direct.median).epsilon(1e-8));

  // A stochastic sampler has no ODE error; the adaptive one reports what it spent.
  CHECK_FALSE(j["rows"][12].contains("ode_error"));
  CHECK(j["rows"][16]["grid"] == "adaptive");
  CHECK(j["rows"][16]["budget"] == "tol 0.001");
  CHECK(j["rows"][16]["nfe_per_sample"].get<double>() > 6.0);
  // The reference's own settings give the reference: ODE error 0 (the same initial points).
  CHECK(j["rows"][17]["budget"] == "own tol");
  CHECK(j["rows"][17]["ode_error"]["max"] == 0.0);
  // The exact-vs-exact floor and the Monte Carlo entropy are reported.
  CHECK(j["truths"][0]["floor"]["sw2"].get<double>() > 0.0);
  CHECK(j["truths"][0]["entropy"]["method"] == "monte carlo");

  if (!have_gnuplot()) {
    MESSAGE("gnuplot is not installed: the plots are not checked");
    CHECK(r.output.find("gnuplot not found") != std::string::npos);
    return;
  }
  for (const char* plot : {"error_vs_nfe", "sw2_vs_nfe", "samples"}) {
    const std::string png = file_bytes(fmt::format("{}/{}.png", report, plot));
    const std::string svg = file_bytes(fmt::format("{}/{}.svg", report, plot));
    CHECK_MESSAGE(tweedie::test::is_png(png), plot);
    CHECK_MESSAGE(svg.find("<svg") != std::string::npos, plot);
  }
}

TEST_CASE("compare: on EDM's Karras grid (to sigma = 0) the reference integrates the ODE, no final jump") {
  TempDir dir;
  const std::string report = dir.file("edm");
  const auto r = run_cli("compare --target builtin:ring2d --sde edm -n 50 --seed 1 --samplers heun --nfe 39 --report " +
                         report + " --reference-tol 1e-8");
  INFO(r.output);
  REQUIRE(r.status == 0);
  const auto j = nlohmann::json::parse(file_bytes(report + "/report.json"));
  REQUIRE(j["truths"].size() == 1);
  CHECK(j["truths"][0]["t_end"] == 0.0);
  // dopri5 over [T, 0] would be one denoiser jump (1 NFE); the reference stops at t = 1e-8 T.
  CHECK(j["truths"][0]["reference_nfe_per_sample"].get<double>() > 100.0);
  CHECK(j["rows"][0]["steps"] == 20);  // get_sigmas_karras(20, ...): 39 evaluations
  CHECK(j["rows"][0]["nfe_per_sample"] == 39.0);
  CHECK(j["rows"][0]["ode_error"]["median"].get<double>() < 0.05);
}
