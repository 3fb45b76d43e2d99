// tweedie compare --model: a shipped network against its own tight PF-ODE solution and --data
// rows; the NLL columns empty, the ODE error recomputed from `tweedie sample`, the image grid of
// the 8x8 digits model (its bad inputs are in test_cli_catalogue).
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

using tweedie::test::csv_column;
using tweedie::test::csv_fields;
using tweedie::test::file_bytes;
using tweedie::test::run_cli;
using tweedie::test::TempDir;

namespace {

std::string shipped(const std::string& file) { return fmt::format("{}/{}", TWEEDIE_MODELS, file); }

}  // namespace

TEST_CASE("compare --model: the report of a shipped 2-D model against --data, its ODE error recomputed") {
  TempDir dir;
  // A small --data file: 2n = 40 held-out rows of the ring model's data. The model's PF-ODE is
  // stiff near t_end (dopri5 takes about 1100 NFE per sample at 1e-6): few samples keep it quick.
  const tweedie::Matrix heldout = tweedie::read_npy_matrix(shipped("ring.heldout.npy"));
  tweedie::write_npy(dir.file("data.npy"), heldout.topRows(40));
  const std::string problem = fmt::format("--model {} -n 20 --seed 5 --threads 2", shipped("ring.safetensors"));
  const std::string report = dir.file("report");
  const auto r = run_cli(fmt::format(
      "compare {} --data {} --samplers euler,em,dopri5:rtol=1e-6:atol=1e-6 --grids time-uniform --nfe 4,10 "
      "--reference-tol 1e-6 --report {}",
      problem, dir.file("data.npy"), report));
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("| NLL |") != std::string::npos);
  CHECK(r.output.find("n/a") != std::string::npos);
  CHECK(r.output.find("NLL and entropy n/a") != std::string::npos);  // the report says why

  // CSV: euler and em x 2 budgets, dopri5 once; the NLL and entropy fields empty, not 0.
  const auto csv = tweedie::test::text_lines(file_bytes(report + "/results.csv"));
  REQUIRE(csv.size() == 1 + 2 * 2 + 1);
  const auto header = csv_fields(csv[0]);
  for (std::size_t i = 1; i < csv.size(); ++i) {
    const auto fields = csv_fields(csv[i]);
    REQUIRE(fields.size() == header.size());
    for (const char* empty : {"nll", "nll_se", "entropy", "entropy_se"}) CHECK(fields[csv_column(header, empty)].empty());
    CHECK(std::stod(fields[csv_column(header, "sw2")]) > 0.0);
    CHECK(std::stod(fields[csv_column(header, "sw2_floor")]) > 0.0);
  }

  const auto j = nlohmann::json::parse(file_bytes(report + "/report.json"));
  CHECK(j["settings"]["target"].is_null());
  CHECK(j["settings"]["model"] == shipped("ring.safetensors"));
  CHECK(j["settings"]["data"] == dir.file("data.npy"));
  CHECK(j["settings"]["data_rows"] == 40);
  CHECK(j["settings"]["sde"]["family"] == "vp");
  REQUIRE(j["truths"].size() == 1);
  CHECK(j["truths"][0]["entropy"].is_null());
  REQUIRE(j["rows"].size() == 5);
  for (const auto& row : j["rows"]) CHECK(row["nll"].is_null());

  // euler at 10 NFE is `tweedie sample --sampler euler --steps 10` of the same model and seed,
  // and the reference its dopri5 at rtol = atol = 1e-6 over the same span.
  const auto& euler = j["rows"][1];
  REQUIRE(euler["sampler"] == "euler");
  REQUIRE(euler["budget"] == "10");
  const std::string sample = "sample " + problem + " --grid time-uniform ";
  REQUIRE(run_cli(sample + "--sampler euler --steps 10 --out " + dir.file("euler.npy")).status == 0);
  REQUIRE(run_cli(sample + "--sampler dopri5 --rtol 1e-6 --atol 1e-6 --steps 1 --out " + dir.file("ref.npy")).status ==
          0);
  const tweedie::RowErrors direct =
      tweedie::ode_error(tweedie::read_npy_matrix(dir.file("euler.npy")), tweedie::read_npy_matrix(dir.file("ref.npy")));
  CHECK(direct.median > 0.0);
  CHECK(euler["ode_error"]["median"].get<double>() == direct.median);
  CHECK(euler["ode_error"]["max"].get<double>() == direct.max);
  // The stochastic em has no ODE error; dopri5 at the reference's own settings is the reference.
  CHECK_FALSE(j["rows"][2].contains("ode_error"));
  REQUIRE(j["rows"][4]["budget"] == "own tol");
  CHECK(j["rows"][4]["ode_error"]["max"] == 0.0);
}

TEST_CASE("compare --model on the 8x8 digits model: a grid of sample images beside the --data rows") {
  TempDir dir;
  const std::string report = dir.file("digits");
  const auto r = run_cli(fmt::format(
      "compare --model {} --data {} -n 16 --seed 2 --threads 2 --samplers dpm-solver++ --nfe 4,8 --reference-tol 1e-6 "
      "--report {}",
      shipped("digits.safetensors"), shipped("digits.heldout.npy"), report));
  INFO(r.output);
  REQUIRE(r.status == 0);
  // The panels' data: the --data rows' mosaic and the sampler's, room for 8 images of 8 pixels
  // (and 7 blank ones) a side, 16 of them drawn: 2 rows of 8 images.
  const auto mosaic = tweedie::test::text_lines(file_bytes(report + "/data/images_0.dat"));
  REQUIRE(mosaic.size() == 8 * 9 - 1);
  const auto blank = [](const std::string& line) { return line.find_first_not_of("NaN ") == std::string::npos; };
  CHECK_FALSE(blank(mosaic[0]));
  CHECK_FALSE(blank(mosaic[2 * 9 - 2]));
  CHECK(blank(mosaic[2 * 9 - 1]));
  CHECK(tweedie::test::text_lines(file_bytes(report + "/data/images_truth.dat")).size() == mosaic.size());
  if (!tweedie::test::have_gnuplot()) {
    MESSAGE("gnuplot is not installed: the image grid is not checked");
    CHECK(r.output.find("gnuplot not found") != std::string::npos);
    return;
  }
  CHECK(r.output.find("error_vs_nfe, sw2_vs_nfe, images as .png and .svg") != std::string::npos);
  CHECK(tweedie::test::is_png(file_bytes(report + "/images.png")));
  CHECK(file_bytes(report + "/images.svg").find("<svg") != std::string::npos);
}
