// Classifier-free and classifier guidance against the closed forms of a labelled mixture: the
// conditional score at scale 1, the unconditional one at 0, the combination in any
// parameterisation, the classifier's gradient, forwarded derivatives, and guided samples whose
// NLL under the conditional mixture matches exact samples'.
#include "guidance_util.hpp"
#include "test_util.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

using namespace tweedie;
using tweedie::test::bitwise_equal;

namespace {

struct Rows {
  Vector t;
  Matrix x;
  std::vector<int> labels;
  std::vector<std::uint64_t> samples;
  ModelInput input() const { return {t, x, samples, labels}; }
};

// 30 rows at times spread over (0, T], labels cycling through the classes and the null class.
Rows rows(const Sde& sde, int classes, bool with_null) {
  test::Inputs in(17);
  Rows r;
  r.x = in.uniform(30, 3, -3.0, 3.0);
  r.t.resize(30);
  for (Eigen::Index i = 0; i < 30; ++i) {
    r.t(i) = sde.T() * (0.01 + 0.98 * static_cast<double>(i) / 29.0);
    r.labels.push_back(static_cast<int>(i % (classes + (with_null ? 1 : 0))));
    r.samples.push_back(static_cast<std::uint64_t>(i));
  }
  return r;
}

double max_rel(const Matrix& a, const Matrix& b) {
  return ((a - b).cwiseAbs().array() / (b.cwiseAbs().array() + 1e-300)).maxCoeff();
}

}  // namespace

TEST_CASE("classifier-free guidance: scale 1 is the conditional, 0 the unconditional, bitwise, on every family") {
  const GaussianMixture g = test::labelled_mixture();
  for (const auto& sde : test::all_families()) {
    CAPTURE(sde->name());
    const std::shared_ptr<const ScoreModel> exact = exact_model(g, *sde);
    const Rows r = rows(*sde, 3, true);
    Matrix conditional(30, 3), unconditional(30, 3), guided(30, 3);
    exact->evaluate(r.input(), conditional);
    exact->evaluate(ModelInput{r.t, r.x}, unconditional);
    classifier_free_guidance(exact, 1.0)->evaluate(r.input(), guided);
    CHECK(bitwise_equal(guided, conditional));
    classifier_free_guidance(exact, 0.0)->evaluate(r.input(), guided);
    CHECK(bitwise_equal(guided, unconditional));
    // the conditional score is the closed form of p_t(x | y): the conditional mixture's score
    for (int y = 0; y < 3; ++y) {
      std::vector<int> labels(30, y);
      Matrix want(30, 3), got(30, 3);
      g.conditional(y).score(*sde, r.t, r.x, want);
      classifier_free_guidance(exact, 1.0)->evaluate(ModelInput{r.t, r.x, {}, labels}, got);
      CHECK(max_rel(got, want) < 1e-12);
    }
  }
}

TEST_CASE("classifier-free guidance commutes with the parameterisation (eps, x0, v and score are affine)") {
  const GaussianMixture g = test::labelled_mixture();
  for (const auto& sde : test::all_families()) {
    CAPTURE(sde->name());
    const std::shared_ptr<const ScoreModel> exact = exact_model(g, *sde);
    const Rows r = rows(*sde, 3, false);
    const double s = 2.5;
    Matrix sc(30, 3), su(30, 3);
    exact->evaluate(r.input(), sc);
    exact->evaluate(ModelInput{r.t, r.x}, su);
    const Matrix want = (1.0 - s) * su + s * sc;  // guidance of the scores
    for (Prediction p : {Prediction::noise, Prediction::data, Prediction::velocity}) {
      CAPTURE(to_string(p));
      const auto guided = classifier_free_guidance(test::reparameterised(exact, *sde, p), s);
      CHECK(guided->prediction() == p);
      Matrix got(30, 3);
      evaluate_as(*guided, *sde, Prediction::score, r.input(), got);
      // conversions to and from p round at their own magnitude: relative to the largest term
      const double scale = std::max(sc.cwiseAbs().maxCoeff(), su.cwiseAbs().maxCoeff()) * std::abs(s);
      CHECK((got - want).cwiseAbs().maxCoeff() < 1e-11 * scale);
    }
  }
}

