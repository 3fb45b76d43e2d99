// x0 hooks: dynamic thresholding against DPM-Solver's dynamic_thresholding_fn run by torch
// (tests/data/thresholding/make_golden.py), static clipping, nearest-embedding rounding to exact
// table rows, callbacks, and the capabilities the decorator drops.
#include "guidance_util.hpp"
#include "test_util.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <limits>

using namespace tweedie;
using tweedie::test::bitwise_equal;

namespace {

// A data-predicting model whose x0 is the given callable of (t, x): the hook then sees exactly
// what the test chose.
std::shared_ptr<const ScoreModel> data_model(Eigen::Index dim, std::function<void(const ModelInput&, MatrixRef)> fn) {
  FunctionModelTraits traits;
  traits.prediction = Prediction::data;
  traits.dim = dim;
  traits.batch_invariant = true;
  return make_model(traits, std::move(fn));
}

}  // namespace

TEST_CASE("dynamic thresholding equals DPM-Solver's dynamic_thresholding_fn (torch.quantile) bitwise") {
  const VpSde sde;
  for (int d : {1, 2, 7, 64}) {
    const Matrix x0 = read_npy_matrix(fmt::format("{}/thresholding/x{}.npy", TWEEDIE_TEST_DATA, d), "x");
    for (auto [ratio, max_val] : {std::pair{0.995, 1.0}, {0.9, 1.0}, {0.5, 0.7}, {0.0, 1.0}, {1.0, 2.0}}) {
      CAPTURE(d);
      CAPTURE(ratio);
      const Matrix want = read_npy_matrix(
          fmt::format("{}/thresholding/out{}_{}_{}.npy", TWEEDIE_TEST_DATA, d, ratio == 0.0 || ratio == 1.0
                                                                                    ? fmt::format("{:.1f}", ratio)
                                                                                    : fmt::format("{}", ratio),
                      fmt::format("{:.1f}", max_val)),
          "out");
      // through the decorator: the model predicts x0, the hook replaces it
      const auto model = apply_x0_hook(data_model(d, [&](const ModelInput&, MatrixRef out) { out = x0; }),
                                       dynamic_threshold(ratio, max_val), sde);
      Matrix got(x0.rows(), x0.cols());
      model->evaluate(Vector::Constant(x0.rows(), 0.5), Matrix::Zero(x0.rows(), x0.cols()), got);
      CHECK(bitwise_equal(got, want));
    }
  }
  CHECK(dynamic_threshold()->description() == "dynamic thresholding (ratio 0.995, max 1)");
  CHECK_THROWS_WITH_AS(dynamic_threshold(1.5), doctest::Contains("ratio must be in [0, 1]"), InvalidArgument);
  CHECK_THROWS_WITH_AS(dynamic_threshold(0.9, 0.0), doctest::Contains("max value must be finite and > 0"),
                       InvalidArgument);
}

TEST_CASE("static clipping clamps x0 to [-bound, bound] and leaves the rest") {
  const VeSde sde;
  const Matrix x0 = test::Inputs(5).uniform(40, 4, -3.0, 3.0);
  const auto model =
      apply_x0_hook(data_model(4, [&](const ModelInput&, MatrixRef out) { out = x0; }), static_clip(1.5), sde);
  Matrix got(40, 4);
  model->evaluate(Vector::Constant(40, 1.0), Matrix::Zero(40, 4), got);
  for (Eigen::Index i = 0; i < 40; ++i) {
    for (Eigen::Index j = 0; j < 4; ++j) {
      const double v = x0(i, j);
      CHECK(got(i, j) == (v > 1.5 ? 1.5 : v < -1.5 ? -1.5 : v));
    }
  }
  CHECK_THROWS_AS(static_clip(0.0), InvalidArgument);
}

