// score_sde's samplers (solvers/score_sde.*): reverse diffusion, ancestral sampling and PC.
// Update rules term by term against FORMULAS b2 with coefficients computed here independently;
// the exact moment recursion of each scheme on Gaussian data (its weak error, order 1); the
// correctors' stationary laws at a fixed t; the corrector/predictor order; NFE; options.
#include "sampling_util.hpp"
#include "score_sde.hpp"
#include "test_util.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <functional>
#include <numbers>
#include <string>
#include <vector>

using namespace tweedie;
using tweedie::test::convergence_order;

namespace {

// ---- closed forms of FORMULAS b1, written independently of src/sde.cpp ---------------------

double vp_alpha(double t) { return std::exp(-0.25 * t * t * (20.0 - 0.1) - 0.5 * t * 0.1); }
double cosine_alpha(double t) {
  const double s = 0.008, h = std::numbers::pi / 2.0;
  return std::cos(h * (t + s) / (1.0 + s)) / std::cos(h * s / (1.0 + s));
}
double ve_sigma(double t) { return 0.01 * std::pow(50.0 / 0.01, t); }

// A family as the test sees it: VP-type (alpha^2 + sigma^2 = 1, DDPM steps) or alpha = 1 (SMLD).
struct Family {
  std::string name;
  bool vp_type;
  std::function<double(double)> alpha, sigma;
};
Family vp_family() {
  return {"vp", true, vp_alpha,
          [](double t) { return std::sqrt(1.0 - vp_alpha(t) * vp_alpha(t)); }};
}
Family cosine_family() {
  return {"cosine", true, cosine_alpha,
          [](double t) { return std::sqrt(1.0 - cosine_alpha(t) * cosine_alpha(t)); }};
}
Family ve_family() {
  return {"ve", false, [](double) { return 1.0; }, ve_sigma};
}
Family edm_family() {
  return {"edm", false, [](double) { return 1.0; }, [](double t) { return t; }};
}

// FORMULAS b2, one step from t to u < t, with beta_i / G_i^2 of the interval (score_sde indexes
// its tables; see the discretisation test below for how the two agree).
struct StepRule {
  double a, b, c;  // x_next = a x + b s + c z
};
StepRule expected_rule(const std::string& sampler, const Family& f, double t, double u) {
  if (f.vp_type) {
    const double beta = 1.0 - std::pow(f.alpha(t) / f.alpha(u), 2);
    if (sampler == "reverse-diffusion") return {2.0 - std::sqrt(1.0 - beta), beta, std::sqrt(beta)};
    return {1.0 / std::sqrt(1.0 - beta), beta / std::sqrt(1.0 - beta), std::sqrt(beta)};
  }
  const double st = f.sigma(t), su = f.sigma(u), g2 = st * st - su * su;
  if (sampler == "reverse-diffusion") return {1.0, g2, std::sqrt(g2)};
  return {1.0, g2, std::sqrt(su * su * g2 / (st * st))};
}

// An arbitrary smooth field (not a true score): the update rules are affine in it, so a term that
// is wrong shows up whatever the model is.
std::unique_ptr<ScoreModel> arbitrary_model(Eigen::Index d) {
  return make_model(Prediction::score, d, [](const auto& t, const auto& x, auto out) {
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
      for (Eigen::Index j = 0; j < x.cols(); ++j) {
        out(i, j) =
            std::sin(3.0 * x(i, j)) - x(i, j) / (1.0 + t(i) * t(i)) + 0.1 * static_cast<double>(j);
      }
    }
  });
}

Matrix model_at(const ScoreModel& model, double t, const Matrix& x) {
  Matrix out(x.rows(), x.cols());
  model.evaluate(Vector::Constant(x.rows(), t), x, out);
  return out;
}

Matrix normals(std::uint64_t seed, std::uint32_t step, std::uint32_t stage, NoiseStream stream,
               Eigen::Index rows, Eigen::Index cols) {
  Matrix z(rows, cols);
  PhiloxNoise(seed).normal(0, step, stage, stream, z);
  return z;
}

Matrix random_state(Eigen::Index rows, Eigen::Index cols, double scale) {
  Matrix x(rows, cols);
  PhiloxNoise(99).normal(0, 0, 0, NoiseStream::marginal, x);
  return scale * x;
}

Matrix run(const Sde& sde, const ScoreModel& model, const std::string& name,
           const SamplerOptions& options, const std::vector<double>& grid, const Matrix& init,
           std::uint64_t seed, const NoiseSource* noise = nullptr) {
  SampleOptions o;
  o.init = &init;
  o.seed = seed;
  o.noise = noise;
  return sample(sde, model, *make_sampler(name, options), grid, o).samples;
}

bool bitwise_equal(const Matrix& a, const Matrix& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         std::memcmp(a.data(), b.data(), sizeof(double) * static_cast<std::size_t>(a.size())) == 0;
}

// |a - b| relative to the size of b (at least 1).
double relative_difference(const Matrix& a, const Matrix& b) {
  return (a - b).cwiseAbs().maxCoeff() / std::max(1.0, b.cwiseAbs().maxCoeff());
}

}  // namespace

