// adaptive-sde ("Gotta Go Fast"): the Brownian path that survives rejections, the weak order of
// its two proposals (computed exactly, without Monte Carlo), strong convergence to a fine
// Euler-Maruyama solution on the same Brownian path, the moments it samples, its step and NFE
// accounting, its guards, and determinism across threads and chunk sizes.
#include "adaptive_sde.hpp"
#include "sampling_util.hpp"
#include "test_util.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <limits>

using namespace tweedie;
using tweedie::test::convergence_order;
using tweedie::solvers::AdaptiveSde;
using tweedie::solvers::BrownianPath;

namespace {

SampleResult run(const Sde& sde, const ScoreModel& model, std::span<const double> grid,
                 const SampleOptions& o, const SamplerOptions& so = {}) {
  return sample(sde, model, *make_sampler("adaptive-sde", so), grid, o);
}

SamplerOptions tolerance(double tol) {
  const std::string s = fmt::format("{}", tol);
  return {{"rtol", s}, {"atol", s}};
}

/// The exact score of N(mu, s^2 I) in closed form (cheaper than exact_model); `window` replaces
/// the output for t in (lo, hi); a non-finite input row gets a zero score, so the model itself
/// never outputs a non-finite value outside the window.
struct Window {
  double lo = 0.0, hi = 0.0, value = 0.0;
};
std::unique_ptr<ScoreModel> gaussian_score(const Sde& sde, double mu, double s, Eigen::Index dim,
                                           Window window = {}) {
  return make_model(Prediction::score, dim, [&sde, mu, s, window](const auto& t, const auto& x, auto out) {
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
      const double a = sde.alpha(t(i)), sg = sde.sigma(t(i)), v = a * a * s * s + sg * sg;
      for (Eigen::Index j = 0; j < x.cols(); ++j) {
        out(i, j) = std::isfinite(x(i, j)) ? -(x(i, j) - a * mu) / v : 0.0;
      }
      if (t(i) > window.lo && t(i) < window.hi) out.row(i).setConstant(window.value);
    }
  });
}

}  // namespace

// ---- the Brownian path -------------------------------------------------------------------------

TEST_CASE("BrownianPath: bridges and increments have the law of one Brownian path") {
  // W(1) = 0 and W runs backwards: Cov(W(a), W(b)) = 1 - max(a, b). Points added in either order
  // (increment then bridge, or the reverse) must give the same law. 20000 paths: the standard
  // error of a (co)variance near 0.8 is at most 0.8 sqrt(2/20000) = 0.008; we allow 4.5 of them.
  const int n = 20000;
  Matrix z(n, 4);
  PhiloxNoise(3).normal(0, 0, 0, NoiseStream::marginal, z);
  for (bool bridge_last : {true, false}) {
    CAPTURE(bridge_last);
    Matrix w(n, 3);  // W(0.6), W(0.2), W(1.5)
    for (int i = 0; i < n; ++i) {
      BrownianPath p(1.0, 1);
      if (bridge_last) {
        p.add(0.2, z.block(i, 0, 1, 1));
        p.add(0.6, z.block(i, 1, 1, 1));
      } else {
        p.add(0.6, z.block(i, 0, 1, 1));
        p.add(0.2, z.block(i, 1, 1, 1));
      }
      p.add(1.5, z.block(i, 2, 1, 1));  // above every known time: an increment from W(1)
      w(i, 0) = p.at(0.6)(0);
      w(i, 1) = p.at(0.2)(0);
      w(i, 2) = p.at(1.5)(0);
    }
    const Eigen::MatrixXd c = sample_covariance(w);
    const double tol = 4.5 * 0.8 * std::sqrt(2.0 / n);
    CHECK(std::abs(c(0, 0) - 0.4) < tol);
    CHECK(std::abs(c(1, 1) - 0.8) < tol);
    CHECK(std::abs(c(0, 1) - 0.4) < tol);
    CHECK(std::abs(c(2, 2) - 0.5) < tol);
    CHECK(std::abs(c(0, 2)) < tol);
    CHECK(sample_mean(w).cwiseAbs().maxCoeff() < 4.5 * std::sqrt(0.8 / n));
  }
}

