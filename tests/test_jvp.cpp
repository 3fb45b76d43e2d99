// Jacobian-vector products: the mixture's closed-form Hessian-vector product against central
// differences of its score and its closed-form divergence, the score JVP of every
// parameterisation, and log-likelihoods of a model that provides only a JVP.
#include "flow_util.hpp"
#include "test_util.hpp"

#include <tweedie/tweedie.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string>

using namespace tweedie;
using tweedie::test::Inputs;

namespace {

// Smallest standard deviation of a component of p_t: the shortest length scale L of its features.
double smallest_std(const GaussianMixture& g, double a, double s) {
  return std::sqrt(a * a * g.stds().array().square().minCoeff() + s * s);
}

// The times of a family at which the checks run: its default end (small t) and three fractions of T.
std::vector<double> check_times(const Sde& sde) {
  return {sde.default_t_end(), 0.05 * sde.T(), 0.3 * sde.T(), 0.8 * sde.T()};
}

}  // namespace

TEST_CASE("mixture score_jvp equals central differences of the score along v") {
  // h = 1e-5 L / |v|_inf: truncation (h/L)^2 ~ 1e-10 and rounding eps / (h/L) ~ 1e-11 of the
  // natural scale |v|_inf / L^2 of H v (plus |H v|_inf). Bound 1e-6.
  Inputs in(21);
  double worst = 0.0;
  for (const int d : {2, 16}) {
    const GaussianMixture g = in.mixture(4, d);
    for (const char* name : {"vp", "edm"}) {
      const auto sde = test::family(name);
      for (const double t : check_times(*sde)) {
        const double a = sde->alpha(t), s = sde->sigma(t);
        const double L = smallest_std(g, a, s);
        constexpr int n = 6;
        const Matrix x = in.uniform(n, d, -1.0, 1.0) * (3.0 * a + 2.0 * s + 0.5);
        const Matrix v = in.uniform(n, d, -1.0, 1.0);
        const Vector times = Vector::Constant(n, t);
        Matrix hv(n, d);
        g.score_jvp(*sde, times, x, v, hv);
        Matrix plus(n, d), minus(n, d);
        for (int i = 0; i < n; ++i) {
          const double h = 1e-5 * L / v.row(i).cwiseAbs().maxCoeff();
          g.score(*sde, Vector::Constant(1, t), x.row(i) + h * v.row(i), plus.row(i));
          g.score(*sde, Vector::Constant(1, t), x.row(i) - h * v.row(i), minus.row(i));
          const Eigen::RowVectorXd fd = (plus.row(i) - minus.row(i)) / (2.0 * h);
          const double scale = hv.row(i).cwiseAbs().maxCoeff() + v.row(i).cwiseAbs().maxCoeff() / (L * L);
          const double err = (fd - hv.row(i)).cwiseAbs().maxCoeff() / scale;
          worst = std::max(worst, err);
          CAPTURE(name);
          CAPTURE(d);
          CAPTURE(t);
          CHECK(err <= 1e-6);
        }
      }
    }
  }
  MESSAGE(fmt::format("score_jvp vs central differences: worst relative error {:.2e}", worst));
}

