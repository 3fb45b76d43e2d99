// The four parameterisations and Tweedie's formula between them; model adapters.
#include "test_util.hpp"

#include <tweedie/gaussian_mixture.hpp>
#include <tweedie/model.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <string>

using tweedie::GaussianMixture;
using tweedie::InvalidArgument;
using tweedie::Matrix;
using tweedie::Prediction;
using tweedie::Vector;
using tweedie::test::all_families;
using tweedie::test::family;
using tweedie::test::Inputs;

namespace {

constexpr std::array<Prediction, 4> kPredictions = {Prediction::score, Prediction::noise,
                                                    Prediction::data, Prediction::velocity};

// Reference conversions written from FORMULAS b3 in long double, through the pair (x0, eps)
// of x = alpha x0 + sigma eps: from score s, eps = -sigma s and x0 = (x + sigma^2 s)/alpha; from
// v = alpha eps - sigma x0, eps = (alpha v + sigma x)/(alpha^2 + sigma^2) and
// x0 = (alpha x - sigma v)/(alpha^2 + sigma^2). One component at a time.
long double reference(Prediction from, Prediction to, long double a, long double s, long double x,
                      long double in) {
  long double x0 = 0, eps = 0;
  switch (from) {
    case Prediction::score: eps = -s * in, x0 = (x + s * s * in) / a; break;
    case Prediction::noise: eps = in, x0 = (x - s * in) / a; break;
    case Prediction::data: x0 = in, eps = (x - a * in) / s; break;
    case Prediction::velocity:
      eps = (a * in + s * x) / (a * a + s * s), x0 = (a * x - s * in) / (a * a + s * s);
      break;
  }
  switch (to) {
    case Prediction::score: return -eps / s;
    case Prediction::noise: return eps;
    case Prediction::data: return x0;
    case Prediction::velocity: return a * eps - s * x0;
  }
  return 0;
}

// Every conversion is linear, out = c_x x + c_in in. Evaluated in double, it is exact up to a
// few roundings of the terms: its error is bounded by a few eps (|c_x x| + |c_in in|), the
// magnitude of the sum. (Where the terms cancel, e.g. data -> score at small sigma, where
// (alpha x0 - x)/sigma^2 subtracts two numbers of size |x| to get sigma^2 |s|, that is the whole
// accuracy double can give: the input x0 itself only holds |x0| eps.)
struct Linear {
  long double c_x, c_in;
};
Linear coefficients(Prediction from, Prediction to, double a, double s) {
  return {reference(from, to, a, s, 1.0L, 0.0L), reference(from, to, a, s, 0.0L, 1.0L)};
}
double magnitude(Linear c, double x, double in) {
  return static_cast<double>(std::fabs(c.c_x * x) + std::fabs(c.c_in * in));
}

// A few roundings: each conversion is at most 3 operations deep per intermediate (eps or x0)
// and 2 on top; 8 eps covers them.
constexpr double kRoundings = 8.0 * std::numeric_limits<double>::epsilon();

}  // namespace

TEST_CASE("prediction names round-trip and unknown names are refused") {
  for (Prediction p : kPredictions) CHECK(tweedie::prediction_from_string(to_string(p)) == p);
  CHECK(to_string(Prediction::velocity) == "velocity");
  CHECK_THROWS_WITH_AS(tweedie::prediction_from_string("eps"), doctest::Contains("'eps'"),
                       InvalidArgument);
  CHECK_THROWS_AS(tweedie::prediction_from_string("Score"), InvalidArgument);
  CHECK_THROWS_AS(tweedie::prediction_from_string(""), InvalidArgument);
}

