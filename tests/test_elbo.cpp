// The variational bound against closed forms: the diffusion term of Gaussian data, the
// tightness of the bound with the exact score (its gap to log p_0 is the truncation at t_min
// plus the prior mismatch at T), discrete to continuous, parameterisation invariance,
// determinism and errors.
#include "cli_util.hpp"
#include "test_util.hpp"

#include <tweedie/tweedie.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <numbers>
#include <string>

using namespace tweedie;
using tweedie::test::Inputs;

namespace {

/// Data N(mu, diag(s^2)) and a fixed point x: with the exact denoiser,
/// eps - eps_hat = (1 - kappa) eps - kappa alpha (x - mu) / sigma per component, kappa =
/// sigma^2 / (alpha^2 s^2 + sigma^2), so E ||eps - eps_hat||^2 is closed form at every t.
double gaussian_denoising_error(const Sde& sde, double t, const Eigen::RowVectorXd& mu,
                                const Eigen::RowVectorXd& s, const Eigen::RowVectorXd& x) {
  const double a = sde.alpha(t), sg = sde.sigma(t);
  double e = 0.0;
  for (Eigen::Index i = 0; i < x.size(); ++i) {
    const double v = a * a * s(i) * s(i) + sg * sg;
    const double kappa = sg * sg / v;
    e += (1.0 - kappa) * (1.0 - kappa) + (sg * a * (x(i) - mu(i)) / v) * (sg * a * (x(i) - mu(i)) / v);
  }
  return e;
}

/// The diffusion term of Gaussian data by quadrature: int_{lambda_T}^{lambda_min} E dlambda
/// (composite Simpson in lambda, where the integrand is smooth), or the discrete sum.
double gaussian_diffusion_term(const Sde& sde, const ElboOptions& o, const Eigen::RowVectorXd& mu,
                               const Eigen::RowVectorXd& s, const Eigen::RowVectorXd& x) {
  auto error_at = [&](double t) { return gaussian_denoising_error(sde, t, mu, s, x); };
  if (o.steps > 0) {
    GridOptions g;
    g.spacing = o.spacing;
    g.steps = o.steps;
    g.t_start = sde.T();
    g.t_end = o.t_min;
    const auto grid = make_grid(sde, g);  // descending: grid[k] > grid[k + 1]
    double sum = 0.0;
    for (std::size_t k = 0; k + 1 < grid.size(); ++k) {
      sum += 0.5 * std::expm1(2.0 * (sde.lambda(grid[k + 1]) - sde.lambda(grid[k]))) * error_at(grid[k]);
    }
    return sum;
  }
  const double l0 = sde.lambda(sde.T()), l1 = sde.lambda(o.t_min);
  const int panels = 20000;
  const double h = (l1 - l0) / panels;
  double sum = error_at(sde.t_of_lambda(l0)) + error_at(o.t_min);
  for (int k = 1; k < panels; ++k) sum += (k % 2 == 1 ? 4.0 : 2.0) * error_at(sde.t_of_lambda(l0 + k * h));
  return sum * h / 3.0;
}

/// A model in another parameterisation, converted from the exact score (any prediction).
std::unique_ptr<ScoreModel> as_prediction(const ScoreModel& exact, const Sde& sde, Prediction p) {
  return make_model(p, exact.dim(), [&exact, &sde, p](const ConstVectorRef& t, const ConstMatrixRef& x, MatrixRef out) {
    exact.evaluate(t, x, out);
    convert_prediction(sde, Prediction::score, p, t, x, out, out);
  });
}

/// Monte Carlo mean and standard error of f over rows of exact draws.
struct Estimate {
  double mean, se;
};
Estimate mean_se(const Vector& v) {
  const double m = v.mean();
  const double var = (v.array() - m).square().sum() / static_cast<double>(v.size() - 1);
  return {m, std::sqrt(var / static_cast<double>(v.size()))};
}

/// Monte Carlo mean and standard error of g over z = alpha(t) x + sigma(t) eps, n draws.
Estimate expect_over_noise(const Sde& sde, double t, const Eigen::RowVectorXd& x, Eigen::Index n,
                           std::uint64_t seed, const std::function<Vector(const Matrix&)>& g) {
  Matrix eps(n, x.size());
  PhiloxNoise(seed).normal(0, 0, 0, NoiseStream::marginal, eps);
  const Matrix z = (sde.sigma(t) * eps).rowwise() + sde.alpha(t) * x;
  return mean_se(g(z));
}

}  // namespace