// ---- update rules, term by term --------------------------------------------------------------

TEST_CASE("reverse-diffusion and ancestral steps are score_sde's update rules (FORMULAS b2)") {
  // Three-point grids with coarse steps (coefficients far from their small-step limits), random
  // states, an arbitrary score field, and the noise of stream diffusion at (step i, stage 0).
  const Eigen::Index rows = 7, d = 5;
  const std::uint64_t seed = 17;
  const auto model = arbitrary_model(d);
  struct Case {
    Family family;
    std::vector<double> grid;
  };
  const std::vector<Case> cases = {{vp_family(), {0.9, 0.55, 0.2}},
                                   {cosine_family(), {0.95, 0.5, 0.05}},
                                   {ve_family(), {0.8, 0.45, 0.1}},
                                   {edm_family(), {20.0, 3.0, 0.5}}};
  for (const auto& c : cases) {
    const auto sde = test::family(c.family.name);
    const Matrix init = random_state(rows, d, sde->sigma(c.grid[0]));
    for (const std::string sampler : {"reverse-diffusion", "ancestral"}) {
      CAPTURE(c.family.name);
      CAPTURE(sampler);
      Matrix expected = init;
      for (std::size_t i = 0; i + 1 < c.grid.size(); ++i) {
        const StepRule r = expected_rule(sampler, c.family, c.grid[i], c.grid[i + 1]);
        const Matrix s = model_at(*model, c.grid[i], expected);
        const Matrix z =
            normals(seed, static_cast<std::uint32_t>(i), 0, NoiseStream::diffusion, rows, d);
        expected = r.a * expected + r.b * s + r.c * z;
      }
      const Matrix x = run(*sde, *model, sampler, {}, c.grid, init, seed);
      // The coefficients here are 1 - ratio^2 and sqrt(1 - beta), there expm1 and exp of log
      // ratios: they agree to a few ulps of the largest term (observed <= 3.2e-15); 1e-13 leaves
      // room for the second step amplifying a first-step difference (|d sin(3x)/dx| <= 3).
      CHECK(relative_difference(x, expected) < 1e-13);
      // and the noise matters: with another seed the result differs.
      CHECK(relative_difference(run(*sde, *model, sampler, {}, c.grid, init, seed + 1), expected) >
            1e-3);
    }
  }
}

TEST_CASE(
    "onto EDM's t = 0 the ancestral step returns Tweedie's x0 and reverse diffusion adds t z") {
  const auto sde = test::family("edm");
  const auto target = test::random_mixture(3, 4, 5);
  const auto model = exact_model(target, *sde);
  const double t = 1.7;
  const Matrix init = target.sample(*sde, t, 50, PhiloxNoise(2));
  Matrix s(init.rows(), init.cols());
  target.score(*sde, Vector::Constant(init.rows(), t), init, s);
  const Matrix x0 = init + t * t * s;  // Tweedie's formula with alpha = 1, sigma = t
  const Matrix anc = run(*sde, *model, "ancestral", {}, {t, 0.0}, init, 4);
  CHECK(relative_difference(anc, x0) < 1e-15);  // a = 1, b = t^2 (exact), c = 0: x + t^2 s
  const Matrix rd = run(*sde, *model, "reverse-diffusion", {}, {t, 0.0}, init, 4);
  const Matrix z = normals(4, 0, 0, NoiseStream::diffusion, init.rows(), init.cols());
  CHECK(relative_difference(rd, x0 + t * z) < 1e-15);
}

TEST_CASE(
    "sub-VP: reverse diffusion is score_sde's Euler-Maruyama discretisation; ancestral is "
    "refused") {
  const auto sde = test::family("subvp");
  const auto target = test::random_mixture(4, 3, 8);
  const auto model = exact_model(target, *sde);
  const auto grid = make_grid(*sde, {.steps = 12});
  const Matrix init = target.sample(*sde, 1.0, 40, PhiloxNoise(1));
  const Matrix em = run(*sde, *model, "em", {}, grid, init, 6);
  CHECK(bitwise_equal(run(*sde, *model, "reverse-diffusion", {}, grid, init, 6), em));
  CHECK(bitwise_equal(
      run(*sde, *model, "pc", {{"predictor", "em"}, {"corrector", "none"}}, grid, init, 6), em));
  for (const char* name : {"ancestral", "pc"}) {
    CAPTURE(name);
    const SamplerOptions o =
        std::string(name) == "pc" ? SamplerOptions{{"predictor", "ancestral"}} : SamplerOptions{};
    CHECK_THROWS_WITH_AS(run(*sde, *model, name, o, grid, init, 6),
                         doctest::Contains("does not support the subvp family"), InvalidArgument);
  }
}