TEST_CASE("nearest-embedding rounding returns the nearest table row of each position exactly") {
  const VpSde sde;
  test::Inputs in(8);
  const Matrix table = in.uniform(11, 3, -1.0, 1.0);  // 11 words, embedding width 3
  const std::shared_ptr<const ScoreModel> exact = exact_model(in.mixture(3, 12), sde);  // 4 positions
  const auto rounded = apply_x0_hook(exact, nearest_embedding(table), sde);
  CHECK(rounded->prediction() == Prediction::data);
  const Matrix x = in.uniform(25, 12, -2.0, 2.0);
  const Vector t = Vector::Constant(25, 0.3);
  Matrix x0(25, 12), got(25, 12);
  evaluate_as(*exact, sde, Prediction::data, ModelInput{t, x}, x0);
  rounded->evaluate(t, x, got);
  for (Eigen::Index i = 0; i < 25; ++i) {
    for (Eigen::Index p = 0; p < 12; p += 3) {
      Eigen::Index nearest = 0;
      for (Eigen::Index k = 1; k < 11; ++k) {
        if ((x0.row(i).segment(p, 3) - table.row(k)).norm() < (x0.row(i).segment(p, 3) - table.row(nearest)).norm()) {
          nearest = k;
        }
      }
      CHECK(bitwise_equal(got.row(i).segment(p, 3), table.row(nearest)));
    }
  }
  CHECK_THROWS_WITH_AS(apply_x0_hook(exact_model(in.mixture(2, 4), sde), nearest_embedding(table), sde),
                       doctest::Contains("dimension 4 is not a multiple of the embedding width 3"), InvalidArgument);
  Matrix bad = table;
  bad(2, 1) = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_WITH_AS(nearest_embedding(bad), doctest::Contains("non-finite"), InvalidArgument);
}

TEST_CASE("an x0 callback sees the rows' input; hooks drop the derivatives and say so") {
  const CosineSde sde;
  const GaussianMixture g = test::labelled_mixture();
  const std::shared_ptr<const ScoreModel> exact = exact_model(g, sde);
  std::shared_ptr<const ScoreModel> hooked = apply_x0_hook(
      exact,
      x0_callback("halve class 1",
                  [](const ModelInput& in, MatrixRef x0) {
                    for (Eigen::Index i = 0; i < x0.rows(); ++i) {
                      if (in.label(i, 3) == 1) x0.row(i) *= 0.5;
                    }
                  }),
      sde);
  CHECK(hooked->conditioning().classes == 3);
  CHECK_FALSE(hooked->batch_invariant());  // a callback is not declared batch-invariant
  CHECK_FALSE(hooked->has_jvp());
  CHECK_FALSE(hooked->has_divergence());
  CHECK_FALSE(hooked->has_vjp());
  const Matrix x = test::Inputs(2).uniform(4, 3, -1.0, 1.0);
  const Vector t = Vector::Constant(4, 0.5);
  const std::vector<int> labels{0, 1, 2, 1};
  Matrix want(4, 3), got(4, 3);
  evaluate_as(*exact, sde, Prediction::data, ModelInput{t, x, {}, labels}, want);
  hooked->evaluate(ModelInput{t, x, {}, labels}, got);
  CHECK(bitwise_equal(got.row(0), want.row(0)));
  CHECK(bitwise_equal(got.row(1), 0.5 * want.row(1)));
  // the stack, outermost first, with what each level offers
  const auto guided = classifier_free_guidance(hooked, 2.0);
  const auto lines = describe_stack(*guided);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].starts_with("classifier-free guidance (scale 2"));
  CHECK(lines[1] == "halve class 1 of the data prediction: prediction data, divergence no, JVP no, VJP no, "
                    "batch-invariant no");
  CHECK(describe_stack(*exact).empty());
  // the exact-divergence likelihood names the decorator that dropped the derivatives
  LikelihoodOptions lo;
  const Matrix data = test::Inputs(6).uniform(2, 3, -1.0, 1.0);
  const auto thresholded = apply_x0_hook(exact, dynamic_threshold(), sde);
  CHECK_THROWS_WITH_AS(log_likelihood(sde, *thresholded, data, lo),
                       doctest::Contains("dynamic thresholding (ratio 0.995, max 1) of the data prediction"),
                       InvalidArgument);
  lo.divergence = Divergence::hutchinson;  // central differences still work
  CHECK(log_likelihood(sde, *thresholded, data, lo).log_likelihood.allFinite());
}