TEST_CASE("the trace of score_jvp over the basis equals the closed-form divergence") {
  Inputs in(22);
  double worst = 0.0;
  for (const int d : {2, 16}) {
    const GaussianMixture g = in.mixture(3, d);
    for (const char* name : {"vp", "edm"}) {
      const auto sde = test::family(name);
      const auto model = exact_model(g, *sde);
      REQUIRE(model->has_jvp());
      for (const double t : check_times(*sde)) {
        const double a = sde->alpha(t), s = sde->sigma(t);
        const double L = smallest_std(g, a, s);
        const Matrix x = in.uniform(3, d, -1.0, 1.0) * (3.0 * a + 2.0 * s + 0.5);
        Vector div(3);
        g.score_divergence(*sde, Vector::Constant(3, t), x, div);
        for (Eigen::Index i = 0; i < x.rows(); ++i) {
          const Matrix points = x.row(i).replicate(d, 1);
          Matrix jv(d, d);
          score_jvp(*model, *sde, ModelInput{Vector::Constant(d, t), points}, Matrix::Identity(d, d), jv);
          const double err = std::fabs(jv.trace() - div(i)) / (std::fabs(div(i)) + d / (L * L));
          worst = std::max(worst, err);
          CAPTURE(name);
          CAPTURE(t);
          CHECK(err <= 1e-12);
          // The Hessian of log p_t is symmetric.
          CHECK((jv - jv.transpose()).cwiseAbs().maxCoeff() <= 1e-12 * (jv.cwiseAbs().maxCoeff() + 1.0 / (L * L)));
        }
      }
    }
  }
  MESSAGE(fmt::format("trace of the JVPs vs closed-form divergence: worst relative error {:.2e}", worst));
}

namespace {

// The mixture's exact score in another parameterisation, written out by hand (not through
// convert_prediction), with or without its Jacobian-vector product:
//   noise    eps = -sigma s                          J v = -sigma H v
//   data     x0  = (x + sigma^2 s) / alpha            J v = (v + sigma^2 H v) / alpha
//   velocity    = alpha eps - sigma x0                J v = -alpha sigma H v - sigma J_x0 v
std::unique_ptr<ScoreModel> wrapped(const GaussianMixture& g, const Sde& sde, Prediction p, bool with_jvp) {
  auto apply = [&sde, p](const ConstVectorRef& t, const ConstMatrixRef& x, const Matrix& ds,
                             const ConstMatrixRef& dx, MatrixRef out) {
    // ds: the score (or H v), dx: x (or v); the map is linear in (dx, ds).
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
      const double a = sde.alpha(t(i)), s = sde.sigma(t(i));
      const Eigen::RowVectorXd eps = -s * ds.row(i);
      const Eigen::RowVectorXd x0 = (dx.row(i) + s * s * ds.row(i)) / a;
      switch (p) {
        case Prediction::score: out.row(i) = ds.row(i); break;
        case Prediction::noise: out.row(i) = eps; break;
        case Prediction::data: out.row(i) = x0; break;
        case Prediction::velocity: out.row(i) = a * eps - s * x0; break;
      }
    }
  };
  ModelFunction fn = [&g, &sde, apply](const ConstVectorRef& t, const ConstMatrixRef& x, MatrixRef out) {
    Matrix score(x.rows(), x.cols());
    g.score(sde, t, x, score);
    apply(t, x, score, x, out);
  };
  if (!with_jvp) return make_model(p, g.dim(), fn);
  JvpFunction jvp = [&g, &sde, apply](const ConstVectorRef& t, const ConstMatrixRef& x,
                                      const ConstMatrixRef& v, MatrixRef out) {
    Matrix hv(x.rows(), x.cols());
    g.score_jvp(sde, t, x, v, hv);
    apply(t, x, hv, v, out);
  };
  return make_model(p, g.dim(), fn, jvp);
}

}  // namespace

