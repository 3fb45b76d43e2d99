// Gaussian mixtures, the exact ground truth of the other tests: score, log-density, divergence,
// moments and samples against independent computations; target files; bitwise invariances.
#include "test_util.hpp"

#include <tweedie/gaussian_mixture.hpp>
#include <tweedie/random.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <numbers>
#include <string>
#include <vector>

using tweedie::GaussianMixture;
using tweedie::InvalidArgument;
using tweedie::Matrix;
using tweedie::Vector;
using tweedie::test::all_families;
using tweedie::test::bitwise_equal;
using tweedie::test::family;
using tweedie::test::Inputs;
using tweedie::test::rel_error;

namespace {

// Smallest standard deviation of a component of p_t: the length scale of its features.
double smallest_std(const GaussianMixture& g, double a, double s) {
  return std::sqrt(a * a * g.stds().array().square().minCoeff() + s * s);
}

// log p_t(x) evaluated directly: log sum_k w_k prod_j N(x_j; a mu_kj, a^2 s_kj^2 + sigma^2), with
// a log-sum-exp over components.
double direct_log_density(const GaussianMixture& g, double a, double s,
                          const Eigen::Ref<const Eigen::RowVectorXd>& x) {
  std::vector<double> terms;
  for (Eigen::Index k = 0; k < g.components(); ++k) {
    double l = std::log(g.weights()(k));
    for (Eigen::Index j = 0; j < g.dim(); ++j) {
      const double v = a * a * g.stds()(k, j) * g.stds()(k, j) + s * s;
      const double r = x(j) - a * g.means()(k, j);
      l += -0.5 * std::log(2.0 * std::numbers::pi * v) - 0.5 * r * r / v;
    }
    terms.push_back(l);
  }
  const double top = *std::max_element(terms.begin(), terms.end());
  double sum = 0.0;
  for (double l : terms) sum += std::exp(l - top);
  return top + std::log(sum);
}

// Test points spread over the bulk and the shoulders of p_t.
Matrix spread_points(Inputs& in, const GaussianMixture& g, double a, double s, int n) {
  return in.uniform(n, g.dim(), -1.0, 1.0) * (3.0 * a + 2.0 * s + 0.5);
}

struct Case {
  int k, d;
};

}  // namespace

TEST_CASE("mixture score equals central differences of the log-density") {
  // h = 1e-5 times the smallest component std of p_t (its shortest length scale L): truncation
  // (h/L)^2 |log p|''' L^3 ~ 1e-10 of the score scale 1/L (with mean separations up to 4/L:
  // 1e-8), rounding eps |log p| / h ~ 1e-10 of it. Errors are relative to |score|_inf + 1/L, the
  // score's natural scale. Measured worst: 4.2e-10; bound 1e-6.
  Inputs in(11);
  double worst = 0.0;
  for (const Case c : {Case{1, 1}, Case{3, 1}, Case{4, 3}, Case{2, 8}, Case{5, 8}}) {
    const GaussianMixture g = in.mixture(c.k, c.d);
    for (const auto& sde : all_families()) {
      for (double frac : {0.0, 0.05, 0.3, 0.8}) {
        const double t = frac == 0.0 ? sde->default_t_end() : frac * sde->T();
        const double a = sde->alpha(t), s = sde->sigma(t);
        const double L = smallest_std(g, a, s), h = 1e-5 * L;
        constexpr int n = 6;
        const Matrix x = spread_points(in, g, a, s, n);
        Matrix score(n, c.d);
        g.score(*sde, Vector::Constant(n, t), x, score);
        Matrix shifted(2 * n * c.d, c.d);
        for (int i = 0; i < n; ++i) {
          for (int j = 0; j < c.d; ++j) {
            shifted.row(2 * (i * c.d + j)) = x.row(i);
            shifted.row(2 * (i * c.d + j) + 1) = x.row(i);
            shifted(2 * (i * c.d + j), j) += h;
            shifted(2 * (i * c.d + j) + 1, j) -= h;
          }
        }
        Vector logp(shifted.rows());
        g.log_density(*sde, Vector::Constant(shifted.rows(), t), shifted, logp);
        for (int i = 0; i < n; ++i) {
          const double scale = score.row(i).cwiseAbs().maxCoeff() + 1.0 / L;
          for (int j = 0; j < c.d; ++j) {
            const double fd = (logp(2 * (i * c.d + j)) - logp(2 * (i * c.d + j) + 1)) / (2.0 * h);
            const double err = std::fabs(fd - score(i, j)) / scale;
            worst = std::max(worst, err);
            if (err > 1e-6) {
              CAPTURE(sde->name());
              CAPTURE(t);
              CAPTURE(c.d);
              FAIL_CHECK("score(" << i << ", " << j << ") = " << score(i, j) << ", FD " << fd);
            }
          }
        }
      }
    }
  }
  CHECK(worst <= 1e-6);
}

