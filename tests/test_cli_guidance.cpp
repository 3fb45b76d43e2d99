// The decorator flags: --guidance, --classifier exact, --x0-clip, --threshold, --round-to,
// --observe/--mask, on the subcommands that evaluate the model; tweedie info's stack. (The
// refusals are in the catalogue, tests/test_cli_catalogue.cpp.)
#include "cli_util.hpp"
#include "test_util.hpp"

#include <tweedie/tweedie.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <string>

using tweedie::Matrix;
using tweedie::read_npy_matrix;
using tweedie::test::bitwise_equal;
using tweedie::test::run_cli;
using tweedie::test::TempDir;

namespace {

// Class 0 at (-4, -2), class 1 at (4, 2): the first coordinate tells the classes apart.
std::string write_target(const TempDir& dir) {
  const std::string path = dir.file("labelled.json");
  std::ofstream(path) << R"({"weights": [1, 1], "means": [[-4.0, -2.0], [4.0, 2.0]], "stds": [[0.2, 0.3], [0.2, 0.3]],
                            "classes": [0, 1]})";
  return path;
}

Matrix run_sample(const std::string& args, const std::string& out) {
  const auto r = run_cli(args + " --out " + out);
  INFO(r.output);
  REQUIRE(r.status == 0);
  return read_npy_matrix(out);
}

}  // namespace

TEST_CASE("tweedie sample --guidance: 1 is the conditional and 0 the unconditional, bitwise") {
  TempDir dir;
  const std::string common =
      fmt::format("sample --target {} --sampler dpm-solver++ --steps 15 --grid log-snr --seed 4 -n 50 ", write_target(dir));
  const Matrix conditional = run_sample(common + "--class 1", dir.file("c.npy"));
  const Matrix unconditional = run_sample(common, dir.file("u.npy"));
  CHECK(bitwise_equal(run_sample(common + "--class 1 --guidance 1", dir.file("g1.npy")), conditional));
  CHECK(bitwise_equal(run_sample(common + "--class 1 --guidance 0", dir.file("g0.npy")), unconditional));
  const Matrix guided = run_sample(common + "--class 0 --guidance 3", dir.file("g3.npy"));
  CHECK(guided.col(0).maxCoeff() < -2.0);
  const Matrix classifier = run_sample(common + "--class 1 --classifier exact --classifier-scale 1", dir.file("cl.npy"));
  CHECK(classifier.col(0).minCoeff() > 2.0);
  CHECK((classifier - conditional).cwiseAbs().maxCoeff() < 1e-8);  // the conditional, to rounding
}

TEST_CASE("tweedie sample --guidance S --unconditional FILE: classifier-free guidance over a pair of networks") {
  TempDir dir;
  const std::string conditional = fmt::format("{}/mlp/edm_precond.f64.safetensors", TWEEDIE_TEST_DATA);
  const std::string unconditional = fmt::format("{}/mlp/edm_unconditional.f64.safetensors", TWEEDIE_TEST_DATA);
  const std::string common = "sample --sampler heun --steps 6 --seed 2 -n 7 ";
  const std::string pair = fmt::format("--model {} --class 1 --unconditional {} ", conditional, unconditional);
  const Matrix plain = run_sample(common + "--model " + conditional + " --class 1", dir.file("c.npy"));
  const Matrix one = run_sample(common + pair + "--guidance 1", dir.file("p1.npy"));
  CHECK(bitwise_equal(one, plain));  // scale 1 is the conditional model, bitwise
  // Scale 0 is the unconditional network (its noise prediction converted to data, hence rounding).
  const Matrix alone = run_sample(common + "--model " + unconditional, dir.file("u.npy"));
  const Matrix zero = run_sample(common + pair + "--guidance 0", dir.file("p0.npy"));
  CHECK((zero - alone).cwiseAbs().maxCoeff() < 1e-9);
  const Matrix two = run_sample(common + pair + "--guidance 2", dir.file("p2.npy"));
  CHECK((two - plain).cwiseAbs().maxCoeff() > 1e-3);
  const auto info = run_cli(fmt::format("info {}--guidance 2", pair));
  INFO(info.output);
  CHECK(info.status == 0);
  CHECK(info.output.find("classifier-free guidance (scale 2, a conditional and an unconditional model, two calls)") !=
        std::string::npos);
}