TEST_CASE("classifier-free guidance forwards the divergence, JVP and VJP as the same combination") {
  const GaussianMixture g = test::labelled_mixture();
  const VpSde sde;
  const std::shared_ptr<const ScoreModel> exact = exact_model(g, sde);
  const auto guided = classifier_free_guidance(exact, 3.0);
  CHECK(guided->has_divergence());
  CHECK(guided->has_jvp());
  CHECK(guided->batch_invariant());
  const Rows r = rows(sde, 3, true);
  const std::vector<int> null(30, 3);
  const ModelInput u{r.t, r.x, {}, null};
  Vector dc(30), du(30), d(30);
  exact->score_divergence(r.input(), dc);
  exact->score_divergence(u, du);
  guided->score_divergence(r.input(), d);
  Matrix out(30, 3), div_out(30, 3);
  Vector div_fused(30);
  guided->evaluate(r.input(), out);
  guided->evaluate_with_divergence(r.input(), div_out, div_fused);
  CHECK(bitwise_equal(div_out, out));
  CHECK(bitwise_equal(div_fused, d));
  const Matrix v = test::Inputs(3).uniform(30, 3, -1.0, 1.0);
  Matrix jc(30, 3), ju(30, 3), j(30, 3);
  exact->jvp(r.input(), v, jc);
  exact->jvp(u, v, ju);
  guided->jvp(r.input(), v, j);
  for (Eigen::Index i = 0; i < 30; ++i) {
    const bool is_null = r.labels[static_cast<std::size_t>(i)] == 3;
    const double want_d = is_null ? du(i) : -2.0 * du(i) + 3.0 * dc(i);
    CHECK(d(i) == doctest::Approx(want_d).epsilon(1e-12));
    const Eigen::RowVectorXd want_j = is_null ? Eigen::RowVectorXd(ju.row(i)) : Eigen::RowVectorXd(-2.0 * ju.row(i) + 3.0 * jc.row(i));
    CHECK((j.row(i) - want_j).norm() <= 1e-12 * (1.0 + want_j.norm()));
  }
  // the exact model has no VJP, and the decorator does not invent one
  CHECK_FALSE(guided->has_vjp());
}

TEST_CASE("classifier-free guidance over a pair: conditional and unconditional models in any parameterisation") {
  const GaussianMixture g = test::labelled_mixture();
  GaussianMixture whole(g.weights(), g.means(), g.stds());  // the unlabelled mixture
  const CosineSde sde;
  const std::shared_ptr<const ScoreModel> exact = exact_model(g, sde);
  const auto unconditional = test::reparameterised(exact_model(whole, sde), sde, Prediction::data);
  const auto pair = classifier_free_guidance(test::reparameterised(exact, sde, Prediction::noise), unconditional, sde, 1.5);
  CHECK(pair->prediction() == Prediction::noise);
  CHECK(pair->has_jvp());
  CHECK_FALSE(pair->has_divergence());
  const Rows r = rows(sde, 3, true);
  Matrix got(30, 3), want(30, 3);
  evaluate_as(*pair, sde, Prediction::score, r.input(), got);
  evaluate_as(*classifier_free_guidance(exact, 1.5), sde, Prediction::score, r.input(), want);
  CHECK(max_rel(got, want) < 1e-9);
  CHECK_THROWS_WITH_AS(classifier_free_guidance(exact_model(whole, sde), 2.0),
                       doctest::Contains("needs a conditional model with a null class"), InvalidArgument);
  CHECK_THROWS_WITH_AS(classifier_free_guidance(exact, unconditional, sde, std::nan("")),
                       doctest::Contains("scale must be finite"), InvalidArgument);
  CHECK_THROWS_WITH_AS(classifier_free_guidance(exact, exact, sde, 2.0), doctest::Contains("must be unconditional"),
                       InvalidArgument);
}

TEST_CASE("the exact classifier's gradient is the gradient of class_log_posterior") {
  const GaussianMixture g = test::labelled_mixture();
  for (const auto& sde : test::all_families()) {
    CAPTURE(sde->name());
    const auto classifier = exact_classifier(g, *sde);
    CHECK(classifier->classes() == 3);
    const Rows r = rows(*sde, 3, false);
    Matrix grad(30, 3);
    classifier->log_prob_gradient(r.input(), grad);
    for (Eigen::Index i = 0; i < 30; i += 7) {
      for (Eigen::Index j = 0; j < 3; ++j) {
        const double h = 1e-5 * std::max(1.0, std::abs(r.x(i, j)));
        Matrix xp = r.x.row(i), xm = r.x.row(i);
        xp(0, j) += h, xm(0, j) -= h;
        Matrix lp(1, 3), lm(1, 3);
        g.class_log_posterior(*sde, r.t.segment(i, 1), xp, lp);
        g.class_log_posterior(*sde, r.t.segment(i, 1), xm, lm);
        const int y = r.labels[static_cast<std::size_t>(i)];
        const double fd = (lp(0, y) - lm(0, y)) / (2 * h);
        CHECK(grad(i, j) == doctest::Approx(fd).epsilon(1e-5).scale(1e-3 / std::max(1e-3, sde->sigma(r.t(i)))));
      }
    }
  }
}