TEST_CASE("convert_prediction agrees with the b3 formulas for every pair and family") {
  // Inputs: each parameterisation of the exact mixture score at several times of every family,
  // rounded to double. Expected: the long-double reference map of that double input. Bound: a
  // few roundings of the magnitude of the linear combination (see `magnitude`).
  Inputs in(21);
  const GaussianMixture g = in.mixture(3, 4);
  double worst = 0.0;  // error / magnitude
  for (const auto& sde : all_families()) {
    for (double frac : {0.0, 0.1, 0.5, 1.0}) {
      const double t = frac == 0.0 ? sde->default_t_end() : frac * sde->T();
      const double a = sde->alpha(t), s = sde->sigma(t);
      const Matrix x = in.uniform(6, 4, -3.0, 3.0) * (a + s);
      const Vector times = Vector::Constant(6, t);
      Matrix score(6, 4);
      g.score(*sde, times, x, score);
      for (Prediction from : kPredictions) {
        Matrix input(6, 4);
        for (Eigen::Index i = 0; i < x.size(); ++i) {
          input(i) = static_cast<double>(reference(Prediction::score, from, a, s, x(i), score(i)));
        }
        for (Prediction to : kPredictions) {
          Matrix out(6, 4);
          tweedie::convert_prediction(*sde, from, to, times, x, input, out);
          const Linear c = coefficients(from, to, a, s);
          for (Eigen::Index i = 0; i < x.size(); ++i) {
            const double err =
                static_cast<double>(std::fabs(out(i) - reference(from, to, a, s, x(i), input(i))));
            const double mag = magnitude(c, x(i), input(i));
            worst = std::max(worst, err / mag);
            if (err > kRoundings * mag) {
              CAPTURE(sde->name());
              CAPTURE(t);
              CAPTURE(to_string(from));
              CAPTURE(to_string(to));
              FAIL_CHECK("component " << i << ": " << out(i) << ", error " << err << " > "
                                      << kRoundings * mag);
            }
          }
        }
      }
    }
  }
  CHECK(worst <= kRoundings);  // measured: 1.3 eps
}

TEST_CASE("score -> noise -> data -> velocity -> score round-trips") {
  // Each step adds at most kRoundings times its magnitude; the error already made is carried by
  // |c_in| of the later steps (whose product over the loop is 1). Where no step cancels this is
  // a few eps relative; through data at small sigma it is eps |x| / (sigma^2 |s|) (subvp at
  // t = 1e-3: sigma^2 = 1.2e-8), which no evaluation in double can beat.
  Inputs in(22);
  const GaussianMixture g = in.mixture(4, 3);
  const Prediction chain[5] = {Prediction::score, Prediction::noise, Prediction::data,
                               Prediction::velocity, Prediction::score};
  for (const auto& sde : all_families()) {
    for (double frac : {0.0, 0.05, 0.25, 0.5, 1.0}) {
      const double t = frac == 0.0 ? sde->default_t_end() : frac * sde->T();
      const double a = sde->alpha(t), s = sde->sigma(t);
      const Matrix x = in.uniform(8, 3, -2.0, 2.0) * (a + s);
      const Vector times = Vector::Constant(8, t);
      Matrix score(8, 3), m(8, 3);
      g.score(*sde, times, x, score);
      m = score;
      Matrix bound = Matrix::Zero(8, 3);
      for (int k = 0; k < 4; ++k) {
        const Linear c = coefficients(chain[k], chain[k + 1], a, s);
        for (Eigen::Index i = 0; i < x.size(); ++i) {
          bound(i) = static_cast<double>(std::fabs(c.c_in)) * bound(i) +
                     kRoundings * magnitude(c, x(i), m(i));
        }
        tweedie::convert_prediction(*sde, chain[k], chain[k + 1], times, x, m, m);  // in place
      }
      CAPTURE(sde->name());
      CAPTURE(t);
      for (Eigen::Index i = 0; i < x.size(); ++i) CHECK(std::fabs(m(i) - score(i)) <= bound(i));
      // Where sigma^2 |s| is not small against |x| the loop is exact to 1e-12 relative.
      if (s * s >= 0.01)
        CHECK((m - score).cwiseAbs().maxCoeff() <= 1e-12 * score.cwiseAbs().maxCoeff());
    }
  }
  // Measured worst relative error: 5.1e-8, at subvp t = 1e-3 (inside its bound there).
}