TEST_CASE("pc with one part switched off is the predictor-only sampler, bitwise") {
  const VpSde sde;
  const auto target = test::random_mixture(3, 2, 9);
  const auto model = exact_model(target, sde);
  const auto grid = make_grid(sde, {.steps = 15});
  const Matrix init = target.sample(sde, 1.0, 30, PhiloxNoise(3));
  for (const char* p : {"reverse-diffusion", "ancestral", "em"}) {
    CAPTURE(p);
    const Matrix alone = run(sde, *model, p, {}, grid, init, 2);
    CHECK(bitwise_equal(
        run(sde, *model, "pc", {{"predictor", p}, {"corrector", "none"}}, grid, init, 2), alone));
  }
}

TEST_CASE(
    "the DDPM and SMLD coefficients of an interval agree with score_sde's tables to first order") {
  // score_sde: discrete_betas = linspace(b0/N, b1/N, N), discrete_sigmas = exp(linspace(log smin,
  // log smax, N)), indexed by k = floor(t (N - 1)) at the step's start t. tweedie: the interval's
  // beta_i = 1 - alpha(t_i)^2 / alpha(t_{i+1})^2 and G_i^2 = sigma(t_i)^2 - sigma(t_{i+1})^2.
  // The other orientation, 1 - alpha(t_{i+1})^2 / alpha(t_i)^2, is negative: not a variance.
  // Per step the two differ by O(dt^2): the index offset puts score_sde's time within 1/(N - 1)
  // below t_i, ours is the interval's, so the largest difference falls by 4 (VP, absolute) or by 2
  // (VE, relative to G^2, which grows by exp(2 log(smax/smin) dt) per step) when N doubles.
  const VpSde vp;
  const VeSde ve;
  std::vector<double> vp_diff, ve_diff;
  for (int n : {1000, 2000}) {
    const double nd = n;
    // t_end small so that score_sde's grid from T to 0 and ours cover the same times.
    const auto vp_grid = make_grid(vp, {.steps = n, .t_end = 1e-7});
    const auto ve_grid = make_grid(ve, {.steps = n, .t_end = 1e-7});
    double dv = 0.0, de = 0.0;
    for (int i = 0; i < n; ++i) {
      const auto from = solvers::schedule_point(vp, vp_grid[i]),
                 to = solvers::schedule_point(vp, vp_grid[i + 1]);
      const double ours = solvers::ddpm_beta(from, to);
      REQUIRE(ours > 0.0);
      const auto k = static_cast<int>(std::floor(vp_grid[i] * (nd - 1.0)));
      const double theirs = 0.1 / nd + k * (20.0 / nd - 0.1 / nd) / (nd - 1.0);
      dv = std::max(dv, std::abs(ours - theirs));
      const auto ke = static_cast<int>(std::floor(ve_grid[i] * (nd - 1.0)));
      if (ke == 0) continue;  // score_sde's last VE step goes to sigma = 0 (sigma_{-1} = 0)
      const double g2 = solvers::smld_variance(solvers::schedule_point(ve, ve_grid[i]),
                                               solvers::schedule_point(ve, ve_grid[i + 1]));
      auto sig = [&](int j) {
        return std::exp(std::log(0.01) + j * (std::log(50.0) - std::log(0.01)) / (nd - 1.0));
      };
      const double theirs_g2 = sig(ke) * sig(ke) - sig(ke - 1) * sig(ke - 1);
      de = std::max(de, std::abs(g2 - theirs_g2) / theirs_g2);
    }
    vp_diff.push_back(dv);
    ve_diff.push_back(de);
  }
  MESSAGE(
      fmt::format("max |beta - score_sde beta| {} (N = 1000, 2000); max relative G^2 difference {}",
                  fmt::join(vp_diff, " "), fmt::join(ve_diff, " ")));
  // Bounds from the expansion at N = 1000. VP: 1 - exp(-I) = I - I^2/2 + ..., I = beta(t_mid) dt
  // <= 20 dt, plus (b1 - b0) |t_mid - k/(N-1)| dt <= 19.9 dt^2 / 2: 210 / N^2 in all. VE: the
  // ratio of the two G^2 lies in (1 - 1/N, exp(2 log(smax/smin) / (N - 1))).
  CHECK(vp_diff[0] < 210.0 / 1e6);
  CHECK(ve_diff[0] < std::expm1(2.0 * std::log(5000.0) / 999.0));
  CHECK(vp_diff[0] / vp_diff[1] == doctest::Approx(4.0).epsilon(0.15));
  CHECK(ve_diff[0] / ve_diff[1] == doctest::Approx(2.0).epsilon(0.15));
}

// ---- the PC loop ------------------------------------------------------------------------------

namespace {

// Logs every model call (as the grid index of its time) and every noise draw, in call order.
struct CallLog {
  std::vector<std::string> entries;
  std::vector<double> grid;
};

class LoggingNoise final : public NoiseSource {
 public:
  explicit LoggingNoise(CallLog& log) : log_(log), base_(1) {}
  void normal(std::uint64_t first_row, std::uint32_t step, std::uint32_t stage, NoiseStream stream,
              MatrixRef out) const override {
    log_.entries.push_back(fmt::format(
        "z{}.{}.{}", step, stage, stream == NoiseStream::corrector ? "corrector" : "diffusion"));
    base_.normal(first_row, step, stage, stream, out);
  }