TEST_CASE("elbo: the diffusion term of Gaussian data equals its quadrature within Monte Carlo error") {
  Inputs in(41);
  const int d = 3;
  const Vector w = Vector::Ones(1);
  const Matrix mu = in.uniform(1, d, -1.0, 1.0), s = in.uniform(1, d, 0.1, 0.8);
  const GaussianMixture gauss(w, mu, s);
  struct Setup {
    const char* family;
    int steps;
    GridSpacing spacing;
    ElboTimeSampling sampling;
    double t_min;
  };
  for (const Setup c : {Setup{"vp", 0, GridSpacing::time_uniform, ElboTimeSampling::log_snr, 1e-5},
                        Setup{"vp", 0, GridSpacing::time_uniform, ElboTimeSampling::time_uniform, 1e-3},
                        Setup{"cosine", 0, GridSpacing::time_uniform, ElboTimeSampling::log_snr, 1e-4},
                        Setup{"edm", 0, GridSpacing::time_uniform, ElboTimeSampling::log_snr, 2e-3},
                        Setup{"ve", 0, GridSpacing::time_uniform, ElboTimeSampling::time_uniform, 1e-5},
                        Setup{"vp", 10, GridSpacing::time_uniform, ElboTimeSampling::time_uniform, 1e-3},
                        Setup{"vp", 10, GridSpacing::log_snr, ElboTimeSampling::log_snr, 1e-5},
                        Setup{"vp", 100, GridSpacing::time_uniform, ElboTimeSampling::log_snr, 1e-2},
                        Setup{"edm", 40, GridSpacing::karras, ElboTimeSampling::log_snr, 2e-3}}) {
    CAPTURE(c.family);
    CAPTURE(c.steps);
    CAPTURE(to_string(c.sampling));
    const auto sde = tweedie::test::family(c.family);
    const auto model = exact_model(gauss, *sde);
    const Matrix x = gauss.sample(*sde, 0.0, 6, PhiloxNoise(5));
    ElboOptions o;
    o.t_min = c.t_min;
    o.steps = c.steps;
    o.spacing = c.spacing;
    o.time_sampling = c.sampling;
    o.draws = 4096;
    const ElboResult r = elbo(*sde, *model, x, o);
    double worst = 0.0;
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
      const double exact = gaussian_diffusion_term(*sde, o, mu.row(0), s.row(0), x.row(i));
      const double z = (r.diffusion(i) - exact) / r.standard_error(i);
      worst = std::max(worst, std::fabs(z));
      CHECK(r.elbo(i) == doctest::Approx(r.reconstruction(i) - r.prior_kl(i) - r.diffusion(i)).epsilon(1e-14));
    }
    MESSAGE(fmt::format("{} steps {} {}: diffusion term {:.4f} +- {:.4f}, max |z| {:.2f}", c.family,
                        c.steps, to_string(c.sampling), r.diffusion(0), r.standard_error(0), worst));
    CHECK(worst < 4.0);
  }
}