TEST_CASE("BrownianPath: known points are kept exactly, forgotten above a time, never redrawn") {
  BrownianPath p(1.0, 2);
  CHECK(p.known(1.0));
  CHECK(p.at(1.0).isZero());
  const Eigen::RowVector2d z1(0.5, -1.0), z2(2.0, 0.25);
  p.add(0.5, z1);
  CHECK(p.at(0.5).isApprox(std::sqrt(0.5) * z1));  // an increment of variance 0.5
  p.add(0.75, z2);  // the bridge: mean halfway, variance 0.25 * 0.25 / 0.5
  CHECK(p.at(0.75).isApprox(0.5 * std::sqrt(0.5) * z1 + std::sqrt(0.125) * z2));
  CHECK(p.size() == 3);
  CHECK_THROWS_AS(p.add(0.75, z2), std::logic_error);
  CHECK_THROWS_AS(p.at(0.6), std::logic_error);
  const Eigen::RowVectorXd w = p.at(0.75);
  p.forget_above(0.75);
  CHECK_FALSE(p.known(1.0));
  CHECK(p.known(0.75));
  CHECK(p.known(0.5));
  CHECK(p.at(0.75) == w);
}

// ---- the two proposals -------------------------------------------------------------------------

TEST_CASE("the improved-Euler proposal has weak order 2 and the Euler-Maruyama one weak order 1") {
  // On Gaussian data the exact score is affine, so one step maps (x, dW) affinely:
  // x_next = A x + B dW + c. Three evaluations give (A, B, c), and the mean and variance of the
  // state propagate exactly (m <- A m + c, v <- A^2 v + B^2 h): the weak errors below contain no
  // Monte Carlo error. Uniform steps from the exact p_T at t = 1 to t = 1e-3.
  const VpSde sde;
  const double t_end = 1e-3, mu = 1.0, s = 0.5;
  const auto model = gaussian_score(sde, mu, s, 1);
  const std::vector<double> grid{1.0, t_end};
  const PhiloxNoise noise(1);
  ChunkContext ctx(sde, *model, noise, grid, 0, 1);
  const std::vector<Eigen::Index> rows{0};
  const std::vector<std::size_t> steps{0};
  auto moments_error = [&](int n, bool high) {
    double m = sde.alpha(1.0) * mu;
    double v = std::pow(sde.alpha(1.0) * s, 2) + std::pow(sde.sigma(1.0), 2);
    Vector t(1), tn(1);
    Matrix x(1, 1), dw(1, 1), low(1, 1), hi(1, 1), err(1, 1);
    auto step = [&](double xv, double dv) {
      x(0, 0) = xv;
      dw(0, 0) = dv;
      solvers::ggf_proposals(ctx, rows, steps, t, tn, x, dw, low, hi, err);
      return high ? hi(0, 0) : low(0, 0);
    };
    for (int i = 0; i < n; ++i) {
      t(0) = 1.0 - i * (1.0 - t_end) / n;
      tn(0) = i + 1 == n ? t_end : 1.0 - (i + 1) * (1.0 - t_end) / n;
      const double c = step(0.0, 0.0), a = step(1.0, 0.0) - c, b = step(0.0, 1.0) - c;
      m = a * m + c;
      v = a * a * v + b * b * (t(0) - tn(0));
    }
    const double m_exact = sde.alpha(t_end) * mu;
    const double v_exact = std::pow(sde.alpha(t_end) * s, 2) + std::pow(sde.sigma(t_end), 2);
    return std::abs(m - m_exact) + std::abs(v - v_exact);
  };
  const std::vector<int> n{20, 40, 80, 160, 320};
  for (bool high : {true, false}) {
    std::vector<double> errors;
    for (int k : n) errors.push_back(moments_error(k, high));
    const double order = convergence_order(n, errors);
    MESSAGE(fmt::format("{} weak errors {}, order {:.3f}", high ? "improved Euler" : "Euler-Maruyama",
                        fmt::join(errors, " "), order));
    CHECK(order == doctest::Approx(high ? 2.0 : 1.0).epsilon(0.15));
  }
}

// ---- the sampler ---------------------------------------------------------------------------------

