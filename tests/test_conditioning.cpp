// The conditioning seam: labelled mixtures against their closed forms, labels and sample indices
// that follow their rows through chunking, compaction and the drivers, and the label checks.
#include "test_util.hpp"

#include <tweedie/tweedie.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <cmath>
#include <numbers>
#include <numeric>
#include <set>
#include <vector>

using namespace tweedie;
using tweedie::test::bitwise_equal;

namespace {

// Four components in 2-D, labelled 0, 1, 0, 2: classes 0 (two components), 1 and 2.
GaussianMixture labelled() {
  Matrix means(4, 2), stds(4, 2);
  means << -2.0, 0.5, 1.5, 1.0, 0.5, -2.0, 2.5, -1.5;
  stds << 0.3, 0.5, 0.4, 0.2, 0.6, 0.35, 0.25, 0.45;
  return GaussianMixture(Vector{{1.0, 2.0, 3.0, 1.5}}, means, stds, {0, 1, 0, 2});
}

// log p_t(x | y) written out from its definition: the components labelled y, their weights
// renormalised, each N(alpha mu_k, alpha^2 s_k^2 + sigma^2) (independent of the library's kernel).
double conditional_log_density(const GaussianMixture& g, const Sde& sde, double t,
                               const Eigen::RowVectorXd& x, int y) {
  const double a = sde.alpha(t), s = sde.sigma(t);
  double total_weight = 0.0;
  std::vector<double> terms;
  for (Eigen::Index k = 0; k < g.components(); ++k) {
    if (g.component_classes()[static_cast<std::size_t>(k)] != y) continue;
    total_weight += g.weights()(k);
    double log_n = 0.0;
    for (Eigen::Index j = 0; j < g.dim(); ++j) {
      const double v = a * a * g.stds()(k, j) * g.stds()(k, j) + s * s;
      const double r = x(j) - a * g.means()(k, j);
      log_n += -0.5 * (std::log(2.0 * std::numbers::pi * v) + r * r / v);
    }
    terms.push_back(std::log(g.weights()(k)) + log_n);
  }
  const double top = *std::max_element(terms.begin(), terms.end());
  double sum = 0.0;
  for (double v : terms) sum += std::exp(v - top);
  return top + std::log(sum) - std::log(total_weight);
}

}  // namespace

TEST_CASE("a labelled mixture from JSON: classes, renormalised conditionals, refusals") {
  const auto g = GaussianMixture::from_json(
      R"({"weights": [1, 3, 2], "means": [[0], [1], [2]], "stds": [[1], [1], [1]], "classes": [1, 0, 1]})");
  CHECK(g.classes() == 2);
  const GaussianMixture c1 = g.conditional(1);
  REQUIRE(c1.components() == 2);
  CHECK(c1.weights()(0) == doctest::Approx(1.0 / 3.0).epsilon(1e-15));
  CHECK(c1.means()(1, 0) == 2.0);
  CHECK(g.conditional(0).components() == 1);
  CHECK_THROWS_WITH_AS(g.conditional(2), doctest::Contains("class 2 is not in 0 .. 1"), InvalidArgument);
  const auto bad = [](const std::string& classes) {
    return R"({"weights": [1, 1], "means": [[0], [1]], "stds": [[1], [1]], "classes": )" + classes + "}";
  };
  CHECK_THROWS_WITH_AS(GaussianMixture::from_json(bad("[0]")), doctest::Contains("array of 2 integer labels"),
                       InvalidArgument);
  CHECK_THROWS_WITH_AS(GaussianMixture::from_json(bad("[0, 0.5]")), doctest::Contains("classes[1]"),
                       InvalidArgument);
  CHECK_THROWS_WITH_AS(GaussianMixture::from_json(bad("[0, -1]")), doctest::Contains("classes[1]"),
                       InvalidArgument);
  CHECK_THROWS_WITH_AS(GaussianMixture::from_json(bad("[1, 1]")), doctest::Contains("no component has class 0"),
                       InvalidArgument);
  CHECK(GaussianMixture::ring().classes() == 0);
  CHECK_THROWS_AS(GaussianMixture::ring().conditional(0), InvalidArgument);
}