TEST_CASE("tweedie sample with x0 hooks: clipping, thresholding, rounding to an embedding table") {
  TempDir dir;
  const std::string common =
      fmt::format("sample --target {} --sampler dpm-solver++ --steps 15 --grid log-snr --seed 4 -n 40 ", write_target(dir));
  // --denoise returns the last x0 prediction, which the hook has put in [-1, 1]
  const Matrix clipped = run_sample(common + "--denoise --x0-clip", dir.file("clip.npy"));
  CHECK(clipped.cwiseAbs().maxCoeff() <= 1.0);
  CHECK(clipped.cwiseAbs().maxCoeff() == 1.0);  // the modes at +-4 are clipped
  const Matrix thresholded = run_sample(common + "--denoise --threshold 0.995,1", dir.file("thr.npy"));
  CHECK(thresholded.cwiseAbs().maxCoeff() <= 1.0);  // clamp(x0, -s, s) / s lies in [-1, 1]
  tweedie::write_npy(dir.file("emb.npy"), Matrix{{-3.0}, {0.5}, {3.0}});
  const Matrix rounded = run_sample(common + "--denoise --round-to " + dir.file("emb.npy"), dir.file("round.npy"));
  for (Eigen::Index i = 0; i < rounded.size(); ++i) {
    const double v = rounded.data()[i];
    CHECK((v == -3.0 || v == 0.5 || v == 3.0));  // the denoised x0 is a table row exactly
  }
  // Stacked: clipping to [-1, 1] first, then rounding, whose nearest row to any clipped value is
  // 0.5 (rounding first and clipping after would give -1, 0.5 and 1).
  const Matrix both = run_sample(common + "--denoise --round-to " + dir.file("emb.npy") + " --x0-clip", dir.file("both.npy"));
  CHECK((both.array() == 0.5).all());
  const auto info = run_cli(fmt::format("info --target {} --threshold 0.995 --x0-clip --round-to {}", write_target(dir),
                                        dir.file("emb.npy")));
  INFO(info.output);
  REQUIRE(info.status == 0);
  const auto round = info.output.find("nearest-embedding rounding"), clip = info.output.find("static clipping"),
             threshold = info.output.find("dynamic thresholding");
  REQUIRE(threshold != std::string::npos);
  CHECK((round < clip && clip < threshold));  // outermost first: rounding applies last
}

TEST_CASE("tweedie sample --observe --mask imputes the free coordinates and keeps the observed ones") {
  TempDir dir;
  tweedie::write_npy(dir.file("y.npy"), Matrix{{4.0, 0.0}});
  tweedie::write_npy(dir.file("m.npy"), Matrix{{1.0, 0.0}});
  const Matrix x = run_sample(fmt::format("sample --target {} --sampler em --steps 100 --seed 2 -n 100 --observe {} --mask {}",
                                          write_target(dir), dir.file("y.npy"), dir.file("m.npy")),
                              dir.file("x.npy"));
  CHECK((x.col(0).array() == 4.0).all());
  CHECK(x.col(1).mean() == doctest::Approx(2.0).epsilon(0.1));  // the class-1 mode's second coordinate
  CHECK(x.col(1).minCoeff() > 0.5);
}

TEST_CASE("tweedie info lists the decorator stack with its capabilities") {
  TempDir dir;
  const auto r = run_cli(fmt::format("info --target {} --class 1 --guidance 2 --threshold 0.9,1.5", write_target(dir)));
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("prediction score, divergence yes, JVP yes, VJP no, batch-invariant yes") != std::string::npos);
  CHECK(r.output.find("decorators, outermost first:\n  dynamic thresholding (ratio 0.9, max 1.5) of the data "
                      "prediction: prediction data, divergence no, JVP no") != std::string::npos);
  CHECK(r.output.find("  classifier-free guidance (scale 2, conditional and null-class rows in one call of 2n rows): "
                      "prediction score, divergence yes, JVP yes") != std::string::npos);
}

TEST_CASE("the decorators apply to elbo and likelihood too") {
  TempDir dir;
  const std::string target = write_target(dir);
  tweedie::write_npy(dir.file("d.npy"), Matrix{{4.0, 2.0}, {3.9, 2.1}});
  const auto cfg = run_cli(fmt::format("likelihood --target {} --data {} --class 1 --guidance 1 --out {}", target,
                                       dir.file("d.npy"), dir.file("l1.npy")));
  INFO(cfg.output);
  REQUIRE(cfg.status == 0);
  const auto plain = run_cli(fmt::format("likelihood --target {} --data {} --class 1 --out {}", target,
                                         dir.file("d.npy"), dir.file("l0.npy")));
  REQUIRE(plain.status == 0);
  CHECK(bitwise_equal(read_npy_matrix(dir.file("l1.npy")), read_npy_matrix(dir.file("l0.npy"))));
  const auto elbo = run_cli(fmt::format("elbo --target {} --data {} --class 1 --guidance 2 --draws 4 --out {}", target,
                                        dir.file("d.npy"), dir.file("e.npy")));
  INFO(elbo.output);
  CHECK(elbo.status == 0);
}