namespace {

/// Per sample, |adaptive-sde - fine EM| at each tolerance, both on the Brownian path adaptive-sde
/// builds while it runs (completed on the fine grid by bridges), and (last entry) the difference
/// of the last adaptive solution to fine EM on independent paths. Noise stream `stream`, seeds
/// from `seed`.
std::vector<std::vector<double>> strong_differences(const std::vector<double>& tols, std::size_t m, int stream,
                                                    std::uint64_t seed) {
  const VpSde sde;
  const double t_end = 1e-3;
  const auto model = gaussian_score(sde, 1.0, 0.5, 1);
  const auto target = test::single_gaussian({1.0}, {0.5});
  const std::vector<double> grid{1.0, t_end};
  const Matrix x0 = target.sample(sde, 1.0, m, PhiloxNoise(seed, stream));
  const PhiloxNoise noise(seed + 1, stream), bridge_noise(seed + 2, stream);
  const int fine = 1 << 13;
  auto fine_em = [&](std::vector<BrownianPath>& paths) {
    Matrix em = x0, z(1, 1);
    for (std::size_t r = 0; r < m; ++r) {
      const auto row = static_cast<Eigen::Index>(r);
      double x = x0(row, 0), t = 1.0;
      for (int j = 1; j <= fine; ++j) {
        const double tn = j == fine ? t_end : 1.0 - j * (1.0 - t_end) / fine;
        if (!paths[r].known(tn)) {
          bridge_noise.normal(r, static_cast<std::uint32_t>(j), 0, NoiseStream::marginal, z);
          paths[r].add(tn, z);
        }
        const double dw = paths[r].at(tn)(0) - paths[r].at(t)(0);
        const double a = sde.alpha(t), sg = sde.sigma(t);
        const double score = -(x - a) / (a * a * 0.25 + sg * sg);
        x += (tn - t) * (sde.f(t) * x - sde.g2(t) * score) + sde.g(t) * dw;
        t = tn;
      }
      em(row, 0) = x;
    }
    return em;
  };
  auto abs_diff = [](const Matrix& a, const Matrix& b) {
    std::vector<double> out;
    for (Eigen::Index i = 0; i < a.rows(); ++i) out.push_back(std::fabs(a(i, 0) - b(i, 0)));
    return out;
  };
  std::vector<std::vector<double>> diffs;
  Matrix last;
  for (double tol : tols) {
    Matrix x = x0;
    ChunkContext ctx(sde, *model, noise, grid, 0, static_cast<Eigen::Index>(m));
    std::vector<BrownianPath> paths;
    AdaptiveSde({tol, tol, 100000}).integrate(ctx, x, &paths);
    diffs.push_back(abs_diff(x, fine_em(paths)));
    last = x;
  }
  std::vector<BrownianPath> other(m, BrownianPath(1.0, 1));  // fresh paths: nothing shared
  diffs.push_back(abs_diff(last, fine_em(other)));
  return diffs;
}

double median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

double rms(const std::vector<double>& v) {
  double s = 0.0;
  for (double e : v) s += e * e;
  return std::sqrt(s / static_cast<double>(v.size()));
}

}  // namespace

TEST_CASE("adaptive-sde converges strongly to Euler-Maruyama on the same Brownian path") {
  // Both solve the reverse SDE with the Brownian path of each sample: the one adaptive-sde
  // builds while it runs, completed on a fine uniform grid by bridges. Tightening the tolerance
  // must bring the adaptive solution towards the fine EM solution (h = 1/8192), and a path
  // that is not shared must not (the difference stays that of two independent samples).
  //
  // The per-sample strong error is heavy-tailed (now and then a step whose error estimate is
  // small by chance is accepted with a larger true error), so the statistic is the median over
  // the samples, not the rms, which one sample can decide (noise stream 2, seeds 70-72: rms
  // 6.0e-2 at tol 1e-2 against a median of 9.7e-3). Medians measured for streams 1 and 2 and
  // seeds 10, 30, 50, 70 (40 samples each): 0.87-1.3e-2, 2.7-3.8e-3 and 0.54-1.0e-3 at tol 1e-2,
  // 1e-3, 1e-4 (a factor 2.3-5.6 per decade, 12.9-17.8 over two: the error estimate scales as
  // h^1.5, so h ~ tol^(2/3) and the strong error ~ h), and 0.40-0.69 on independent paths. The
  // checks below hold in all eight cases.
  const std::vector<double> tols{1e-2, 1e-3, 1e-4};
  for (const int stream : {1, 2}) {
    CAPTURE(stream);
    const auto d = strong_differences(tols, 40, stream, 10);
    const double m0 = median(d[0]), m1 = median(d[1]), m2 = median(d[2]), unshared = median(d[3]);
    MESSAGE(fmt::format("stream {}: median |adaptive - fine EM| on the same path {:.3e}, {:.3e}, {:.3e} at tol "
                        "1e-2, 1e-3, 1e-4 (rms {:.3e}, {:.3e}, {:.3e}); on independent paths {:.3e}",
                        stream, m0, m1, m2, rms(d[0]), rms(d[1]), rms(d[2]), unshared));
    CHECK(m1 < m0 / 2.0);
    CHECK(m2 < m1 / 2.0);
    CHECK(m2 < m0 / 8.0);
    CHECK(unshared > 100.0 * m2);
  }
}