TEST_CASE("the conditional score is the gradient of the closed-form log p_t(x | y)") {
  const GaussianMixture g = labelled();
  for (const auto& sde : tweedie::test::all_families()) {
    CAPTURE(sde->name());
    const auto model = exact_model(g, *sde);
    const Conditioning c = model->conditioning();
    CHECK(c.classes == 3);
    CHECK(c.null_class == 3);
    CHECK(model->batch_invariant());
    tweedie::test::Inputs in(11);
    for (int trial = 0; trial < 6; ++trial) {
      const double t = sde->T() * in.uniform(0.05, 0.9);
      const Matrix x = in.uniform(1, 2, -3.0, 3.0);
      for (int y = 0; y < 3; ++y) {
        const std::vector<int> label{y};
        Matrix score(1, 2);
        model->evaluate(ModelInput{Vector::Constant(1, t), x, {}, label}, score);
        const double h = 1e-5;
        for (Eigen::Index j = 0; j < 2; ++j) {
          Eigen::RowVectorXd up = x.row(0), down = x.row(0);
          up(j) += h;
          down(j) -= h;
          const double fd = (conditional_log_density(g, *sde, t, up, y) -
                             conditional_log_density(g, *sde, t, down, y)) / (2.0 * h);
          CHECK(score(0, j) == doctest::Approx(fd).epsilon(1e-6).scale(1.0));
        }
      }
    }
  }
}

TEST_CASE("rows of mixed labels get the bits of each row evaluated alone; the null class is the mixture") {
  const GaussianMixture g = labelled();
  const VpSde sde;
  const auto model = exact_model(g, sde);
  const auto whole = exact_model(GaussianMixture(g.weights(), g.means(), g.stds()), sde);
  tweedie::test::Inputs in(3);
  const Eigen::Index n = 37;
  const Matrix x = in.uniform(n, 2, -3.0, 3.0);
  Vector t(n);
  std::vector<int> labels(static_cast<std::size_t>(n));
  for (Eigen::Index i = 0; i < n; ++i) {
    t(i) = in.uniform(0.01, 1.0);
    labels[static_cast<std::size_t>(i)] = in.integer(0, 3);  // 3 is the null class
  }
  Matrix batch(n, 2), jvp(n, 2);
  Vector div(n);
  const Matrix v = in.uniform(n, 2, -1.0, 1.0);
  model->evaluate(ModelInput{t, x, {}, labels}, batch);
  model->score_divergence(ModelInput{t, x, {}, labels}, div);
  model->jvp(ModelInput{t, x, {}, labels}, v, jvp);
  for (Eigen::Index i = 0; i < n; ++i) {
    const std::vector<int> one{labels[static_cast<std::size_t>(i)]};
    Matrix alone(1, 2), alone_jvp(1, 2);
    Vector alone_div(1);
    const ModelInput row{t.segment(i, 1), x.row(i), {}, one};
    model->evaluate(row, alone);
    model->score_divergence(row, alone_div);
    model->jvp(row, v.row(i), alone_jvp);
    CHECK(bitwise_equal(alone, batch.row(i)));
    CHECK(bitwise_equal(alone_jvp, jvp.row(i)));
    CHECK(alone_div(0) == div(i));
    if (one[0] == 3) {
      Matrix unlabelled(1, 2);
      whole->evaluate(t.segment(i, 1), x.row(i), unlabelled);
      CHECK((unlabelled - alone).cwiseAbs().maxCoeff() <= 1e-12 * (1.0 + alone.cwiseAbs().maxCoeff()));
    }
  }
  // Unlabelled rows of a labelled model are the null class.
  Matrix none(n, 2), null_rows(n, 2);
  model->evaluate(t, x, none);
  const std::vector<int> nulls(static_cast<std::size_t>(n), 3);
  model->evaluate(ModelInput{t, x, {}, nulls}, null_rows);
  CHECK(bitwise_equal(none, null_rows));
  const std::vector<int> bad{5};
  Matrix out(1, 2);
  CHECK_THROWS_WITH_AS(model->evaluate(ModelInput{t.head(1), x.topRows(1), {}, bad}, out),
                       doctest::Contains("label 5 is not a class"), InvalidArgument);
}