TEST_CASE("classifier guidance with the exact classifier: scale 1 is the conditional score to rounding") {
  const GaussianMixture g = test::labelled_mixture();
  for (const auto& sde : test::all_families()) {
    CAPTURE(sde->name());
    const std::shared_ptr<const ScoreModel> exact = exact_model(g, *sde);
    const std::shared_ptr<const NoisyClassifier> classifier = exact_classifier(g, *sde);
    const Rows r = rows(*sde, 3, true);
    Matrix conditional(30, 3), unconditional(30, 3), guided(30, 3);
    exact->evaluate(r.input(), conditional);  // null-class rows: the whole mixture
    exact->evaluate(ModelInput{r.t, r.x}, unconditional);
    classifier_guidance(exact, classifier, *sde, 1.0)->evaluate(r.input(), guided);
    // score_u + (score_y - score_u): exact but for the rounding of the two sums
    for (Eigen::Index i = 0; i < 30; ++i) {
      for (Eigen::Index j = 0; j < 3; ++j) {
        const double tol = 4 * (test::ulp(conditional(i, j)) + test::ulp(unconditional(i, j)));
        CHECK(std::abs(guided(i, j) - conditional(i, j)) <= tol);
      }
    }
    classifier_guidance(exact, classifier, *sde, 0.0)->evaluate(r.input(), guided);
    CHECK(bitwise_equal(guided, unconditional));
    // in noise terms eps = eps_u - s sigma grad (DPM-Solver's classifier wrapper)
    const auto noise_model = test::reparameterised(exact, *sde, Prediction::noise);
    const double s = 2.0;
    Matrix eps(30, 3), eps_u(30, 3), grad(30, 3);
    classifier_guidance(noise_model, classifier, *sde, s)->evaluate(r.input(), eps);
    evaluate_as(*exact, *sde, Prediction::noise, ModelInput{r.t, r.x}, eps_u);
    std::vector<int> clamped = r.labels;
    for (int& y : clamped) y = y == 3 ? 0 : y;
    classifier->log_prob_gradient(ModelInput{r.t, r.x, {}, clamped}, grad);
    for (Eigen::Index i = 0; i < 30; ++i) {
      const Eigen::RowVectorXd want = r.labels[static_cast<std::size_t>(i)] == 3
                                          ? Eigen::RowVectorXd(eps_u.row(i))
                                          : Eigen::RowVectorXd(eps_u.row(i) - s * sde->sigma(r.t(i)) * grad.row(i));
      CHECK((eps.row(i) - want).norm() <= 1e-12 * (1.0 + want.norm()));
    }
  }
}

TEST_CASE("a classifier from logits and their VJP gives the exact classifier's gradient") {
  const GaussianMixture g = test::labelled_mixture();
  const VeSde sde;
  const auto exact = exact_classifier(g, sde);
  // logits = log p_t(c | x); their VJP J^T w = sum_c w_c grad log p_t(c | x), from the exact one
  auto logits = [&](const ModelInput& in, MatrixRef out) { g.class_log_posterior(sde, in.t, in.x, out); };
  auto vjp = [&](const ModelInput& in, const ConstMatrixRef& w, MatrixRef out) {
    out.setZero();
    Matrix gc(in.rows(), in.x.cols());
    for (int c = 0; c < 3; ++c) {
      const std::vector<int> labels(static_cast<std::size_t>(in.rows()), c);
      exact->log_prob_gradient(ModelInput{in.t, in.x, {}, labels}, gc);
      out += w.col(c).asDiagonal() * gc;
    }
  };
  const auto network = make_classifier(3, 3, "a test classifier", logits, vjp);
  const Rows r = rows(sde, 3, false);
  Matrix want(30, 3), got(30, 3);
  exact->log_prob_gradient(r.input(), want);
  network->log_prob_gradient(r.input(), got);
  CHECK((got - want).cwiseAbs().maxCoeff() < 1e-9 * (1.0 + want.cwiseAbs().maxCoeff()));
  CHECK_THROWS_WITH_AS(make_classifier(0, 3, "c", logits, vjp), doctest::Contains("classes must be >= 1"),
                       InvalidArgument);
}

TEST_CASE("classifier guidance forwards the JVP of its sum (the exact classifier's Hessian)") {
  const GaussianMixture g = test::labelled_mixture();
  const EdmSde sde;
  const auto guided = classifier_guidance(exact_model(g, sde), exact_classifier(g, sde), sde, 2.0);
  REQUIRE(guided->has_jvp());
  CHECK_FALSE(guided->has_divergence());
  CHECK(guided->batch_invariant());
  CHECK(guided->conditioning().classes == 3);
  CHECK(guided->conditioning().null_class == 3);
  Rows r = rows(sde, 3, true);
  r.t = Vector::Constant(30, 2.0);  // sigma 2: smooth enough for central differences
  const Matrix v = test::Inputs(4).uniform(30, 3, -1.0, 1.0);
  Matrix j(30, 3), plus(30, 3), minus(30, 3);
  guided->jvp(r.input(), v, j);
  const double h = 1e-5;
  guided->evaluate(ModelInput{r.t, r.x + h * v, {}, r.labels}, plus);
  guided->evaluate(ModelInput{r.t, r.x - h * v, {}, r.labels}, minus);
  const Matrix fd = (plus - minus) / (2 * h);
  CHECK((j - fd).cwiseAbs().maxCoeff() < 1e-7);
}