TEST_CASE("mixture score divergence equals central differences of the score") {
  // Same step and scale argument as above, one derivative lower: the natural scale of the
  // divergence is d / L^2 (plus |div|). Measured worst: 1.0e-10; bound 1e-6.
  Inputs in(12);
  double worst = 0.0;
  for (const Case c : {Case{1, 1}, Case{3, 1}, Case{4, 3}, Case{5, 8}}) {
    const GaussianMixture g = in.mixture(c.k, c.d);
    for (const auto& sde : all_families()) {
      for (double frac : {0.0, 0.05, 0.3, 0.8}) {
        const double t = frac == 0.0 ? sde->default_t_end() : frac * sde->T();
        const double a = sde->alpha(t), s = sde->sigma(t);
        const double L = smallest_std(g, a, s), h = 1e-5 * L;
        constexpr int n = 5;
        const Matrix x = spread_points(in, g, a, s, n);
        Vector div(n);
        g.score_divergence(*sde, Vector::Constant(n, t), x, div);
        for (int i = 0; i < n; ++i) {
          double fd = 0.0;
          for (int j = 0; j < c.d; ++j) {
            Matrix pm(2, c.d);
            pm.row(0) = x.row(i);
            pm.row(1) = x.row(i);
            pm(0, j) += h;
            pm(1, j) -= h;
            Matrix sc(2, c.d);
            g.score(*sde, Vector::Constant(2, t), pm, sc);
            fd += (sc(0, j) - sc(1, j)) / (2.0 * h);
          }
          const double err = std::fabs(fd - div(i)) / (std::fabs(div(i)) + c.d / (L * L));
          worst = std::max(worst, err);
          CAPTURE(sde->name());
          CAPTURE(t);
          CHECK(err <= 1e-6);
        }
      }
    }
  }
  CHECK(worst <= 1e-6);
}

TEST_CASE("mixture log-density equals the direct sum over components") {
  // The library evaluates it as a matrix product; the direct sum is an independent path. Both
  // are a few roundings of values of order d log(...) and |x|^2/v: 1e-12 relative to
  // max(1, |log p|).
  Inputs in(13);
  for (const Case c : {Case{1, 1}, Case{1, 8}, Case{3, 2}, Case{6, 5}}) {
    const GaussianMixture g = in.mixture(c.k, c.d);
    for (const auto& sde : all_families()) {
      for (double frac : {0.0, 0.2, 1.0}) {
        const double t = frac == 0.0 ? sde->default_t_end() : frac * sde->T();
        const double a = sde->alpha(t), s = sde->sigma(t);
        const Matrix x = spread_points(in, g, a, s, 8);
        Vector logp(8);
        g.log_density(*sde, Vector::Constant(8, t), x, logp);
        for (int i = 0; i < 8; ++i) {
          const double expected = direct_log_density(g, a, s, x.row(i));
          CAPTURE(sde->name());
          CAPTURE(t);
          CHECK(std::fabs(logp(i) - expected) <= 1e-12 * std::max(1.0, std::fabs(expected)));
        }
      }
    }
  }
}