TEST_CASE("elbo: unbiased over seeds; with log-SNR sampling the standard error is calibrated") {
  const Vector w = Vector::Ones(1);
  const Matrix mu = Matrix::Constant(1, 2, 0.5), s = Matrix::Constant(1, 2, 0.3);
  const GaussianMixture gauss(w, mu, s);
  const auto sde = tweedie::test::family("vp");
  const auto model = exact_model(gauss, *sde);
  const Matrix x = Matrix::Constant(1, 2, 0.8);
  for (const auto sampling : {ElboTimeSampling::log_snr, ElboTimeSampling::time_uniform}) {
    ElboOptions o;
    o.time_sampling = sampling;
    o.t_min = 1e-3;
    o.draws = 256;
    const double exact = gaussian_diffusion_term(*sde, o, mu.row(0), s.row(0), x.row(0));
    const int seeds = 400;
    Vector estimate(seeds), se(seeds);
    for (int k = 0; k < seeds; ++k) {
      o.seed = static_cast<std::uint64_t>(k);
      const ElboResult r = elbo(*sde, *model, x, o);
      estimate(k) = r.diffusion(0);
      se(k) = r.standard_error(0);
    }
    const Estimate e = mean_se(estimate);
    const double spread = e.se * std::sqrt(static_cast<double>(seeds));
    const double rms_se = std::sqrt(se.squaredNorm() / seeds);
    MESSAGE(fmt::format("{}: exact {:.5f}, mean estimate {:.5f} +- {:.5f}; spread over seeds {:.4f}, "
                        "rms reported SE {:.4f}",
                        to_string(sampling), exact, e.mean, e.se, spread, rms_se));
    CHECK(std::fabs(e.mean - exact) < 4.0 * e.se);
    if (sampling == ElboTimeSampling::log_snr) {
      // Paired strata: conservative in principle, close to exact for this smooth integrand.
      CHECK(rms_se > 0.9 * spread);
      CHECK(rms_se < 1.25 * spread);
    }
    // In t, the weight g^2 / (2 sigma^2) ~ 1 / (2 t) of VP makes the first stratum heavy-tailed:
    // both the spread and the reported error are dominated by rare draws (documented in elbo.hpp).
  }
}

TEST_CASE("elbo with the exact score is tight: its gap to log p_0 is the truncation plus the prior mismatch") {
  struct Setup {
    const char* name;
    GaussianMixture mix;
    SdeSpec spec;
    double t_min;
  };
  Inputs in(7);
  SdeSpec short_vp;
  short_vp.family = "vp";
  short_vp.beta_max = 5.0;  // alpha(T) = 0.28: a prior mismatch of order 0.1 nats
  SdeSpec vp;
  SdeSpec edm;
  edm.family = "edm";
  edm.sigma_max = 3.0;
  for (const Setup& c : {Setup{"ring d=2, vp beta_max 5", GaussianMixture::ring(), short_vp, 2e-2},
                         Setup{"ring d=2, vp", GaussianMixture::ring(), vp, 1e-5},
                         Setup{"mixture d=16, vp beta_max 5", in.mixture(3, 16), short_vp, 2e-2},
                         Setup{"mixture d=16, edm sigma_max 3", in.mixture(3, 16), edm, 5e-2}}) {
    CAPTURE(c.name);
    const auto sde = make_sde(c.spec);
    const auto model = exact_model(c.mix, *sde);
    const Eigen::Index d = c.mix.dim(), draws = 1 << 16;
    const Matrix x = c.mix.sample(*sde, 0.0, 3, PhiloxNoise(11));
    ElboOptions o;
    o.t_min = c.t_min;
    o.draws = static_cast<int>(draws);
    const ElboResult r = elbo(*sde, *model, x, o);
    Vector log_p0(x.rows());
    c.mix.log_density(*sde, Vector::Zero(x.rows()), x, log_p0);
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
      auto log_density_at = [&](double t) {
        return [&c, &sde, t](const Matrix& z) {
          Vector out(z.rows());
          c.mix.log_density(*sde, Vector::Constant(z.rows(), t), z, out);
          return out;
        };
      };
      // truncation = E_z[log q(x | z) - log p(x | z)] = log p_0(x) - d log alpha - E log p_{t_min}(z).
      const Estimate at_min = expect_over_noise(*sde, c.t_min, x.row(i), draws, 100 + i, log_density_at(c.t_min));
      const double truncation = log_p0(i) - static_cast<double>(d) * std::log(sde->alpha(c.t_min)) - at_min.mean;
      // prior mismatch = E_{q(z_T | x)}[log p_T(z) - log N(z; 0, prior_std^2 I)].
      const Estimate prior = expect_over_noise(*sde, sde->T(), x.row(i), draws, 200 + i, [&](const Matrix& z) {
        Vector v = log_density_at(sde->T())(z);
        for (Eigen::Index k = 0; k < z.rows(); ++k) v(k) -= sde->prior_log_density(z.row(k));
        return v;
      });
      const double gap = log_p0(i) - r.elbo(i);
      const double residual = gap - truncation - prior.mean;
      const double se = std::sqrt(r.standard_error(i) * r.standard_error(i) + at_min.se * at_min.se +
                                  prior.se * prior.se);
      MESSAGE(fmt::format("{} sample {}: log p_0 {:.4f}, elbo {:.4f} +- {:.4f}, gap {:.4f} = truncation "
                          "{:.4f} + prior mismatch {:.4f} + residual {:.4f} (SE {:.4f})",
                          c.name, i, log_p0(i), r.elbo(i), r.standard_error(i), gap, truncation,
                          prior.mean, residual, se));
      CHECK(std::fabs(residual) < 4.0 * se);
      // The two terms are resolved where they are large: leaving either out would fail.
      if (truncation + prior.mean > 0.1) CHECK(se < (truncation + prior.mean) / 3.0);
    }
  }
}