TEST_CASE("Tweedie's formula gives the posterior mean E[x0 | xt] of a mixture") {
  // Independent posterior mean: for a component N(mu, diag(s0^2)),
  //   E[x0 | xt, k] = mu + a s0^2 / (a^2 s0^2 + sigma^2) (x - a mu),
  // and the mixture's is the responsibility-weighted sum, responsibilities r_k proportional to
  // w_k N(x; a mu_k, a^2 s0_k^2 + sigma^2), computed here directly. 1e-11 relative to
  // max(1, |E|): at large t the data prediction (x + sigma^2 s)/alpha divides by a small alpha.
  Inputs in(23);
  for (int k : {1, 3}) {
    const GaussianMixture g = in.mixture(k, 2);
    for (const auto& sde : all_families()) {
      for (double frac : {0.0, 0.2, 0.6}) {
        const double t = frac == 0.0 ? sde->default_t_end() : frac * sde->T();
        const double a = sde->alpha(t), s = sde->sigma(t);
        const Matrix x = in.uniform(5, 2, -2.5, 2.5) * (a + s);
        const Vector times = Vector::Constant(5, t);
        Matrix data(5, 2);
        const auto model = tweedie::exact_model(g, *sde);
        tweedie::evaluate_as(*model, *sde, Prediction::data, {times, x}, data);
        for (int i = 0; i < 5; ++i) {
          Eigen::VectorXd logr(k);
          Matrix post(k, 2);
          for (int c = 0; c < k; ++c) {
            logr(c) = std::log(g.weights()(c));
            for (int j = 0; j < 2; ++j) {
              const double s0 = g.stds()(c, j), mu = g.means()(c, j);
              const double v = a * a * s0 * s0 + s * s;
              const double r = x(i, j) - a * mu;
              logr(c) += -0.5 * std::log(v) - 0.5 * r * r / v;
              post(c, j) = mu + a * s0 * s0 / v * r;
            }
          }
          const Eigen::VectorXd w = (logr.array() - logr.maxCoeff()).exp();
          const Eigen::RowVectorXd expected = (w.transpose() * post) / w.sum();
          CAPTURE(sde->name());
          CAPTURE(t);
          CHECK((data.row(i) - expected).cwiseAbs().maxCoeff() <=
                1e-11 * std::max(1.0, expected.cwiseAbs().maxCoeff()));
        }
      }
    }
  }
}

TEST_CASE("make_model wraps a callable with its parameterisation and dimension") {
  int calls = 0;
  const auto model =
      tweedie::make_model(Prediction::noise, 3,
                          [&calls](const tweedie::ConstVectorRef& t,
                                   const tweedie::ConstMatrixRef& x, tweedie::MatrixRef out) {
                            ++calls;
                            out = x;
                            out.col(0) += t;
                          });
  CHECK(model->prediction() == Prediction::noise);
  CHECK(model->dim() == 3);
  const Matrix x = Matrix::Ones(2, 3);
  Vector t(2);
  t << 0.5, 0.25;
  Matrix out(2, 3);
  model->evaluate(t, x, out);
  CHECK(calls == 1);
  CHECK(out(0, 0) == 1.5);
  CHECK(out(1, 0) == 1.25);
  CHECK(out(1, 2) == 1.0);
  CHECK_THROWS_WITH_AS(tweedie::make_model(Prediction::score, 2, nullptr),
                       doctest::Contains("empty"), InvalidArgument);
}

TEST_CASE("evaluate_as converts a model's output to the wanted parameterisation") {
  // A data-predicting model for N(mu, s0^2 I) data: its posterior mean in closed form. Asked for
  // the score, evaluate_as must return the exact score -(x - a mu)/(a^2 s0^2 + sigma^2).
  const double mu = 0.7, s0 = 0.4;
  for (const auto& sde : all_families()) {
    const tweedie::Sde& ref = *sde;
    const auto model = tweedie::make_model(
        Prediction::data, 0,
        [&ref, mu, s0](const tweedie::ConstVectorRef& t, const tweedie::ConstMatrixRef& x,
                       tweedie::MatrixRef out) {
          for (Eigen::Index i = 0; i < x.rows(); ++i) {
            const double a = ref.alpha(t(i)), s = ref.sigma(t(i));
            const double gain = a * s0 * s0 / (a * a * s0 * s0 + s * s);
            out.row(i) = (mu + gain * (x.row(i).array() - a * mu)).matrix();
          }
        });
    Vector t(3);
    t << 0.2 * sde->T(), 0.5 * sde->T(), sde->default_t_end();
    const Matrix x = Inputs(24).uniform(3, 2, -2.0, 2.0);
    Matrix score(3, 2), same(3, 2);
    tweedie::evaluate_as(*model, *sde, Prediction::score, {t, x}, score);
    for (int i = 0; i < 3; ++i) {
      const double a = sde->alpha(t(i)), s = sde->sigma(t(i));
      const double v = a * a * s0 * s0 + s * s;
      for (int j = 0; j < 2; ++j) {
        CAPTURE(sde->name());
        CAPTURE(t(i));
        // Through x0 and back: (a x0 - x)/sigma^2 cancels to about eps |x| / sigma^2.
        CHECK(std::fabs(score(i, j) + (x(i, j) - a * mu) / v) <=
              1e-12 * (std::fabs(x(i, j)) + 1.0) / (s * s));
      }
    }
    // Asking for what the model predicts returns its output unchanged.
    tweedie::evaluate_as(*model, *sde, Prediction::data, {t, x}, same);
    Matrix direct(3, 2);
    model->evaluate(t, x, direct);
    CHECK(tweedie::test::bitwise_equal(same, direct));
  }
}