TEST_CASE("a one-component mixture is the closed-form Gaussian") {
  // K = 1: log N(x; a mu, diag(a^2 s^2 + sigma^2)), score -(x - a mu)/v, divergence -sum 1/v.
  // Relative 1e-13: each side is a few roundings.
  Inputs in(14);
  const GaussianMixture g = in.mixture(1, 4);
  for (const auto& sde : all_families()) {
    const double t = 0.37 * sde->T();
    const double a = sde->alpha(t), s = sde->sigma(t);
    const Matrix x = spread_points(in, g, a, s, 5);
    const Eigen::RowVectorXd v = (a * a * g.stds().row(0).array().square() + s * s).matrix();
    Vector logp(5), div(5);
    Matrix score(5, 4);
    const Vector times = Vector::Constant(5, t);
    g.log_density(*sde, times, x, logp);
    g.score(*sde, times, x, score);
    g.score_divergence(*sde, times, x, div);
    for (int i = 0; i < 5; ++i) {
      CAPTURE(sde->name());
      double expected = 0.0;
      for (int j = 0; j < 4; ++j) {
        const double r = x(i, j) - a * g.means()(0, j);
        expected += -0.5 * std::log(2.0 * std::numbers::pi * v(j)) - 0.5 * r * r / v(j);
        // The score's natural scale is 1/v (it vanishes at the mean): absolute 1e-13 (|r| + 1)/v.
        CHECK(std::fabs(score(i, j) + r / v(j)) <= 1e-13 * (std::fabs(r) + 1.0) / v(j));
      }
      CHECK(rel_error(logp(i), expected) <= 1e-13);
      CHECK(rel_error(div(i), -v.cwiseInverse().sum()) <= 1e-13);
    }
  }
}

TEST_CASE("extreme variances: the log-normaliser's direct products and its split entries agree") {
  // Rows at their own times multiply the variances themselves when a component's extremes bound
  // every entry within 2^+-250, and split each entry into mantissa and exponent otherwise (the
  // shared tables always split). Components with stds 1e80 (variance 1e160, beyond 2^250) and
  // 1e-80 (below 2^-250 at times near 1e-80, where sigma^2 is about 1e-81) next to ordinary
  // ones: the own-time rows equal the rows alone bitwise, and the log-density equals the closed
  // form of each component, summed directly, to 1e-13 relative.
  const Vector w = (Vector(3) << 1.0, 2.0, 3.0).finished();
  Matrix means(3, 5), stds(3, 5);
  means << 0.5, -1.0, 2.0, 0.0, 1.0,  //
      -2.0, 0.3, 0.1, -0.4, 1.5,      //
      1.0, 1.0, -1.0, 2.0, 0.0;
  stds << 1e80, 0.5, 1.0, 2.0, 0.7,  //
      1e-80, 0.9, 1.1, 0.3, 0.6,     //
      0.4, 0.8, 1.2, 0.5, 1.0;
  const GaussianMixture g(w, means, stds);
  const auto sde = family("vp");
  constexpr int n = 14;
  Vector t(n);
  for (int i = 0; i < 11; ++i) t(i) = 0.05 + 0.09 * i;
  t.tail(3) << 1e-80, 3e-80, 1e-79;
  Inputs in(41);
  const Matrix x = in.uniform(n, 5, -3.0, 3.0);
  Vector logp(n);
  g.log_density(*sde, t, x, logp);
  for (int i = 0; i < n; ++i) {
    CAPTURE(i);
    Vector alone(1);
    g.log_density(*sde, t.segment(i, 1), x.middleRows(i, 1), alone);
    CHECK(std::bit_cast<std::uint64_t>(alone(0)) == std::bit_cast<std::uint64_t>(logp(i)));
    const double a = sde->alpha(t(i)), s = sde->sigma(t(i));
    double top = -std::numeric_limits<double>::infinity();
    Vector terms(3);
    for (int k = 0; k < 3; ++k) {
      double sum = std::log(w(k) / w.sum());
      for (int j = 0; j < 5; ++j) {
        const double v = a * a * stds(k, j) * stds(k, j) + s * s, r = x(i, j) - a * means(k, j);
        sum += -0.5 * std::log(2.0 * std::numbers::pi * v) - 0.5 * r * r / v;
      }
      terms(k) = sum;
      top = std::max(top, sum);
    }
    CHECK(rel_error(logp(i), top + std::log((terms.array() - top).exp().sum())) <= 1e-13);
  }
}