TEST_CASE("the exact classifier: Bayes' rule in closed form, and its gradient is score_y - score") {
  const GaussianMixture g = labelled();
  const CosineSde sde;
  tweedie::test::Inputs in(5);
  const Eigen::Index n = 8;
  const Matrix x = in.uniform(n, 2, -3.0, 3.0);
  const Vector t = Vector::Constant(n, 0.4);
  Matrix post(n, 3);
  g.class_log_posterior(sde, t, x, post);
  const double class_weight[3] = {(1.0 + 3.0) / 7.5, 2.0 / 7.5, 1.5 / 7.5};
  Vector total(n);
  g.log_density(sde, t, x, total);
  for (Eigen::Index i = 0; i < n; ++i) {
    CHECK(post.row(i).array().exp().sum() == doctest::Approx(1.0).epsilon(1e-13));
    for (int y = 0; y < 3; ++y) {
      const double expected =
          std::log(class_weight[y]) + conditional_log_density(g, sde, 0.4, x.row(i), y) - total(i);
      CHECK(post(i, y) == doctest::Approx(expected).epsilon(1e-12).scale(1.0));
    }
  }
  // grad_x log p(y | x) = grad log p(x | y) - grad log p(x): checked by central differences.
  const auto model = exact_model(g, sde);
  const double h = 1e-5;
  for (int y = 0; y < 3; ++y) {
    const std::vector<int> labels(static_cast<std::size_t>(n), y);
    Matrix sy(n, 2), s(n, 2);
    model->evaluate(ModelInput{t, x, {}, labels}, sy);
    model->evaluate(t, x, s);
    for (Eigen::Index j = 0; j < 2; ++j) {
      Matrix up = x, down = x;
      up.col(j).array() += h;
      down.col(j).array() -= h;
      Matrix pu(n, 3), pd(n, 3);
      g.class_log_posterior(sde, t, up, pu);
      g.class_log_posterior(sde, t, down, pd);
      for (Eigen::Index i = 0; i < n; ++i) {
        CHECK(sy(i, j) - s(i, j) == doctest::Approx((pu(i, y) - pd(i, y)) / (2.0 * h)).epsilon(1e-6).scale(1.0));
      }
    }
  }
}