 private:
  CallLog& log_;
  PhiloxNoise base_;
};

}  // namespace

TEST_CASE(
    "pc corrects first, then predicts, at every grid time but the last (score_sde's order, #50)") {
  const VpSde sde;
  const auto target = test::random_mixture(2, 2, 3);
  const auto exact = exact_model(target, sde);
  CallLog log;
  log.grid = make_grid(sde, {.steps = 3});
  const auto model = make_model(Prediction::score, 2, [&](const auto& t, const auto& x, auto out) {
    const auto at = std::find(log.grid.begin(), log.grid.end(), t(0));
    log.entries.push_back(fmt::format("s@{}", at - log.grid.begin()));
    exact->evaluate(t, x, out);
  });
  const LoggingNoise noise(log);
  const Matrix init = Matrix::Ones(3, 2);
  SampleOptions o;
  o.init = &init;
  o.noise = &noise;
  o.execution = {1, 64};  // one chunk, so the log is one sequence
  sample(sde, *model, *make_sampler("pc", {{"corrector_steps", "2"}}), log.grid, o);
  std::vector<std::string> expected;
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 2; ++j) {  // corrector step j at t_i: a score, then its noise
      expected.push_back(fmt::format("s@{}", i));
      expected.push_back(fmt::format("z{}.{}.corrector", i, j));
    }
    expected.push_back(fmt::format("s@{}", i));  // then the predictor from t_i to t_{i+1}
    expected.push_back(fmt::format("z{}.0.diffusion", i));
  }
  CHECK(log.entries == expected);  // and nothing at t_3: the final sample is not corrected
}

TEST_CASE("Langevin and ALD corrector steps are score_sde's rules, with each sample's own norms") {
  // x_b <- x_b + e_b s_b + sqrt(2 e_b) z_b, e_b = 2 alpha (snr |z_b| / |s_b|)^2 (langevin) or
  // 2 alpha (snr sigma_t)^2 (ald); alpha = 1 - beta_i (VP-type) or 1 (VE); then the predictor.
  const Eigen::Index rows = 6, d = 4;
  const std::uint64_t seed = 23;
  const auto model = arbitrary_model(d);
  const double snr = 0.3;
  for (const Family& f : {vp_family(), ve_family()}) {
    const auto sde = test::family(f.name);
    const std::vector<double> grid =
        f.vp_type ? std::vector<double>{0.7, 0.3} : std::vector<double>{0.6, 0.2};
    const double t = grid[0], u = grid[1];
    const double alpha = f.vp_type ? std::pow(f.alpha(t) / f.alpha(u), 2) : 1.0;
    const Matrix init = random_state(rows, d, sde->sigma(t));
    for (const std::string corrector : {"langevin", "ald"}) {
      for (const std::string predictor : {"none", "reverse-diffusion"}) {
        CAPTURE(f.name);
        CAPTURE(corrector);
        CAPTURE(predictor);
        Matrix expected = init;
        for (std::uint32_t j = 0; j < 2; ++j) {
          const Matrix s = model_at(*model, t, expected);
          const Matrix z = normals(seed, 0, j, NoiseStream::corrector, rows, d);
          for (Eigen::Index b = 0; b < rows; ++b) {
            const double e =
                corrector == "ald"
                    ? 2.0 * alpha * std::pow(snr * f.sigma(t), 2)
                    : 2.0 * alpha * std::pow(snr * z.row(b).norm() / s.row(b).norm(), 2);
            expected.row(b) += e * s.row(b) + std::sqrt(2.0 * e) * z.row(b);
          }
        }
        if (predictor != "none") {
          const StepRule r = expected_rule(predictor, f, t, u);
          expected = r.a * expected + r.b * model_at(*model, t, expected) +
                     r.c * normals(seed, 0, 0, NoiseStream::diffusion, rows, d);
        }
        const SamplerOptions o{{"predictor", predictor},
                               {"corrector", corrector},
                               {"snr", "0.3"},
                               {"corrector_steps", "2"}};
        const Matrix x = run(*sde, *model, "pc", o, grid, init, seed);
        // Norms summed in another order and the coefficients' rounding: a few ulps of the terms
        // (observed <= 2.8e-15).
        CHECK(relative_difference(x, expected) < 1e-13);
      }
    }
  }
}

// ---- weak convergence: the exact moment recursion of each scheme --------------------------

