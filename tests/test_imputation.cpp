// Imputation by replacement at the model seam: observed coordinates that select a mixture mode
// make the imputed ones follow it; the error against the closed-form conditional is measured;
// the observation is restored exactly; the JVP and the refusals.
#include "test_util.hpp"

#include <tweedie/tweedie.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <limits>

using namespace tweedie;
using tweedie::test::bitwise_equal;

namespace {

// Two modes in 2-D that coordinate 0 tells apart: (-2, -1.5) and (2, 1.5), std 0.3 (and 0.5 on
// coordinate 1 of the second).
GaussianMixture two_modes() {
  Matrix means(2, 2), stds(2, 2);
  means << -2.0, -1.5, 2.0, 1.5;
  stds << 0.3, 0.3, 0.3, 0.5;
  return GaussianMixture(Vector{{1.0, 1.0}}, means, stds);
}

// Half the samples observe x_0 = 2 (the second mode), half x_0 = -2 (the first).
Observation half_and_half(Eigen::Index n) {
  Observation o;
  o.values = Matrix::Zero(n, 2);
  o.mask = Matrix::Zero(1, 2);
  o.mask(0, 0) = 1.0;
  for (Eigen::Index i = 0; i < n; ++i) {
    o.values(i, 0) = i % 2 == 0 ? 2.0 : -2.0;
    o.values(i, 1) = std::numeric_limits<double>::quiet_NaN();  // unobserved: never read
  }
  return o;
}

}  // namespace

TEST_CASE("imputation: the imputed coordinate follows the mode the observation selects") {
  const GaussianMixture g = two_modes();
  const VpSde sde;
  const Eigen::Index n = 2000;
  const std::shared_ptr<const ScoreModel> exact = exact_model(g, sde);
  const Imputation imputed(exact, sde, half_and_half(n), 5);
  CHECK(imputed.has_jvp());
  CHECK_FALSE(imputed.has_divergence());
  CHECK(imputed.batch_invariant());
  // the replacement method is made for stochastic samplers (score_sde's PC sampler); through
  // the probability-flow ODE it is more biased, and only the majority follows the mode
  for (const auto& [name, majority] : {std::pair{std::string("em"), 0.99}, {std::string("dpm-solver++"), 0.9},
                                       {std::string("dpm-solver-adaptive"), 0.9}}) {
    CAPTURE(name);
    const auto sampler = make_sampler(name);
    SampleOptions o;
    o.num_samples = static_cast<std::size_t>(n);
    o.seed = 3;
    Matrix x = sample(sde, imputed, *sampler, make_grid(sde, {.spacing = GridSpacing::log_snr, .steps = 100}), o).samples;
    // the state's observed coordinate ends near the observation; restore_observed makes it exact
    for (Eigen::Index i = 0; i < n; ++i) CHECK(std::abs(x(i, 0) - (i % 2 == 0 ? 2.0 : -2.0)) < 0.1);
    imputed.restore_observed(0, x);
    // the closed-form conditional of x_1 given x_0 = +-2: responsibilities of N(+-2; mu_k0, 0.09)
    // are 1 - 1e-77, so x_1 | x_0 = 2 is N(1.5, 0.5^2) and x_1 | x_0 = -2 is N(-1.5, 0.3^2)
    double sum[2] = {0, 0}, sq[2] = {0, 0};
    int followed = 0;
    for (Eigen::Index i = 0; i < n; ++i) {
      const int mode = i % 2 == 0 ? 1 : 0;
      CHECK(x(i, 0) == (mode == 1 ? 2.0 : -2.0));
      followed += (x(i, 1) > 0) == (mode == 1);
      sum[mode] += x(i, 1), sq[mode] += x(i, 1) * x(i, 1);
    }
    const double half = static_cast<double>(n / 2);
    const double mean1 = sum[1] / half, std1 = std::sqrt(sq[1] / half - mean1 * mean1);
    const double mean0 = sum[0] / half, std0 = std::sqrt(sq[0] / half - mean0 * mean0);
    MESSAGE(name << ": followed the selected mode " << followed << "/" << n << "; x1 | x0=2: mean " << mean1
                 << " (exact 1.5), std " << std1 << " (exact 0.5); x1 | x0=-2: mean " << mean0
                 << " (exact -1.5), std " << std0 << " (exact 0.3)");
    CHECK(followed >= majority * static_cast<double>(n));
    CHECK(mean1 > 1.0);
    CHECK(mean0 < -1.0);
    if (name == "em") {  // the stochastic sampler: close to the conditional
      CHECK(std::abs(mean1 - 1.5) < 0.2);
      CHECK(std::abs(mean0 + 1.5) < 0.1);
      CHECK(std::abs(std1 - 0.5) < 0.1);
      CHECK(std::abs(std0 - 0.3) < 0.1);
    }
  }
}