TEST_CASE("the model sees each row's global sample index and label, through chunks and compaction") {
  const GaussianMixture g = labelled();
  const VpSde sde;
  const auto exact = exact_model(g, sde);
  for (const std::string name : {"dpm-solver++", "dopri5", "adaptive-sde"}) {
    CAPTURE(name);
    // A recording wrapper: checks that every row it is given carries the label that sample has.
    const std::uint64_t first = 1000;
    std::vector<int> labels(50);
    for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<int>((i * 7) % 4);
    std::atomic<std::size_t> rows_seen{0}, wrong{0};
    FunctionModelTraits traits;
    traits.dim = 2;
    traits.conditioning = exact->conditioning();
    traits.batch_invariant = true;
    const auto recording = make_model(traits, [&](const ModelInput& in, MatrixRef out) {
      if (in.samples.size() != static_cast<std::size_t>(in.rows()) ||
          in.labels.size() != static_cast<std::size_t>(in.rows())) {
        ++wrong;  // (no doctest assertions off the main thread)
        return exact->evaluate(in, out);
      }
      for (Eigen::Index i = 0; i < in.rows(); ++i) {
        const std::uint64_t s = in.samples[static_cast<std::size_t>(i)];
        if (s < first || s >= first + labels.size() ||
            in.labels[static_cast<std::size_t>(i)] != labels[s - first]) {
          ++wrong;
        }
      }
      rows_seen += static_cast<std::size_t>(in.rows());
      exact->evaluate(in, out);
    });
    const auto sampler = make_sampler(name);
    const auto grid = make_grid(sde, {.spacing = GridSpacing::log_snr, .steps = 12});
    SampleOptions o;
    o.num_samples = labels.size();
    o.first_sample = first;
    o.seed = 4;
    o.labels = labels;
    o.execution = {.threads = 2, .chunk_rows = 7};
    const SampleResult batch = sample(sde, *recording, *sampler, grid, o);
    CHECK(rows_seen > 0);
    CHECK(wrong == 0);
    // Each sample alone, with its own label and index, gives the same bits.
    for (std::size_t i : {std::size_t{0}, std::size_t{13}, std::size_t{49}}) {
      SampleOptions one = o;
      one.num_samples = 1;
      one.first_sample = first + i;
      one.labels = {labels[i]};
      const SampleResult alone = sample(sde, *exact, *sampler, grid, one);
      CHECK(bitwise_equal(alone.samples, batch.samples.row(static_cast<Eigen::Index>(i))));
    }
  }
}

TEST_CASE("conditional samples follow the closed-form conditional p(x | y)") {
  const GaussianMixture g = labelled();
  const VpSde sde;
  const auto model = exact_model(g, sde);
  const auto sampler = make_sampler("dpm-solver++");
  const auto grid = make_grid(sde, {.spacing = GridSpacing::log_snr, .steps = 40});
  const std::size_t n = 4000;
  for (int y = 0; y < 3; ++y) {
    CAPTURE(y);
    SampleOptions o;
    o.num_samples = n;
    o.seed = 21;
    o.labels.assign(n, y);
    const Matrix x = sample(sde, *model, *sampler, grid, o).samples;
    // The mean negative log-density under p_0(x | y) of the samples against that of exact draws:
    // equal in expectation when the samples follow p(x | y); a sample from another class costs
    // several nats, so mixing classes up shows.
    const GaussianMixture cond = g.conditional(y);
    const Matrix exact = cond.sample(sde, 0.0, n, PhiloxNoise(99));
    Vector lp(n), lq(n);
    const Vector t0 = Vector::Constant(static_cast<Eigen::Index>(n), 1e-3);
    cond.log_density(sde, t0, x, lp);
    cond.log_density(sde, t0, exact, lq);
    const double se = std::sqrt(((lp.array() - lp.mean()).square().sum() + (lq.array() - lq.mean()).square().sum()) /
                                (static_cast<double>(n) * static_cast<double>(n - 1)));
    CHECK(std::abs(lp.mean() - lq.mean()) < 4.0 * se + 0.02);  // 0.02: the grid's truncation at 1e-3
    // And the classes are not mixed up: the share of samples nearest to a component of another
    // class is the exact draws' share (a few percent from the overlapping tails), within 4 SE.
    const auto foreign_share = [&](const Matrix& points) {
      double count = 0.0;
      for (Eigen::Index i = 0; i < points.rows(); ++i) {
        Eigen::Index nearest = 0;
        (g.means().rowwise() - points.row(i)).rowwise().squaredNorm().minCoeff(&nearest);
        count += g.component_classes()[static_cast<std::size_t>(nearest)] != y ? 1.0 : 0.0;
      }
      return count / static_cast<double>(points.rows());
    };
    const double share = foreign_share(x), exact_share = foreign_share(exact);
    CHECK(std::abs(share - exact_share) < 4.0 * std::sqrt(2.0 * (exact_share + 1e-3) / static_cast<double>(n)));
    CHECK(share < 0.1);
  }
}