TEST_CASE("mixture density integrates to one in d = 1") {
  // Trapezoid rule with step L/10 over [min mean - 12 sd_max, max mean + 12 sd_max]: for a
  // smooth, rapidly decaying integrand the rule's error is exponentially small in (L/step)^2,
  // the truncated tails are below 1e-30; what remains is the rounding of ~10^3-10^4 terms: 1e-10.
  Inputs in(15);
  const GaussianMixture g = in.mixture(4, 1);
  for (const auto& sde : all_families()) {
    for (double frac : {0.0, 0.1, 1.0}) {
      const double t = frac == 0.0 ? sde->default_t_end() : frac * sde->T();
      const double a = sde->alpha(t), s = sde->sigma(t);
      const double L = smallest_std(g, a, s);
      const double sd_max = std::sqrt(a * a * g.stds().array().square().maxCoeff() + s * s);
      const double lo = a * g.means().minCoeff() - 12.0 * sd_max;
      const double hi = a * g.means().maxCoeff() + 12.0 * sd_max;
      const auto n = static_cast<Eigen::Index>(std::ceil((hi - lo) / (L / 10.0)));
      Matrix x(n + 1, 1);
      for (Eigen::Index i = 0; i <= n; ++i) x(i, 0) = lo + (hi - lo) * static_cast<double>(i) / n;
      Vector logp(n + 1);
      g.log_density(*sde, Vector::Constant(n + 1, t), x, logp);
      const Vector p = logp.array().exp();
      const double integral = (p.sum() - 0.5 * (p(0) + p(n))) * (hi - lo) / n;
      CAPTURE(sde->name());
      CAPTURE(t);
      CHECK(rel_error(integral, 1.0) <= 1e-10);
    }
  }
}

TEST_CASE("mixture mean and covariance match the closed form and the moments of sample()") {
  // Closed form: m = a sum w mu, C = sigma^2 I + sum w (a^2 diag(s^2) + (a mu - m)(a mu - m)^T)
  // (1e-13: a few roundings). Samples: 10^5 draws; each mean within 4 SE and each covariance
  // entry within 4 SE of its estimate, SE^2 = var((x_i - m_i)(x_j - m_j)) / n.
  Inputs in(16);
  const GaussianMixture g = in.mixture(3, 3);
  const tweedie::PhiloxNoise noise(31);
  for (const char* name : {"vp", "ve", "edm"}) {
    const auto sde = family(name);
    const double t = 0.3 * sde->T();
    const double a = sde->alpha(t), s = sde->sigma(t);
    Eigen::RowVectorXd m = Eigen::RowVectorXd::Zero(3);
    for (Eigen::Index k = 0; k < 3; ++k) m += g.weights()(k) * a * g.means().row(k);
    Eigen::MatrixXd C = Eigen::MatrixXd::Identity(3, 3) * s * s;
    for (Eigen::Index k = 0; k < 3; ++k) {
      const Eigen::RowVectorXd dk = a * g.means().row(k) - m;
      C += g.weights()(k) * (dk.transpose() * dk);
      for (int j = 0; j < 3; ++j) {
        C(j, j) += g.weights()(k) * a * a * g.stds()(k, j) * g.stds()(k, j);
      }
    }
    CAPTURE(name);
    CHECK((g.mean(*sde, t) - m).cwiseAbs().maxCoeff() <= 1e-13 * (1.0 + m.cwiseAbs().maxCoeff()));
    CHECK((g.covariance(*sde, t) - C).cwiseAbs().maxCoeff() <= 1e-13 * C.cwiseAbs().maxCoeff());

    constexpr Eigen::Index n = 100000;
    const Matrix x = g.sample(*sde, t, n, noise);
    const Eigen::RowVectorXd xm = x.colwise().mean();
    const Matrix centred = x.rowwise() - xm;
    for (int i = 0; i < 3; ++i) {
      CHECK(std::fabs(xm(i) - m(i)) <= 4.0 * std::sqrt(C(i, i) / n));
      for (int j = 0; j <= i; ++j) {
        const Eigen::ArrayXd p = centred.col(i).array() * centred.col(j).array();
        const double c = p.mean();
        const double se = std::sqrt((p - c).square().mean() / n);
        CAPTURE(i);
        CAPTURE(j);
        CHECK(std::fabs(c - C(i, j)) <= 4.0 * se);
      }
    }
  }
}

TEST_CASE("mixture samples of a row do not depend on the batch") {
  Inputs in(17);
  const GaussianMixture g = in.mixture(5, 3);
  const tweedie::PhiloxNoise noise(3);
  for (const auto& sde : all_families()) {
    const double t = 0.5 * sde->T();
    const Matrix batch = g.sample(*sde, t, 10, noise, 0);
    const Matrix alone = g.sample(*sde, t, 1, noise, 7);
    CAPTURE(sde->name());
    CHECK(bitwise_equal(alone, batch.row(7)));
    CHECK(bitwise_equal(g.sample(*sde, t, 4, noise, 3), batch.middleRows(3, 4)));
  }
}