TEST_CASE("imputation: the observed outputs are the exact conditional prediction; JVP; determinism") {
  const GaussianMixture g = two_modes();
  const CosineSde sde;
  const std::shared_ptr<const ScoreModel> exact = exact_model(g, sde);
  const Imputation imputed(exact, sde, half_and_half(40), 9);
  const Matrix x = test::Inputs(1).uniform(40, 2, -2.0, 2.0);
  const Vector t = Vector::Constant(40, 0.4);
  std::vector<std::uint64_t> samples(40);
  for (std::size_t i = 0; i < 40; ++i) samples[i] = i;
  Matrix out(40, 2);
  imputed.evaluate(ModelInput{t, x, samples}, out);
  const double a = sde.alpha(0.4), s = sde.sigma(0.4);
  for (Eigen::Index i = 0; i < 40; ++i) {
    const double y = i % 2 == 0 ? 2.0 : -2.0;
    CHECK(out(i, 0) == doctest::Approx((a * y - x(i, 0)) / (s * s)).epsilon(1e-14));
  }
  // a row's output depends on its own sample only: rows 10 .. 19 alone give the same bits
  Matrix part(10, 2);
  imputed.evaluate(ModelInput{t.segment(10, 10), x.middleRows(10, 10), std::span(samples).subspan(10, 10)}, part);
  CHECK(bitwise_equal(part, out.middleRows(10, 10)));
  // the JVP against central differences
  const Matrix v = test::Inputs(2).uniform(40, 2, -1.0, 1.0);
  Matrix j(40, 2), plus(40, 2), minus(40, 2);
  imputed.jvp(ModelInput{t, x, samples}, v, j);
  const double h = 1e-6;
  imputed.evaluate(ModelInput{t, x + h * v, samples}, plus);
  imputed.evaluate(ModelInput{t, x - h * v, samples}, minus);
  CHECK(((plus - minus) / (2 * h) - j).cwiseAbs().maxCoeff() < 1e-5);
  CHECK_THROWS_WITH_AS(imputed.evaluate(t, x, out), doctest::Contains("the rows carry no sample indices"),
                       InvalidArgument);
  std::vector<std::uint64_t> beyond(40, 40);
  CHECK_THROWS_WITH_AS(imputed.evaluate(ModelInput{t, x, beyond}, out),
                       doctest::Contains("sample 40 has no observation (the observation has 40 rows)"),
                       InvalidArgument);
}

TEST_CASE("imputation refuses a bad observation, naming what is wrong") {
  const VpSde sde;
  const std::shared_ptr<const ScoreModel> exact = exact_model(two_modes(), sde);
  Observation o = half_and_half(4);
  o.mask(0, 1) = 0.5;
  CHECK_THROWS_WITH_AS(Imputation(exact, sde, o, 0), doctest::Contains("the mask's entry (0, 1) is 0.5, not 0 or 1"),
                       InvalidArgument);
  o = half_and_half(4);
  o.values(2, 0) = std::numeric_limits<double>::infinity();
  CHECK_THROWS_WITH_AS(Imputation(exact, sde, o, 0), doctest::Contains("the observed value (2, 0) is inf"),
                       InvalidArgument);
  o = half_and_half(4);
  o.mask = Matrix::Ones(3, 2);
  CHECK_THROWS_WITH_AS(Imputation(exact, sde, o, 0), doctest::Contains("have 4 rows but the mask 3"), InvalidArgument);
  o = half_and_half(4);
  o.values = Matrix::Zero(4, 3);
  CHECK_THROWS_WITH_AS(Imputation(exact, sde, o, 0),
                       doctest::Contains("the observed values have 3 columns but the model's dimension is 2"),
                       InvalidArgument);
}