TEST_CASE("score_jvp converts the JVP of every parameterisation to the score's") {
  // The conversion is linear in (x, prediction): applied to (v, J_pred v) it must give H v. Its
  // rounding error is that of the conversion, e.g. from data (alpha J_x0 v - v) / sigma^2, so the
  // bound is relative to |H v| + |v| / sigma^2.
  Inputs in(23);
  const GaussianMixture g = in.mixture(3, 5);
  for (const char* name : {"vp", "edm"}) {
    const auto sde = test::family(name);
    for (const Prediction p : {Prediction::score, Prediction::noise, Prediction::data, Prediction::velocity}) {
      const auto model = wrapped(g, *sde, p, true);
      REQUIRE(model->has_jvp());
      CHECK_FALSE(model->has_divergence());
      const Vector t = (Vector(4) << check_times(*sde)[0], check_times(*sde)[1], check_times(*sde)[2],
                        check_times(*sde)[3]).finished();
      const Matrix x = in.uniform(4, 5, -2.0, 2.0);
      const Matrix v = in.uniform(4, 5, -1.0, 1.0);
      Matrix expected(4, 5), got(4, 5);
      g.score_jvp(*sde, t, x, v, expected);
      score_jvp(*model, *sde, ModelInput{t, x}, v, got);
      for (Eigen::Index i = 0; i < 4; ++i) {
        const double s = sde->sigma(t(i));
        const double scale = expected.row(i).cwiseAbs().maxCoeff() + v.row(i).cwiseAbs().maxCoeff() / (s * s);
        CAPTURE(name);
        CAPTURE(to_string(p));
        CAPTURE(t(i));
        CHECK((got.row(i) - expected.row(i)).cwiseAbs().maxCoeff() <= 1e-13 * scale);
      }
    }
  }
}

TEST_CASE("models without a JVP say so") {
  const auto sde = test::family("vp");
  const auto plain = make_model(Prediction::score, 2, [](const ConstVectorRef&, const ConstMatrixRef& x,
                                                         MatrixRef out) { out = -x; });
  CHECK_FALSE(plain->has_jvp());
  Matrix out(1, 2);
  CHECK_THROWS_AS(plain->jvp(ModelInput{Vector::Ones(1), Matrix::Zero(1, 2)}, Matrix::Ones(1, 2), out), InvalidArgument);
  CHECK_THROWS_AS(score_jvp(*plain, *sde, ModelInput{Vector::Ones(1), Matrix::Zero(1, 2)}, Matrix::Ones(1, 2), out),
                  InvalidArgument);
  CHECK_THROWS_AS(make_model(Prediction::score, 2, [](const ConstVectorRef&, const ConstMatrixRef&, MatrixRef) {},
                             JvpFunction{}),
                  InvalidArgument);
}

TEST_CASE("log_likelihood of a noise-prediction model with only a JVP equals log p_{t_min}") {
  // eps = -sigma s, J_eps v = -sigma H v: the exact divergence is the trace of d JVPs.
  struct Setup {
    const char* family;
    int d;
  };
  for (const Setup s : {Setup{"vp", 2}, Setup{"vp", 16}, Setup{"edm", 2}, Setup{"edm", 16}}) {
    CAPTURE(s.family);
    CAPTURE(s.d);
    const auto sde = test::family(s.family);
    Inputs in(300 + static_cast<std::uint64_t>(s.d));
    const GaussianMixture g = in.mixture(3, s.d);
    const auto model = wrapped(g, *sde, Prediction::noise, true);
    REQUIRE_FALSE(model->has_divergence());
    LikelihoodOptions o = test::with_exact_prior(g, *sde);
    o.t_min = std::string(s.family) == "edm" ? 0.002 : 1e-5;
    o.rtol = o.atol = 1e-8;
    const test::ExactCase c = test::exact_case(g, *sde, o.t_min, 8, 17);
    const LikelihoodResult r = log_likelihood(*sde, *model, c.x, o);
    const double err = (r.log_likelihood - c.exact).cwiseAbs().maxCoeff();
    // The closed-form divergence path (the exact model) on the same data.
    const LikelihoodResult closed = log_likelihood(*sde, *exact_model(g, *sde), c.x, o);
    const double gap = (r.log_likelihood - closed.log_likelihood).cwiseAbs().maxCoeff();
    MESSAGE(fmt::format("{} d = {}: JVP-trace divergence, max |log p - exact| = {:.2e} nats, max "
                        "|JVP path - closed-form divergence path| = {:.2e}, mean NFE {:.0f}",
                        s.family, s.d, err, gap, r.nfe.mean()));
    CHECK(err < 1e-4);
    CHECK(gap < 1e-4);
    // NFE: 1 + d rows per right-hand side; dopri5 evaluates it once at the start, once for the
    // initial step and 6 times per attempted step (FSAL).
    const Vector rhs = 2.0 + 6.0 * (r.accepted_steps + r.rejected_steps).array();
    CHECK(r.nfe == (1.0 + s.d) * rhs);
  }
}