namespace {

// Data N(1, 0.25) in one dimension: p_t = N(alpha, alpha^2 / 4 + sigma^2) and the score is
// linear, so every step above maps a Gaussian state to a Gaussian: with s = -(x - m_t) / v_t,
//   x' = a x + b s + c z  =>  mean' = k mean + b m_t / v_t,  var' = k^2 var + c^2,  k = a - b / v_t,
// and an ALD step (e = 2 alpha (snr sigma_t)^2) is a = 1, b = e, c = sqrt(2 e). This recursion
// is the scheme's exact expectation: Monte Carlo runs must agree with it, and its distance to the
// exact moments of p_{t_N} is the weak error.
struct Moments {
  double mean, var;
};
Moments data_at(const Family& f, double t) {
  const double a = f.alpha(t), s = f.sigma(t);
  return {a, a * a * 0.25 + s * s};
}
void affine_update(Moments& m, const Moments& p, double a, double b, double c) {
  const double k = a - b / p.var;
  m = {k * m.mean + b * p.mean / p.var, k * k * m.var + c * c};
}
Moments scheme_moments(const std::string& sampler, const Family& f, const std::vector<double>& grid,
                       double ald_snr = 0.0) {
  Moments m = data_at(f, grid[0]);
  for (std::size_t i = 0; i + 1 < grid.size(); ++i) {
    const double t = grid[i], u = grid[i + 1];
    const Moments p = data_at(f, t);
    if (ald_snr > 0.0) {
      const double alpha = f.vp_type ? std::pow(f.alpha(t) / f.alpha(u), 2) : 1.0;
      const double e = 2.0 * alpha * std::pow(ald_snr * f.sigma(t), 2);
      affine_update(m, p, 1.0, e, std::sqrt(2.0 * e));
    }
    const StepRule r = expected_rule(sampler, f, t, u);
    affine_update(m, p, r.a, r.b, r.c);
  }
  return m;
}
double moment_error(const Moments& m, const Moments& exact) {
  return std::abs(m.mean - exact.mean) + std::abs(m.var - exact.var);
}

}  // namespace

TEST_CASE("reverse diffusion and ancestral sampling converge weakly with order 1 (VP, VE)") {
  // Start from the exact p_T (no prior mismatch), n = 2e4 samples. The Monte Carlo moments must
  // equal the scheme's exact moments within 4 standard errors (mean: sqrt(v/n), variance:
  // v sqrt(2/n) for the Gaussian output) at N = 20 and 80; the exact weak error has order 1
  // (slope over N = 20 .. 1280, deterministic) and the measured errors fall with N.
  const std::size_t n = 20000;
  const auto target = test::single_gaussian({1.0}, {0.5});
  const std::vector<int> mc_steps{20, 80};
  for (const Family& f : {vp_family(), ve_family()}) {
    const auto sde = test::family(f.name);
    const auto model = exact_model(target, *sde);
    const double t_end = sde->default_t_end();
    const Moments exact = data_at(f, t_end);
    const Matrix start = target.sample(*sde, 1.0, n, PhiloxNoise(12));
    for (const std::string sampler : {"reverse-diffusion", "ancestral"}) {
      CAPTURE(f.name);
      CAPTURE(sampler);
      std::vector<int> steps;
      std::vector<double> exact_errors, measured;
      for (int s = 20; s <= 1280; s *= 2) {
        steps.push_back(s);
        exact_errors.push_back(
            moment_error(scheme_moments(sampler, f, make_grid(*sde, {.steps = s})), exact));
      }
      const double order = convergence_order(steps, exact_errors);
      for (int s : mc_steps) {
        const auto grid = make_grid(*sde, {.steps = s});
        const Moments m = scheme_moments(sampler, f, grid);
        const Matrix x = run(*sde, *model, sampler, {}, grid, start, 31);
        const double mean = sample_mean(x)(0), var = sample_covariance(x)(0, 0);
        CHECK(std::abs(mean - m.mean) < 4.0 * std::sqrt(m.var / static_cast<double>(n)));
        CHECK(std::abs(var - m.var) < 4.0 * m.var * std::sqrt(2.0 / static_cast<double>(n)));
        measured.push_back(moment_error({mean, var}, exact));
      }
      MESSAGE(fmt::format(
          "{} {}: exact weak errors {:.3g} (N = 20..1280, order {:.3f}); measured {:.3g}", f.name,
          sampler, fmt::join(exact_errors, " "), order, fmt::join(measured, " ")));
      // Pre-asymptotic slopes 1.03 .. 1.13 from the recursion; order 1 within 0.15.
      CHECK(order == doctest::Approx(1.0).epsilon(0.15));
      CHECK(exact_errors.back() < 2.5e-3);  // below the variance's standard error at n = 2e4
      CHECK(measured.back() < 0.5 * measured.front());  // 4x the steps: 3.3-5x smaller exact errors
    }
  }
}

// ---- correctors at a fixed time -----------------------------------------------------------