TEST_CASE("adaptive-sde samples N(1, 0.25) data with the right moments") {
  // Started from the exact p_T, the reverse SDE ends at the exact p_eps: the sample mean and
  // variance at the default tolerances must agree with those of p_eps within Monte Carlo error
  // (4 standard errors; the tolerance-driven bias measured at n = 1e5 is below 2 of them).
  const VpSde sde;
  const double t_end = 1e-3;
  const auto model = gaussian_score(sde, 1.0, 0.5, 1);
  const auto target = test::single_gaussian({1.0}, {0.5});
  const std::size_t n = 20000;
  const Matrix start = target.sample(sde, 1.0, n, PhiloxNoise(9));
  const double exact_mean = target.mean(sde, t_end)(0), exact_var = target.covariance(sde, t_end)(0, 0);
  SampleOptions o;
  o.init = &start;
  const auto r = run(sde, *model, std::vector<double>{1.0, t_end}, o);
  const double mean = sample_mean(r.samples)(0), var = sample_covariance(r.samples)(0, 0);
  const double se_mean = std::sqrt(exact_var / n), se_var = exact_var * std::sqrt(2.0 / n);
  MESSAGE(fmt::format("mean error {:.4f} ({:.1f} SE), variance error {:.4f} ({:.1f} SE); {:.1f} accepted + "
                      "{:.1f} rejected steps, {:.1f} NFE per sample",
                      mean - exact_mean, (mean - exact_mean) / se_mean, var - exact_var,
                      (var - exact_var) / se_var, r.stats.accepted_steps_per_sample,
                      r.stats.rejected_steps_per_sample, r.stats.nfe_per_sample));
  CHECK(std::abs(mean - exact_mean) < 4 * se_mean);
  CHECK(std::abs(var - exact_var) < 4 * se_var);
  // Two evaluations per attempt, nothing else; the steps are reported.
  CHECK(r.stats.accepted_steps_per_sample > 10);
  CHECK(r.stats.rejected_steps_per_sample > 0);
  CHECK(r.stats.nfe_per_sample ==
        doctest::Approx(2.0 * (r.stats.accepted_steps_per_sample + r.stats.rejected_steps_per_sample)));
  CHECK(make_sampler("adaptive-sde")->traits().adaptive);
  CHECK(make_sampler("adaptive-sde")->traits().stochastic);
}

TEST_CASE("adaptive-sde is bitwise identical for every thread count and chunk size") {
  const VpSde sde;
  const auto target = test::random_mixture(4, 3, 11);
  const auto model = exact_model(target, sde);
  const auto grid = make_grid(sde, {.steps = 10});
  SampleOptions o;
  o.num_samples = 60;
  o.seed = 42;
  o.execution = {1, 64};
  const Matrix reference = run(sde, *model, grid, o).samples;
  CHECK(reference.allFinite());
  for (int threads : {1, 3}) {
    for (std::size_t chunk : {std::size_t{1}, std::size_t{7}, std::size_t{64}, std::size_t{256}}) {
      CAPTURE(threads);
      CAPTURE(chunk);
      o.execution = {threads, chunk};
      CHECK(test::bitwise_equal(run(sde, *model, grid, o).samples, reference));
    }
  }
  // Sample i alone is sample i of the batch; the seed matters.
  for (std::uint64_t i : {0ULL, 37ULL, 59ULL}) {
    SampleOptions one = o;
    one.num_samples = 1;
    one.first_sample = i;
    CHECK(test::bitwise_equal(run(sde, *model, grid, one).samples,
                              reference.middleRows(static_cast<Eigen::Index>(i), 1)));
  }
  o.seed = 43;
  CHECK_FALSE(test::bitwise_equal(run(sde, *model, grid, o).samples, reference));
}

TEST_CASE("adaptive-sde: the step cap names the sample") {
  const VpSde sde;
  const auto model = gaussian_score(sde, 1.0, 0.5, 2);
  SampleOptions o;
  o.num_samples = 5;
  o.first_sample = 300;
  o.execution = {1, 5};
  SamplerOptions so = tolerance(1e-15);
  so.set("max_steps", "50");
  try {
    run(sde, *model, std::vector<double>{1.0, 1e-3}, o, so);
    FAIL("no error");
  } catch (const StepLimitError& e) {
    CHECK(e.sample() == 300);
    CHECK(e.time() > 1e-3);
    CHECK(std::string(e.what()).find("cap of 50 steps") != std::string::npos);
  }
}