TEST_CASE("mixture evaluations with a time per row equal row-by-row evaluations, bitwise") {
  // Each row alone and as a run of two equal times (a block at one time: the shared tables), in
  // a batch whose blocks of eight mix times (each row's own tables), in dimensions that fill the
  // transposes' 8 x 8 tiles and that leave tails, with component counts that the kernel takes in
  // groups of four and one at a time, and past the shared tables' renormalisation after 512
  // entries: the bits of the batch.
  for (const auto& [k, d] : {std::pair{1, 1}, std::pair{4, 3}, std::pair{5, 8}, std::pair{7, 19}, std::pair{5, 515}}) {
    CAPTURE(k);
    CAPTURE(d);
    Inputs in(18);
    const GaussianMixture g = in.mixture(k, d);
    const auto sde = family("vp");
    constexpr int n = 30;
    Vector t(n);
    for (int i = 0; i < n; ++i) {  // runs of equal times, alternations and singletons
      t(i) = i < 10 ? 0.25 : (i < 20 ? (i % 2 ? 0.5 : 0.75) : 1e-3 + 0.03 * i);
    }
    const Matrix x = in.uniform(n, d, -3.0, 3.0), v = in.uniform(n, d, -1.0, 1.0);
    Matrix score(n, d), hv(n, d);
    Vector logp(n), div(n);
    g.score(*sde, t, x, score);
    g.log_density(*sde, t, x, logp);
    g.score_divergence(*sde, t, x, div);
    g.score_jvp(*sde, t, x, v, hv);
    for (int i = 0; i < n; ++i) {
      CAPTURE(i);
      for (const Eigen::Index copies : {1, 2}) {
        CAPTURE(copies);
        Matrix s1(copies, d), h1(copies, d);
        Vector l1(copies), d1(copies);
        const Vector ti = Vector::Constant(copies, t(i));
        const Matrix xi = x.row(i).replicate(copies, 1), vi = v.row(i).replicate(copies, 1);
        g.score(*sde, ti, xi, s1);
        g.log_density(*sde, ti, xi, l1);
        g.score_divergence(*sde, ti, xi, d1);
        g.score_jvp(*sde, ti, xi, vi, h1);
        CHECK(bitwise_equal(s1.row(0), score.row(i)));
        CHECK(std::bit_cast<std::uint64_t>(l1(0)) == std::bit_cast<std::uint64_t>(logp(i)));
        CHECK(std::bit_cast<std::uint64_t>(d1(0)) == std::bit_cast<std::uint64_t>(div(i)));
        CHECK(bitwise_equal(h1.row(0), hv.row(i)));
      }
    }
  }
}

TEST_CASE("mixture score is bitwise independent of the chunk size") {
  // The chunk-size invariance promise of ScoreModel: row i of the output depends only on row i.
  Inputs in(19);
  for (const Case c : {Case{3, 2}, Case{8, 5}}) {
    const GaussianMixture g = in.mixture(c.k, c.d);
    for (const auto& sde : all_families()) {
      constexpr int n = 100;
      const Vector t = Vector::Constant(n, 0.4 * sde->T());
      const Matrix x = in.uniform(n, c.d, -3.0, 3.0);
      Matrix whole(n, c.d);
      g.score(*sde, t, x, whole);
      for (int chunk : {1, 7, 24, 25}) {
        Matrix pieces(n, c.d);
        for (int b = 0; b < n; b += chunk) {
          const int rows = std::min(chunk, n - b);
          g.score(*sde, t.segment(b, rows), x.middleRows(b, rows), pieces.middleRows(b, rows));
        }
        CAPTURE(sde->name());
        CAPTURE(chunk);
        CHECK(bitwise_equal(pieces, whole));
      }
    }
  }
}