namespace {

// Runs `k` corrector steps at a fixed t (step index j for the noise of the j-th) on exact p_t
// samples of N(1, 0.25 I) in dimension d under VP; returns the final state minus the mean of p_t.
Matrix corrector_at_fixed_time(const solvers::CorrectorOptions& c, double alpha, int d,
                               std::size_t n, int k, double t) {
  const VpSde sde;
  const auto target = test::single_gaussian(std::vector<double>(static_cast<std::size_t>(d), 1.0),
                                            std::vector<double>(static_cast<std::size_t>(d), 0.5));
  const auto model = exact_model(target, sde);
  Matrix x = target.sample(sde, t, n, PhiloxNoise(5));
  const PhiloxNoise noise(7);
  const std::vector<double> grid{t, t / 2};  // only for the context; the time is fixed
  ChunkContext ctx(sde, *model, noise, grid, 0, x.rows());
  Matrix s(x.rows(), d), z(x.rows(), d);
  const auto at = solvers::schedule_point(sde, t);
  for (int j = 0; j < k; ++j)
    solvers::correct(c, alpha, at, static_cast<std::size_t>(j), ctx, x, s, z);
  CHECK(ctx.row_evaluations() == n * static_cast<std::size_t>(k));
  return x.rowwise() - target.mean(sde, t);
}

}  // namespace

TEST_CASE("annealed Langevin at a fixed t has the exact stationary variance of its step (C8)") {
  // ALD's step e = 2 alpha (snr sigma_t)^2 does not depend on the state, so on N(m, v) the chain
  // y' = (1 - e/v) y + sqrt(2e) z has the stationary variance V = v / (1 - e / (2v)) exactly: the
  // unadjusted Langevin bias, e / (2v) = 2.5 % at t = 0.5 with snr = 0.16, which vanishes as
  // snr -> 0. Started from p_t, after 150 steps ((1 - e/v)^300 < 1e-6 of any transient) the
  // variance must be V within 3 SE (SE = V sqrt(2 / (n d)) = 0.5 % for n = 2e4, d = 4); V is
  // 5 SE away from v_t, so a corrector that kept v_t, or one with another step, fails.
  const VpSde sde;
  const double t = 0.5, alpha = 0.95, snr = 0.16;
  const int d = 4;
  const std::size_t n = 20000;
  const Matrix y = corrector_at_fixed_time({solvers::Corrector::ald, snr, 1}, alpha, d, n, 150, t);
  const double v = std::pow(vp_alpha(t), 2) * 0.25 + 1.0 - std::pow(vp_alpha(t), 2);
  const double e = 2.0 * alpha * std::pow(snr * sde.sigma(t), 2);
  const double stationary = v / (1.0 - e / (2.0 * v));
  const double var = y.array().square().mean();
  const double se = stationary * std::sqrt(2.0 / static_cast<double>(n * d));
  MESSAGE(fmt::format("ALD at t = 0.5: variance {:.5f}, stationary {:.5f}, v_t {:.5f}, SE {:.5f}",
                      var, stationary, v, se));
  CHECK(std::abs(var - stationary) < 3.0 * se);
  CHECK(std::abs(y.mean()) < 3.0 * std::sqrt(stationary / static_cast<double>(n * d)));
}

TEST_CASE("per-sample Langevin at a fixed t: the stationary law of its state-dependent step") {
  // tweedie's Langevin step uses each sample's own norms, e = c v^2 |z|^2 / |y|^2 on N(m, v I)
  // with y = x - m and c = 2 alpha snr^2 (score_sde averages the norms over the batch, which
  // makes e nearly constant for large batches). With R = |y|^2 / (v d), one step gives exactly
  //   E[R' | R] = R - 2c + (c^2 + 2c)(1 + 2/d) / R,
  // so at stationarity E[1/R] = d / ((1 + c/2)(d + 2)), where p_t has d / (d - 2): the per-sample
  // step spreads the samples out. Its variance is about v (1 + 2/d)^2 (1 + c/2), 62 % above v_t
  // at d = 8 and 4/d above it in general, whatever the snr (for d <= 2 it is infinite: a sample
  // near the mode is thrown to ~1/|y|). The check is the exact identity, with the standard error
  // of the sample mean of 1/R (n = 1e4, d = 8, 100 steps: the radial relaxation is 2c per step).
  const double alpha = 0.9, snr = 0.16, c = 2.0 * alpha * snr * snr;
  const int d = 8;
  const std::size_t n = 10000;
  const Matrix y =
      corrector_at_fixed_time({solvers::Corrector::langevin, snr, 1}, alpha, d, n, 100, 0.5);
  const double t = 0.5;
  const double v = std::pow(vp_alpha(t), 2) * 0.25 + 1.0 - std::pow(vp_alpha(t), 2);
  const Eigen::ArrayXd inv_r = (v * d) / y.rowwise().squaredNorm().array();
  const double mean = inv_r.mean();
  const double se = std::sqrt((inv_r - mean).square().sum() / static_cast<double>(n - 1) /
                              static_cast<double>(n));
  const double predicted = d / ((1.0 + c / 2.0) * (d + 2.0));
  MESSAGE(fmt::format(
      "Langevin at t = 0.5, d = 8: E[v d / |y|^2] = {:.4f} +- {:.4f} (stationary {:.4f}, "
      "p_t {:.4f}); variance / v_t = {:.3f} (approximation {:.3f})",
      mean, se, predicted, d / (d - 2.0), y.array().square().mean() / v,
      std::pow(1.0 + 2.0 / d, 2) * (1.0 + c / 2.0)));
  CHECK(std::abs(mean - predicted) < 3.0 * se);
}