TEST_CASE("elbo: the four parameterisations give the same bound") {
  const GaussianMixture mix = GaussianMixture::ring();
  for (const char* family : {"vp", "edm", "cosine"}) {
    CAPTURE(family);
    const auto sde = tweedie::test::family(family);
    const auto exact = exact_model(mix, *sde);
    const Matrix x = mix.sample(*sde, 0.0, 5, PhiloxNoise(3));
    for (const int steps : {0, 20}) {
      ElboOptions o;
      o.t_min = family == std::string("edm") ? 2e-3 : 1e-4;
      o.steps = steps;
      o.draws = 512;
      const ElboResult ref = elbo(*sde, *exact, x, o);
      for (const auto p : {Prediction::noise, Prediction::data, Prediction::velocity}) {
        CAPTURE(to_string(p));
        const ElboResult r = elbo(*sde, *as_prediction(*exact, *sde, p), x, o);
        // Same draws; only the rounding of the conversions differs.
        CHECK((r.elbo - ref.elbo).cwiseAbs().maxCoeff() < 1e-9 * (1.0 + ref.elbo.cwiseAbs().maxCoeff()));
        CHECK((r.standard_error - ref.standard_error).cwiseAbs().maxCoeff() < 1e-9 * (1.0 + ref.standard_error.maxCoeff()));
      }
    }
  }
}

TEST_CASE("elbo: the discrete bound decreases to the continuous one as the steps grow") {
  // Gaussian data: the discrete sums and the integral are closed form (up to quadrature).
  const Vector w = Vector::Ones(1);
  const Matrix mu = Matrix::Constant(1, 4, -0.3), s = Matrix::Constant(1, 4, 0.4);
  const Eigen::RowVectorXd x = Eigen::RowVectorXd::Constant(4, 0.2);
  const auto sde = tweedie::test::family("vp");
  ElboOptions o;
  o.t_min = 1e-4;
  const double continuous = gaussian_diffusion_term(*sde, o, mu.row(0), s.row(0), x);
  o.spacing = GridSpacing::log_snr;
  double previous = std::numeric_limits<double>::infinity();
  for (const int steps : {10, 100, 1000}) {
    o.steps = steps;
    const double excess = gaussian_diffusion_term(*sde, o, mu.row(0), s.row(0), x) - continuous;
    MESSAGE(fmt::format("log-SNR grid of {} steps: discrete diffusion term exceeds the continuous {:.6f} by {:.3e}",
                        steps, continuous, excess));
    CHECK(excess > 0.0);
    CHECK(excess < previous / 5.0);  // first order in 1/N
    previous = excess;
  }
  // The same with the Monte Carlo estimator on a mixture: common random numbers (the same seed
  // draws the same u and eps for every N), so the differences are sharp.
  const GaussianMixture mix = GaussianMixture::ring();
  const auto model = exact_model(mix, *sde);
  const Matrix data = mix.sample(*sde, 0.0, 4, PhiloxNoise(2));
  o.steps = 0;
  o.draws = 4096;
  const ElboResult limit = elbo(*sde, *model, data, o);
  double previous_gap = std::numeric_limits<double>::infinity();
  for (const int steps : {10, 100, 1000}) {
    o.steps = steps;
    const ElboResult r = elbo(*sde, *model, data, o);
    const double gap = (limit.elbo - r.elbo).mean();
    MESSAGE(fmt::format("ring, {} log-SNR steps: mean elbo {:.4f} vs continuous {:.4f}", steps, r.elbo.mean(),
                        limit.elbo.mean()));
    CHECK(gap > 0.0);
    CHECK(gap < previous_gap);
    previous_gap = gap;
  }
}