TEST_CASE("guided samples at scale 1 follow the conditional mixture: NLL gap within Monte Carlo error") {
  const GaussianMixture g = test::labelled_mixture();
  const VpSde sde;
  const std::shared_ptr<const ScoreModel> exact = exact_model(g, sde);
  const int y = 1;
  const GaussianMixture target = g.conditional(y);
  const double t_end = 1e-3;
  const auto grid = make_grid(sde, {.spacing = GridSpacing::log_snr, .steps = 40, .t_end = t_end});
  const auto sampler = make_sampler("dpm-solver");
  const std::size_t n = 3000;
  SampleOptions o;
  o.num_samples = n;
  o.seed = 11;
  o.labels.assign(n, y);
  // NLL under p_{t_end}(x | y) of n rows, with its standard error
  auto nll = [&](const Matrix& x) {
    Vector lp(x.rows());
    target.log_density(sde, Vector::Constant(x.rows(), t_end), x, lp);
    const double m = -lp.mean();
    const double var = (lp.array() + m).square().sum() / static_cast<double>(x.rows() - 1);
    return std::pair{m, var / static_cast<double>(x.rows())};
  };
  const auto exact_samples = nll(target.sample(sde, t_end, n, PhiloxNoise(99)));
  auto gap = [&](const ScoreModel& model, const std::vector<int>& labels) {
    SampleOptions oo = o;
    oo.labels = labels;
    const auto guided = nll(sample(sde, model, *sampler, grid, oo).samples);
    return std::pair{guided.first - exact_samples.first, std::sqrt(guided.second + exact_samples.second)};
  };
  const std::vector<int> labels(n, y);
  const auto cfg = gap(*classifier_free_guidance(exact, 1.0), labels);
  const auto classifier = gap(*classifier_guidance(exact, exact_classifier(g, sde), sde, 1.0), labels);
  MESSAGE("NLL gap (guided - exact samples), CFG s=1: " << cfg.first << " +- " << cfg.second
                                                         << ", classifier s=1: " << classifier.first << " +- "
                                                         << classifier.second);
  CHECK(std::abs(cfg.first) < 3 * cfg.second);
  CHECK(std::abs(classifier.first) < 3 * classifier.second);
  // the test has power: the unconditional samples (scale 0) are far from the conditional
  const auto unguided = gap(*classifier_free_guidance(exact, 0.0), labels);
  MESSAGE("NLL gap at s=0 (the unconditional mixture): " << unguided.first << " +- " << unguided.second);
  CHECK(unguided.first > 20 * unguided.second);
}

TEST_CASE("a model takes one guidance: either kind over the other (or itself) is refused, through x0 hooks") {
  const GaussianMixture g = test::labelled_mixture();
  const auto sde = make_sde(SdeSpec{});
  const std::shared_ptr<const ScoreModel> exact = exact_model(g, *sde);
  const std::shared_ptr<const NoisyClassifier> classifier = exact_classifier(g, *sde);
  const std::shared_ptr<const ScoreModel> cfg = classifier_free_guidance(exact, 2.0);
  const std::shared_ptr<const ScoreModel> cg = classifier_guidance(exact, classifier, *sde, 1.5);
  const std::string one = ": a model takes one guidance (choose classifier-free or classifier guidance)";
  CHECK_THROWS_WITH_AS(classifier_guidance(cfg, classifier, *sde, 1.0),
                       ("classifier guidance cannot be stacked on classifier-free guidance" + one).c_str(),
                       InvalidArgument);
  CHECK_THROWS_WITH_AS(classifier_free_guidance(cg, 2.0),
                       ("classifier-free guidance cannot be stacked on classifier guidance" + one).c_str(),
                       InvalidArgument);
  CHECK_THROWS_WITH_AS(classifier_free_guidance(cfg, exact, *sde, 2.0),
                       ("classifier-free guidance cannot be stacked on classifier-free guidance" + one).c_str(),
                       InvalidArgument);
  // Found under another decorator too.
  const std::shared_ptr<const ScoreModel> clipped = apply_x0_hook(cfg, static_clip(1.0), *sde);
  CHECK_THROWS_WITH_AS(classifier_guidance(clipped, classifier, *sde, 1.0),
                       ("classifier guidance cannot be stacked on classifier-free guidance" + one).c_str(),
                       InvalidArgument);
  CHECK_NOTHROW(apply_x0_hook(cg, static_clip(1.0), *sde));
}