// ---- the PC sampler's output --------------------------------------------------------------

TEST_CASE("pc output moments: exact for the ALD corrector, unbiased mean for Langevin") {
  const VpSde sde;
  const Family f = vp_family();
  SUBCASE("ALD + reverse diffusion, d = 1: the exact recursion of corrector-then-predictor") {
    const std::size_t n = 20000;
    const auto target = test::single_gaussian({1.0}, {0.5});
    const auto model = exact_model(target, sde);
    const Matrix start = target.sample(sde, 1.0, n, PhiloxNoise(14));
    const auto grid = make_grid(sde, {.steps = 50});
    const Moments m = scheme_moments("reverse-diffusion", f, grid, 0.16);
    const Matrix x = run(sde, *model, "pc", {{"corrector", "ald"}}, grid, start, 3);
    const double mean = sample_mean(x)(0), var = sample_covariance(x)(0, 0);
    const Moments exact = data_at(f, grid.back());
    MESSAGE(fmt::format(
        "pc (ald) N = 50: mean {:.5f} var {:.5f}; scheme {:.5f} {:.5f}; data {:.5f} {:.5f}", mean,
        var, m.mean, m.var, exact.mean, exact.var));
    CHECK(std::abs(mean - m.mean) < 4.0 * std::sqrt(m.var / static_cast<double>(n)));
    CHECK(std::abs(var - m.var) < 4.0 * m.var * std::sqrt(2.0 / static_cast<double>(n)));
    // and the scheme converges to the data as N grows (ALD's bias e/(2v) vanishes near t = 0)
    const double e50 = moment_error(m, exact);
    const double e800 = moment_error(
        scheme_moments("reverse-diffusion", f, make_grid(sde, {.steps = 800}), 0.16), exact);
    CHECK(e800 < e50 / 8.0);
  }
  SUBCASE("Langevin + reverse diffusion, d = 16: the mean of the data") {
    // The per-sample Langevin step is symmetric about the mode, so the mean keeps its only error,
    // reverse diffusion's own; the variance is inflated by about 4/d (see the fixed-t test).
    const std::size_t n = 2000;
    const int d = 16;
    const auto dims = static_cast<std::size_t>(d);
    const auto target =
        test::single_gaussian(std::vector<double>(dims, 1.0), std::vector<double>(dims, 0.5));
    const auto model = exact_model(target, sde);
    const Matrix start = target.sample(sde, 1.0, n, PhiloxNoise(15));
    const auto grid = make_grid(sde, {.steps = 100});
    const Matrix x = run(sde, *model, "pc", {}, grid, start, 3);
    const Moments scheme = scheme_moments("reverse-diffusion", f, grid);
    const Moments exact = data_at(f, grid.back());
    const double mean = x.mean(), var = (x.array() - exact.mean).square().mean();
    const double se = std::sqrt(exact.var / static_cast<double>(n * d));
    MESSAGE(
        fmt::format("pc (langevin) d = 16, N = 100: mean {:.5f} (data {:.5f}, reverse diffusion "
                    "alone {:.5f}, SE {:.5f}); variance {:.4f} (data {:.4f})",
                    mean, exact.mean, scheme.mean, se, var, exact.var));
    CHECK(std::abs(mean - exact.mean) < 4.0 * se + std::abs(scheme.mean - exact.mean));
  }
}

// ---- NFE, determinism, options ------------------------------------------------------------

TEST_CASE("NFE per sample is N (1 + corrector steps), N corrector steps with no predictor") {
  const VpSde sde;
  const auto target = test::random_mixture(3, 2, 4);
  const auto exact = exact_model(target, sde);
  std::atomic<std::size_t> rows{0};
  const auto counting =
      make_model(Prediction::score, 3, [&](const auto& t, const auto& x, auto out) {
        rows += static_cast<std::size_t>(x.rows());
        exact->evaluate(t, x, out);
      });
  struct Case {
    SamplerOptions options;
    std::size_t per_step;
  };
  const std::vector<Case> cases = {
      {{}, 2},
      {{{"predictor", "em"}, {"corrector", "ald"}, {"corrector_steps", "3"}}, 4},
      {{{"predictor", "ancestral"}, {"corrector_steps", "0"}}, 1},
      {{{"predictor", "none"}, {"corrector_steps", "2"}}, 2},
      {{{"corrector", "none"}}, 1},
  };
  for (const auto& c : cases) {
    for (int steps : {1, 2, 7}) {
      CAPTURE(c.per_step);
      CAPTURE(steps);
      const auto sampler = make_sampler("pc", c.options);
      SampleOptions o;
      o.num_samples = 11;
      o.execution.chunk_rows = 4;
      rows = 0;
      const auto r = sample(sde, *counting, *sampler, make_grid(sde, {.steps = steps}), o);
      CHECK(sampler->nfe(static_cast<std::size_t>(steps)) ==
            c.per_step * static_cast<std::size_t>(steps));
      CHECK(r.stats.nfe_per_sample ==
            static_cast<double>(c.per_step * static_cast<std::size_t>(steps)));
      CHECK(rows == 11 * c.per_step * static_cast<std::size_t>(steps));
      CHECK(r.samples.allFinite());
    }
  }
  CHECK(make_sampler("pc", {{"corrector_steps", "4"}})->traits().nfe_per_step == 5);
  CHECK(make_sampler("pc", {{"predictor", "none"}})->traits().order == 0);
}