TEST_CASE("mixture evaluation refuses rows of the wrong width and mismatched times") {
  const GaussianMixture g = GaussianMixture::ring();
  const auto sde = family("vp");
  Matrix out(4, 3);
  CHECK_THROWS_WITH_AS(g.score(*sde, Vector::Constant(4, 0.5), Matrix::Zero(4, 3), out),
                       doctest::Contains("dimension 2"), InvalidArgument);
  Matrix out2(4, 2);
  CHECK_THROWS_WITH_AS(g.score(*sde, Vector::Constant(3, 0.5), Matrix::Zero(4, 2), out2),
                       doctest::Contains("3 times given for 4 rows"), InvalidArgument);
}

TEST_CASE("GaussianMixture::ring places equal components evenly on a circle") {
  const GaussianMixture g = GaussianMixture::ring(8, 2.0, 0.15);
  REQUIRE(g.components() == 8);
  REQUIRE(g.dim() == 2);
  const double r = std::sqrt(2.0);  // 2 cos(pi/4)
  const double expected[8][2] = {{2, 0},  {r, r},   {0, 2},  {-r, r},
                                 {-2, 0}, {-r, -r}, {0, -2}, {r, -r}};
  for (int k = 0; k < 8; ++k) {
    CAPTURE(k);
    // cos/sin of multiples of pi/4 in double: within 1e-15 of the exact values (times 2).
    CHECK(std::fabs(g.means()(k, 0) - expected[k][0]) <= 1e-15);
    CHECK(std::fabs(g.means()(k, 1) - expected[k][1]) <= 1e-15);
    CHECK(g.stds()(k, 0) == 0.15);
    CHECK(g.stds()(k, 1) == 0.15);
    CHECK(g.weights()(k) == 0.125);
  }
  CHECK_THROWS_AS(GaussianMixture::ring(0), InvalidArgument);
}

TEST_CASE("exact_model is the mixture's score as a ScoreModel") {
  const GaussianMixture g = GaussianMixture::ring();
  const auto sde = family("subvp");
  const auto model = tweedie::exact_model(g, *sde);
  CHECK(model->prediction() == tweedie::Prediction::score);
  CHECK(model->dim() == 2);
  const Vector t = Vector::LinSpaced(6, 0.1, 0.9);
  const Matrix x = Inputs(20).uniform(6, 2, -2.0, 2.0);
  Matrix a(6, 2), b(6, 2);
  model->evaluate(t, x, a);
  g.score(*sde, t, x, b);
  CHECK(bitwise_equal(a, b));
}

// ---- target files ----------------------------------------------------------------------------

TEST_CASE("from_json reads a target with its optional keys") {
  const std::string text = R"({
    "name": "two blobs", "description": "a test target", "dim": 2, "n_components": 2,
    "weights": [1, 3],
    "means": [[-1.0, 0.5], [2, 0]],
    "stds": [[0.5, 0.25], [1, 0]]
  })";
  const GaussianMixture g = GaussianMixture::from_json(text, "blobs.json");
  CHECK(g.dim() == 2);
  CHECK(g.components() == 2);
  CHECK(g.weights()(0) == 0.25);  // normalised
  CHECK(g.weights()(1) == 0.75);
  CHECK(g.means()(0, 0) == -1.0);
  CHECK(g.means()(0, 1) == 0.5);
  CHECK(g.stds()(0, 1) == 0.25);
  CHECK(g.stds()(1, 1) == 0.0);  // a zero std is allowed (a point mass in that coordinate)
  // Without the optional keys.
  const GaussianMixture h =
      GaussianMixture::from_json(R"({"weights": [1], "means": [[0, 0, 0]], "stds": [[1, 1, 1]]})");
  CHECK(h.dim() == 3);
}

TEST_CASE("GaussianMixture::load reads a file and names a missing one") {
  tweedie::test::TempDir dir;
  const std::string path = dir.file("target.json");
  std::ofstream(path) << R"({"weights": [2, 2], "means": [[1], [-1]], "stds": [[0.1], [0.1]]})";
  const GaussianMixture g = GaussianMixture::load(path);
  CHECK(g.components() == 2);
  CHECK(g.weights()(0) == 0.5);
  CHECK_THROWS_WITH_AS(GaussianMixture::load(dir.file("absent.json")),
                       doctest::Contains("absent.json"), InvalidArgument);
  std::ofstream(dir.file("bad.json")) << R"({"weights": [1], "means": [[0]], "stds": [[-1]]})";
  CHECK_THROWS_WITH_AS(GaussianMixture::load(dir.file("bad.json")), doctest::Contains("bad.json"),
                       InvalidArgument);
}