TEST_CASE("elbo is bitwise independent of threads and chunks") {
  const GaussianMixture mix = GaussianMixture::ring();
  const auto sde = tweedie::test::family("vp");
  const auto model = exact_model(mix, *sde);
  const Matrix x = mix.sample(*sde, 0.0, 37, PhiloxNoise(9));
  ElboOptions o;
  o.draws = 300;  // not a multiple of the block of model rows
  o.execution = {1, 4096};
  const ElboResult ref = elbo(*sde, *model, x, o);
  for (const Execution& e : {Execution{2, 1}, Execution{8, 5}, Execution{2, 64}}) {
    o.execution = e;
    const ElboResult r = elbo(*sde, *model, x, o);
    CHECK(tweedie::test::bitwise_equal(r.elbo.transpose(), ref.elbo.transpose()));
    CHECK(tweedie::test::bitwise_equal(r.standard_error.transpose(), ref.standard_error.transpose()));
  }
  // A sample alone gives the bits it gives in the batch.
  const ElboResult one = elbo(*sde, *model, x.row(0), o);
  CHECK(std::bit_cast<std::uint64_t>(one.elbo(0)) == std::bit_cast<std::uint64_t>(ref.elbo(0)));
}

TEST_CASE("elbo reports bad input and a non-finite model output") {
  const GaussianMixture mix = GaussianMixture::ring();
  const auto sde = tweedie::test::family("vp");
  const auto model = exact_model(mix, *sde);
  const Matrix x = mix.sample(*sde, 0.0, 4, PhiloxNoise(1));
  auto message = [&](const Matrix& data, const ElboOptions& o, const ScoreModel& m) {
    try {
      elbo(*sde, m, data, o);
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  ElboOptions o;
  o.draws = 7;
  CHECK(message(x, o, *model).find("draws must be even") != std::string::npos);
  o = {};
  o.t_min = 1.0;
  CHECK(message(x, o, *model).find("t_min = 1 must be below T") != std::string::npos);
  o = {};
  o.steps = -1;
  CHECK(message(x, o, *model).find("steps must be >= 0") != std::string::npos);
  o = {};
  Matrix bad = x;
  bad(2, 1) = std::nan("");
  CHECK(message(bad, o, *model).find("row 2, column 1") != std::string::npos);
  CHECK(message(Matrix::Zero(2, 3), o, *model).find("dimension 3") != std::string::npos);
  CHECK_THROWS_AS(elbo_time_sampling_from_string("uniform"), InvalidArgument);

  // A model that fails for sample 2 only, at small t: named with its draw and time.
  const auto nan_model = make_model(Prediction::score, 2, [&](const ConstVectorRef& t, const ConstMatrixRef& z, MatrixRef out) {
    model->evaluate(t, z, out);
    for (Eigen::Index k = 0; k < z.rows(); ++k) {
      if (t(k) < 0.01 && z(k, 0) > 100.0) out(k, 1) = std::nan("");
    }
  });
  bad = x;
  bad.row(2).setConstant(150.0);
  o = {};
  o.draws = 64;
  try {
    elbo(*sde, *nan_model, bad, o);
    FAIL("no error");
  } catch (const NonFiniteError& e) {
    CHECK(e.sample() == 2);
    CHECK(e.time() < 0.01);
    CHECK(std::string(e.what()).find("component 1") != std::string::npos);
    CHECK(std::string(e.what()).find("ELBO draw") != std::string::npos);
  }
}

TEST_CASE("tweedie elbo: the bound from the command line") {
  using tweedie::test::Outcome;
  using tweedie::test::run_cli;
  const tweedie::test::TempDir dir;
  const GaussianMixture mix = GaussianMixture::ring();
  VpSde sde;
  const Matrix x = mix.sample(sde, 0.0, 20, PhiloxNoise(4));
  write_npy(dir.file("x.npy"), x);
  const std::string base = fmt::format("elbo --target builtin:ring --data {} --draws 64", dir.file("x.npy"));
  const Outcome r = run_cli(base + " --threads 2 --out " + dir.file("elbo.npy"));
  CAPTURE(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("continuous-time bound") != std::string::npos);
  CHECK(r.output.find("bits/dim") != std::string::npos);
  // The file holds the library's per-sample bounds, bit for bit.
  ElboOptions o;
  o.draws = 64;
  const ElboResult lib = elbo(sde, *exact_model(mix, sde), x, o);
  const NpyArray written = read_npy(dir.file("elbo.npy"));
  REQUIRE(written.values.size() == 20);
  for (Eigen::Index i = 0; i < 20; ++i) CHECK(written.values[static_cast<std::size_t>(i)] == lib.elbo(i));
  const Outcome discrete = run_cli(base + " --steps 100 --spacing log-snr");
  CAPTURE(discrete.output);
  CHECK(discrete.status == 0);
  CHECK(discrete.output.find("100-step log-snr bound") != std::string::npos);
  for (const std::string bad : {" --draws 3", " --steps -2", " --spacing cubic", " --time-sampling t",
                                " --t-min 1", " --seed 5000000000"}) {
    const Outcome b = run_cli(base + bad + " --out " + dir.file("bad.npy"));
    CAPTURE(bad);
    CAPTURE(b.output);
    CHECK(b.status == 2);
    CHECK(b.output.rfind("tweedie: error: ", 0) == 0);
    CHECK(std::count(b.output.begin(), b.output.end(), '\n') == 1);
    CHECK_FALSE(std::filesystem::exists(dir.file("bad.npy")));
  }
}

TEST_CASE("ElboSettings: ElboOptions's defaults by name, the names parsed, the run's fields passed on") {
  const ElboOptions defaults;
  Execution run;
  run.threads = 2;
  run.chunk_rows = 64;
  const ElboOptions o = ElboSettings().options(7, 1, run, std::vector<int>{1, 0});
  CHECK(o.t_min == defaults.t_min);
  CHECK(o.steps == defaults.steps);
  CHECK(o.spacing == defaults.spacing);
  CHECK(o.time_sampling == defaults.time_sampling);
  CHECK(o.draws == defaults.draws);
  CHECK((o.seed == 7 && o.noise_stream == 1 && o.execution.threads == 2 && o.execution.chunk_rows == 64));
  CHECK((o.labels == std::vector<int>{1, 0}));
  const ElboSettings discrete{1e-3, 9, "karras", "time-uniform", 16};
  const ElboOptions d = discrete.options(0, rng_stream_version, Execution(), std::vector<int>());
  CHECK((d.t_min == 1e-3 && d.steps == 9 && d.spacing == GridSpacing::karras && d.draws == 16));
  CHECK(d.time_sampling == ElboTimeSampling::time_uniform);
  const ElboSettings misspelt{1e-5, 0, "cubic", "log-snr", 8};
  CHECK_THROWS_WITH_AS(misspelt.options(0, rng_stream_version, Execution(), std::vector<int>()),
                       doctest::Contains("unknown grid 'cubic'"), InvalidArgument);
}