TEST_CASE("Hutchinson through the JVP: unbiased, and the central difference's estimate with the same probes") {
  const auto sde = test::family("vp");
  Inputs in(31);
  const GaussianMixture g = in.mixture(3, 16);
  const auto with_jvp = wrapped(g, *sde, Prediction::noise, true);
  const auto without = wrapped(g, *sde, Prediction::noise, false);
  LikelihoodOptions o = test::with_exact_prior(g, *sde);
  o.rtol = o.atol = 1e-6;
  o.divergence = Divergence::hutchinson;
  o.probes = 2;
  o.seed = 5;
  const test::ExactCase c = test::exact_case(g, *sde, o.t_min, 200, 8);
  const LikelihoodResult r = log_likelihood(*sde, *with_jvp, c.x, o);
  const Vector e = r.log_likelihood - c.exact;
  const double n = static_cast<double>(e.size());
  const double mean = e.mean();
  const double se = std::sqrt((e.array() - mean).square().sum() / (n - 1) / n);
  // The same probes through central differences: only the differences' O(h^2) bias and the
  // solver's tolerance separate the two.
  const LikelihoodResult fd = log_likelihood(*sde, *without, c.x, o);
  const double gap = (r.log_likelihood - fd.log_likelihood).cwiseAbs().maxCoeff();
  MESSAGE(fmt::format("hutchinson via JVP (K = 2, d = 16): mean error {:+.3e} nats, standard error "
                      "{:.3e}, mean NFE {:.0f} (central differences: {:.0f}); max |JVP - difference "
                      "estimate| = {:.2e} nats",
                      mean, se, r.nfe.mean(), fd.nfe.mean(), gap));
  CHECK(se > 0.0);
  CHECK(std::fabs(mean) < 3.0 * se);
  CHECK(gap < 1e-4);
  CHECK(r.nfe == 3.0 * (2.0 + 6.0 * (r.accepted_steps + r.rejected_steps).array()).matrix());
}

TEST_CASE("the exact divergence needs a divergence or a JVP") {
  const auto sde = test::family("vp");
  const GaussianMixture g = GaussianMixture::ring();
  const auto plain = wrapped(g, *sde, Prediction::noise, false);
  const Matrix x = Matrix::Zero(2, 2);
  try {
    log_likelihood(*sde, *plain, x, LikelihoodOptions{});
    FAIL("no exception");
  } catch (const InvalidArgument& e) {
    CHECK(std::string(e.what()).find("neither a divergence nor a Jacobian-vector product") != std::string::npos);
  }
}

TEST_CASE("a non-finite JVP is reported with the sample and t") {
  const auto sde = test::family("vp");
  const auto model = make_model(
      Prediction::score, 2, [](const ConstVectorRef&, const ConstMatrixRef& x, MatrixRef out) { out = -x; },
      [](const ConstVectorRef&, const ConstMatrixRef& x, const ConstMatrixRef& v, MatrixRef out) {
        out = -v;
        for (Eigen::Index i = 0; i < x.rows(); ++i) {
          if (x(i, 0) > 100.0) out(i, 1) = std::nan("");
        }
      });
  Matrix x = Matrix::Zero(3, 2);
  x(1, 0) = 1000.0;
  LikelihoodOptions o;
  o.execution = {1, 1};
  try {
    log_likelihood(*sde, *model, x, o);
    FAIL("no exception");
  } catch (const NonFiniteError& e) {
    CHECK(e.sample() == 1);
    CHECK(e.time() == o.t_min);
    CHECK(std::string(e.what()).find("Jacobian-vector product") != std::string::npos);
  }
}