TEST_CASE("from_json refuses malformed targets with a message naming the key and row") {
  auto refused = [](const std::string& text, const std::string& why) {
    CAPTURE(text);
    CHECK_THROWS_WITH_AS(GaussianMixture::from_json(text, "t.json"), doctest::Contains(why.c_str()),
                         InvalidArgument);
    CHECK_THROWS_WITH_AS(GaussianMixture::from_json(text, "t.json"), doctest::Contains("t.json: "),
                         InvalidArgument);
  };
  refused(R"({"means": [[0]], "stds": [[1]]})", "missing key \"weights\"");
  refused(R"({"weights": [1], "stds": [[1]]})", "missing key \"means\"");
  refused(R"({"weights": [1], "means": [[0]]})", "missing key \"stds\"");
  refused(R"({"weights": [1, 1], "means": [[0, 0], [1]], "stds": [[1, 1], [1, 1]]})", "means[1]");
  refused(R"({"weights": [1, 1], "means": [[0, 0], [1]], "stds": [[1, 1], [1, 1]]})", "ragged");
  refused(R"({"weights": [1, 1, 1], "means": [[0], [1], [2]], "stds": [[1], [1], [-0.5]]})",
          "stds[2][0] = -0.5 is negative");
  refused(R"({"weights": [1, 0], "means": [[0], [1]], "stds": [[1], [1]]})",
          "weights[1] = 0 is not positive");
  refused(R"({"weights": [-2, 1], "means": [[0], [1]], "stds": [[1], [1]]})",
          "weights[0] = -2 is not positive");
  refused(R"({"weights": [1, 1], "means": [[0, 0], [1, 1]], "stds": [[1], [1]]})",
          "dimension mismatch");
  refused(R"({"weights": [1, 1], "means": [[0], [1]], "stds": [[1], [1]], "dim": 3})",
          "\"dim\" is 3 but the tables give 1");
  refused(R"({"weights": [1, 1], "means": [[0], [1]], "stds": [[1], [1]], "n_components": 1})",
          "\"n_components\" is 1 but the tables give 2");
  refused(R"({"weights": [1], "means": [[0], [1]], "stds": [[1], [1]]})", "\"means\" has 2 rows");
  refused(R"({"weights": [1], "means": [[0, "a"]], "stds": [[1, 1]]})",
          "means[0][1] is not a number");
  refused(R"({"weights": [], "means": [], "stds": []})", "\"weights\"");
  refused(R"({"weights": [1], "means": [[]], "stds": [[]]})", "means[0]");
  refused(R"([1, 2, 3])", "JSON object");
  refused(R"({"weights": [1], "means": [[0]], )", "not valid JSON");
  refused("weights = [1]", "not valid JSON");
}

TEST_CASE("score and divergence in one pass give the bits of the separate calls") {
  tweedie::test::Inputs in(77);
  const GaussianMixture g = in.mixture(5, 7);
  for (const auto& sde : tweedie::test::all_families()) {
    CAPTURE(sde->name());
    const auto model = tweedie::exact_model(g, *sde);
    const Matrix x = in.uniform(50, 7, -3.0, 3.0);
    Vector t(50);
    for (Eigen::Index i = 0; i < 50; ++i) t(i) = in.uniform(0.05, 1.0) * sde->T();
    t.segment(10, 20).setConstant(t(10));  // runs of shared times and single rows
    Matrix score(50, 7), fused_score(50, 7);
    Vector div(50), fused_div(50);
    model->evaluate(t, x, score);
    model->score_divergence({t, x}, div);
    model->evaluate_with_divergence({t, x}, fused_score, fused_div);
    CHECK(tweedie::test::bitwise_equal(score, fused_score));
    CHECK(tweedie::test::bitwise_equal(div.transpose(), fused_div.transpose()));
  }
  // The default of a model without a divergence refuses, as score_divergence does.
  const auto plain = tweedie::make_model(
      tweedie::Prediction::score, 2,
      [](const tweedie::ConstVectorRef&, const tweedie::ConstMatrixRef& x, tweedie::MatrixRef out) { out = -x; });
  Matrix out(1, 2);
  Vector div(1);
  CHECK_THROWS_AS(plain->evaluate_with_divergence({Vector::Ones(1), Matrix::Zero(1, 2)}, out, div), InvalidArgument);
}