TEST_CASE("labels reach the likelihood, the flows and the ELBO") {
  const GaussianMixture g = labelled();
  const VpSde sde;
  const auto model = exact_model(g, sde);
  const int y = 0;
  const GaussianMixture cond = g.conditional(y);
  const Matrix x = cond.sample(sde, 1e-5, 24, PhiloxNoise(8));
  LikelihoodOptions o;
  o.rtol = o.atol = 1e-8;
  o.labels.assign(24, y);
  // The exact conditional prior at T, so that the result is log p(x | y) to the solver's tolerance.
  o.prior_log_density = [&](const Eigen::Ref<const Eigen::RowVectorXd>& z) {
    Vector out(1);
    cond.log_density(sde, Vector::Constant(1, sde.T()), z, out);
    return out(0);
  };
  const LikelihoodResult r = log_likelihood(sde, *model, x, o);
  Vector expected(24);
  cond.log_density(sde, Vector::Constant(24, 1e-5), x, expected);
  CHECK((r.log_likelihood - expected).cwiseAbs().maxCoeff() < 1e-6);

  // The flows of label y are the flows of the conditional mixture, bit for bit.
  const auto cond_model = exact_model(cond, sde);
  FlowOptions f;
  f.labels.assign(24, y);
  const FlowResult labelled_flow = encode(sde, *model, x, f);
  CHECK(bitwise_equal(labelled_flow.x, encode(sde, *cond_model, x, {}).x));
  CHECK(bitwise_equal(decode(sde, *model, labelled_flow.x, f).x, decode(sde, *cond_model, labelled_flow.x, {}).x));

  ElboOptions e;
  e.draws = 64;
  e.labels.assign(24, y);
  ElboOptions unlabelled = e;
  unlabelled.labels.clear();
  CHECK(bitwise_equal(elbo(sde, *model, x, e).elbo, elbo(sde, *cond_model, x, unlabelled).elbo));
}

TEST_CASE("labels are checked against the model, naming the sample") {
  const GaussianMixture g = labelled();
  const VpSde sde;
  const auto model = exact_model(g, sde);
  const auto sampler = make_sampler("ddim");
  const auto grid = make_grid(sde, {.steps = 4});
  SampleOptions o;
  o.num_samples = 3;
  o.first_sample = 10;
  o.labels = {0, 4, 1};
  CHECK_THROWS_WITH_AS(sample(sde, *model, *sampler, grid, o),
                       doctest::Contains("sample 11: label 4 is not a class of the model (0 .. 2, or 3 for none)"),
                       InvalidArgument);
  o.labels = {0, 1};
  CHECK_THROWS_WITH_AS(sample(sde, *model, *sampler, grid, o), doctest::Contains("2 labels given for 3 samples"),
                       InvalidArgument);
  const auto ring = exact_model(GaussianMixture::ring(), sde);
  o.labels = {0, 0, 0};
  CHECK_THROWS_WITH_AS(sample(sde, *ring, *sampler, grid, o), doctest::Contains("the model is not conditional"),
                       InvalidArgument);
  // A conditional model without a null class needs labels.
  FunctionModelTraits traits;
  traits.dim = 2;
  traits.conditioning = {.classes = 2};
  const auto strict = make_model(traits, [](const ModelInput& in, MatrixRef out) { out = -in.x; });
  o.labels.clear();
  CHECK_THROWS_WITH_AS(sample(sde, *strict, *sampler, grid, o), doctest::Contains("has no null class"),
                       InvalidArgument);
  o.labels = {1, 0, 1};
  CHECK_NOTHROW(sample(sde, *strict, *sampler, grid, o));
  LikelihoodOptions l;
  l.labels = {7};
  CHECK_THROWS_WITH_AS(log_likelihood(sde, *model, Matrix::Zero(1, 2), l), doctest::Contains("sample 0: label 7"),
                       InvalidArgument);
}