TEST_CASE("adaptive-sde: non-finite proposals are rejected, non-finite model outputs reported") {
  const VpSde sde;
  SampleOptions o;
  o.num_samples = 64;
  o.execution = {1, 16};
  const std::vector<double> grid{1.0, 1e-3};
  {
    // A finite but huge score for t in (0.45, 0.55) overflows the proposal: rejected, h / 5,
    // until no step is possible; reported above the window, which is never entered.
    const auto model = gaussian_score(sde, 1.0, 0.5, 2, {0.45, 0.55, std::numeric_limits<double>::max()});
    try {
      run(sde, *model, grid, o);
      FAIL("no error");
    } catch (const NonFiniteError& e) {
      MESSAGE(std::string(e.what()));
      CHECK(e.sample() < 64);  // the first sample to run out of step size (rows run in lockstep)
      CHECK(e.time() >= 0.55);
      CHECK(std::string(e.what()).find("stayed non-finite down to step size") != std::string::npos);
    }
  }
  {
    // NaN for t in (0.5, 0.501): a sample whose steps miss the window finishes; one that lands
    // in it is reported with that time (64 samples, thousands of attempts: some land).
    const auto model = gaussian_score(sde, 1.0, 0.5, 2, {0.5, 0.501, std::numeric_limits<double>::quiet_NaN()});
    try {
      const Matrix x = run(sde, *model, grid, o).samples;
      CHECK(x.allFinite());
      MESSAGE("every sample stepped over the window");
    } catch (const NonFiniteError& e) {
      CHECK(e.sample() < 64);
      CHECK(e.time() > 0.5);
      CHECK(e.time() < 0.501);
      CHECK(std::string(e.what()).find("the model's score output is nan") != std::string::npos);
    }
  }
}

TEST_CASE("adaptive-sde: a grid that ends at sigma = 0 finishes with the denoiser (EDM)") {
  const EdmSde sde;
  const auto target = test::single_gaussian({0.3, -0.2}, {0.5, 0.5});
  const auto model = exact_model(target, sde);
  SampleOptions o;
  o.num_samples = 20;
  const Matrix at_one = run(sde, *model, std::vector<double>{80.0, 1.0}, o).samples;
  const auto r = run(sde, *model, std::vector<double>{80.0, 1.0, 0.0}, o);
  Matrix x0(at_one.rows(), at_one.cols());
  const Vector one = Vector::Constant(at_one.rows(), 1.0);
  model->evaluate(one, at_one, x0);
  convert_prediction(sde, Prediction::score, Prediction::data, one, at_one, x0, x0);
  CHECK(r.samples.allFinite());
  CHECK((r.samples - x0).cwiseAbs().maxCoeff() <= 1e-12);
  // and a one-step grid to 0 is the denoiser of the prior samples
  const auto prior = run(sde, *model, std::vector<double>{80.0, 0.0}, o);
  CHECK(prior.samples.allFinite());
  CHECK(prior.stats.nfe_per_sample == 1.0);
}

TEST_CASE("adaptive-sde options: validation and the family's default atol") {
  CHECK_THROWS_WITH_AS(make_sampler("adaptive-sde", {{"rtol", "-0.1"}}), doctest::Contains("option rtol of sampler adaptive-sde must be in [0, inf), got -0.1"),
                       InvalidArgument);
  CHECK_THROWS_WITH_AS(make_sampler("adaptive-sde", {{"atol", "0"}}), doctest::Contains("option atol of sampler adaptive-sde must be in (0, inf), got 0"),
                       InvalidArgument);
  CHECK_THROWS_WITH_AS(make_sampler("adaptive-sde", {{"max_steps", "-3"}}), doctest::Contains("option max_steps of sampler adaptive-sde must be an integer in 1..1000000000, got -3"),
                       InvalidArgument);
  CHECK_THROWS_WITH_AS(make_sampler("adaptive-sde", {{"eta", "1"}}), doctest::Contains("takes no option eta"),
                       InvalidArgument);
  const auto defaults = make_sampler("adaptive-sde");
  const auto& s = dynamic_cast<const AdaptiveSde&>(*defaults);
  CHECK(s.atol(VpSde()) == 0.0078);  // GGF's experiments: 0.0078 for VP data in [-1, 1]
  CHECK(s.atol(VeSde()) == 0.0039);  // and 0.0039 for VE data in [0, 1]
  CHECK(s.atol(EdmSde()) == 0.0078);
  const auto given = make_sampler("adaptive-sde", {{"atol", "0.001"}});
  CHECK(dynamic_cast<const AdaptiveSde&>(*given).atol(VeSde()) == 0.001);
}