TEST_CASE("pc samples do not depend on threads or chunks (per-sample Langevin norms)") {
  // Odd dimension: rows of a chunk's scratch start at every alignment, which a vectorised norm
  // would turn into chunk-dependent rounding.
  const VpSde sde;
  const auto target = test::random_mixture(5, 3, 6);
  const auto model = exact_model(target, sde);
  const auto grid = make_grid(sde, {.steps = 8});
  for (const char* corrector : {"langevin", "ald"}) {
    CAPTURE(corrector);
    const auto sampler = make_sampler("pc", {{"corrector", corrector}, {"corrector_steps", "2"}});
    SampleOptions o;
    o.num_samples = 301;
    o.seed = 8;
    o.execution = {1, 301};
    const Matrix reference = sample(sde, *model, *sampler, grid, o).samples;
    for (int threads : {1, 2}) {
      for (std::size_t chunk : {std::size_t{1}, std::size_t{7}, std::size_t{64}}) {
        o.execution = {threads, chunk};
        CHECK(bitwise_equal(sample(sde, *model, *sampler, grid, o).samples, reference));
      }
    }
    SampleOptions one = o;
    one.num_samples = 1;
    one.first_sample = 150;
    CHECK(bitwise_equal(sample(sde, *model, *sampler, grid, one).samples,
                        reference.middleRows(150, 1)));
  }
}

TEST_CASE("pc options are validated with messages naming the option") {
  auto refused = [](SamplerOptions o, const char* message) {
    CHECK_THROWS_WITH_AS(make_sampler("pc", o), doctest::Contains(message), InvalidArgument);
  };
  refused({{"snr", "0"}}, "option snr of sampler pc must be in (0, inf), got 0");
  refused({{"snr", "-0.1"}}, "option snr of sampler pc must be in (0, inf), got -0.1");
  refused({{"snr", "abc"}}, "option snr of sampler pc must be a finite number, got 'abc'");
  refused({{"corrector_steps", "-1"}}, "option corrector_steps of sampler pc must be an integer in 0..1000000, got -1");
  refused({{"corrector_steps", "1.5"}}, "option corrector_steps of sampler pc must be an integer, got '1.5'");
  refused({{"predictor", "heun"}},
          "option predictor of sampler pc must be one of reverse-diffusion, em, ancestral, none, got 'heun'");
  refused({{"corrector", "mala"}}, "option corrector of sampler pc must be one of ald, langevin, none, got 'mala'");
  refused({{"predictor", "none"}, {"corrector", "none"}}, "needs a corrector that takes at least one step");
  refused({{"predictor", "none"}, {"corrector_steps", "0"}}, "needs a corrector that takes at least one step");
  refused({{"corrector", "none"}, {"snr", "0.2"}},
          "option snr of sampler pc has no effect with option corrector = none");
  refused({{"corrector", "none"}, {"corrector_steps", "2"}}, "option corrector_steps of sampler pc has no effect");
  refused({{"eta", "1"}}, "sampler pc takes no option eta (its options: predictor, corrector, snr, corrector_steps)");
  CHECK_THROWS_WITH_AS(make_sampler("reverse-diffusion", {{"snr", "0.2"}}),
                       doctest::Contains("takes no option snr"), InvalidArgument);
  CHECK_THROWS_WITH_AS(make_sampler("ancestral", {{"predictor", "em"}}),
                       doctest::Contains("takes no option predictor"), InvalidArgument);
  CHECK_NOTHROW(make_sampler("pc", {{"predictor", "ancestral"},
                                    {"corrector", "ald"},
                                    {"snr", "0.176"},
                                    {"corrector_steps", "5"}}));
}

TEST_CASE("score_sde's samplers give finite samples on every family, N = 1 included") {
  for (const auto& sde : test::all_families()) {
    const auto target = test::random_mixture(2, 3, 10);
    const auto model = exact_model(target, *sde);
    for (const char* name : {"reverse-diffusion", "ancestral", "pc"}) {
      if (sde->name() == "subvp" && std::string(name) == "ancestral") continue;  // refused above
      for (int steps : {1, 3}) {
        CAPTURE(sde->name());
        CAPTURE(name);
        CAPTURE(steps);
        SampleOptions o;
        o.num_samples = 64;
        const double t_end = sde->allows_zero_time() ? 0.0 : -1.0;  // EDM and VE down to t = 0
        const auto r = sample(*sde, *model, *make_sampler(name),
                              make_grid(*sde, {.steps = steps, .t_end = t_end}), o);
        CHECK(r.samples.allFinite());
      }
    }
  }
}
