// The Boost.Odeint samplers on the probability-flow ODE: measured order of RK4 and tolerance
// proportionality of the adaptive steppers against the closed-form flow of a Gaussian, the guards
// of the adaptive controller (non-finite proposals, step cap, step-size floor), step and NFE
// accounting, the last step to sigma = 0, and determinism across threads and chunk sizes.
#include "odeint.hpp"
#include "sampling_util.hpp"
#include "test_util.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <limits>

using namespace tweedie;
using tweedie::test::convergence_order;

namespace {

const std::vector<std::string> adaptive_names{"dopri5", "cash-karp54", "fehlberg78", "bulirsch-stoer"};

SampleResult run(const Sde& sde, const ScoreModel& model, const std::string& sampler,
                 std::span<const double> grid, const SampleOptions& o,
                 const SamplerOptions& so = {}) {
  return sample(sde, model, *make_sampler(sampler, so), grid, o);
}

SamplerOptions tolerance(double tol) {
  const std::string s = fmt::format("{}", tol);
  return {{"rtol", s}, {"atol", s}};
}

/// The exact score of N(mu, diag(s^2)) in closed form, row by row (cheaper than exact_model for
/// the one-row calls of the adaptive steppers). `window` replaces the output for t in
/// (lo, hi): by NaN, or by a huge finite value; a non-finite input row gets a zero score (so
/// that the model itself never reports a non-finite output outside the window).
struct Window {
  double lo = 0.0, hi = 0.0, value = 0.0;
};
std::unique_ptr<ScoreModel> gaussian_score(const Sde& sde, std::vector<double> mu,
                                           std::vector<double> s, Window window = {}) {
  const auto d = static_cast<Eigen::Index>(mu.size());
  return make_model(Prediction::score, d, [&sde, mu, s, window](const auto& t, const auto& x, auto out) {
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
      const double a = sde.alpha(t(i)), sg = sde.sigma(t(i));
      for (Eigen::Index j = 0; j < x.cols(); ++j) {
        const auto k = static_cast<std::size_t>(j);
        out(i, j) = std::isfinite(x(i, j)) ? -(x(i, j) - a * mu[k]) / (a * a * s[k] * s[k] + sg * sg) : 0.0;
      }
      if (t(i) > window.lo && t(i) < window.hi) out.row(i).setConstant(window.value);
    }
  });
}

struct GaussianProblem {
  VpSde sde;
  GaussianMixture target = test::single_gaussian({1.0, -0.5}, {0.5, 0.2});
  double t_end = 1e-3;
  Matrix start;  // exact samples of p_T
  Matrix exact;  // their exact PF-ODE images at t_end
  explicit GaussianProblem(std::size_t n)
      : start(target.sample(sde, 1.0, n, PhiloxNoise(5))),
        exact(test::exact_flow(target, sde, 1.0, t_end, start)) {}
  std::unique_ptr<ScoreModel> model(Window w = {}) const {
    return gaussian_score(sde, {1.0, -0.5}, {0.5, 0.2}, w);
  }
};

double rms(const Matrix& e) { return std::sqrt(e.squaredNorm() / static_cast<double>(e.size())); }

}  // namespace

TEST_CASE("rk4 converges with order 4 on the PF-ODE from the exact p_T") {
  GaussianProblem p(200);
  const auto model = exact_model(p.target, p.sde);
  std::vector<int> steps{25, 50, 100, 200, 400};
  std::vector<double> errors;
  for (int n : steps) {
    SampleOptions o;
    o.init = &p.start;
    const auto r = run(p.sde, *model, "rk4", make_grid(p.sde, {.steps = n, .t_end = p.t_end}), o);
    CHECK(r.stats.nfe_per_sample == 4.0 * n);
    errors.push_back(rms(r.samples - p.exact));
  }
  const double order = convergence_order(steps, errors);
  MESSAGE(fmt::format("rk4 errors {}, order {:.3f}", fmt::join(errors, " "), order));
  // Measured 7.2e-5 -> 6.1e-10 (slope 4.16; the smallest error stays 5 orders above rounding).
  CHECK(order == doctest::Approx(4.0).epsilon(0.3 / 4.0));
}

TEST_CASE("adaptive steppers: the error follows the tolerance") {
  GaussianProblem p(50);
  const auto model = p.model();
  const std::vector<double> grid{1.0, p.t_end};
  const std::vector<double> tols{1e-6, 1e-8, 1e-10};
  const double scale = 2.0 + p.exact.cwiseAbs().maxCoeff();
  for (const auto& name : adaptive_names) {
    CAPTURE(name);
    std::vector<double> errors;
    for (double tol : tols) {
      CAPTURE(tol);
      SampleOptions o;
      o.init = &p.start;
      const auto r = run(p.sde, *model, name, grid, o, tolerance(tol));
      const double max_err = (r.samples - p.exact).cwiseAbs().maxCoeff();
      errors.push_back(rms(r.samples - p.exact));
      MESSAGE(fmt::format("{} tol {:g}: max error {:.2e}, rms {:.2e}, {:.1f} accepted + {:.1f} rejected steps, "
                          "{:.0f} NFE per sample",
                          name, tol, max_err, errors.back(), r.stats.accepted_steps_per_sample,
                          r.stats.rejected_steps_per_sample, r.stats.nfe_per_sample));
      // Error per step control: each accepted step's local error is at most tol (atol + rtol
      // (|x| + |dt f|) <= tol scale), and this flow contracts (its Jacobian is
      // sqrt(v_eps / v_T) < 1), so the global error is at most the sum of the local ones.
      CHECK(max_err <= r.stats.accepted_steps_per_sample * 2.0 * tol * scale);
      if (tol == 1e-8) CHECK(errors.back() < 10.0 * tol);  // measured 0.1 to 4.8 tol
    }
    // Roughly proportional: from tol 1e-6 to 1e-10 the error falls by 10^2.4 at least and
    // 10^6.4 at most (measured slopes 0.9 (fehlberg78) to 1.6 (bulirsch-stoer)).
    const double slope = std::log(errors.front() / errors.back()) / std::log(tols.front() / tols.back());
    MESSAGE(fmt::format("{}: slope of log error against log tol {:.2f}", name, slope));
    CHECK(slope > 0.6);
    CHECK(slope < 2.0);
  }
}

TEST_CASE("dopri5 at rtol = atol = 1e-10 matches the closed-form flow to 1e-8") {
  GaussianProblem p(50);
  const auto model = p.model();
  SampleOptions o;
  o.init = &p.start;
  const auto x = run(p.sde, *model, "dopri5", std::vector<double>{1.0, p.t_end}, o, tolerance(1e-10)).samples;
  const double err = (x - p.exact).cwiseAbs().maxCoeff();
  MESSAGE(fmt::format("dopri5 at 1e-10: max error {:.2e}", err));
  CHECK(err < 1e-8);  // measured 1.1e-10: the margin is the accumulation bound of the test above
}

TEST_CASE("adaptive steppers report their steps and spend exactly the evaluations they should") {
  // Per sample: f(t0) and one more evaluation for the initial step (Hairer's heuristic), then
  //   dopri5 (FSAL):  6 per attempt (stages 2..7, the last one is f at the new point);
  //   cash-karp54:    5 per attempt + f at the start of every accepted step but the first;
  //   fehlberg78:    12 per attempt + the same.
  GaussianProblem p(20);
  const auto model = p.model();
  const std::vector<double> grid{1.0, p.t_end};
  struct Expect {
    const char* name;
    double fixed, per_accepted, per_attempt;
  };
  for (const Expect e : {Expect{"dopri5", 2, 0, 6}, Expect{"cash-karp54", 1, 1, 5},
                         Expect{"fehlberg78", 1, 1, 12}}) {
    CAPTURE(e.name);
    SampleOptions o;
    o.init = &p.start;
    o.execution.chunk_rows = 7;
    const auto r = run(p.sde, *model, e.name, grid, o, tolerance(1e-7));
    const double acc = r.stats.accepted_steps_per_sample, rej = r.stats.rejected_steps_per_sample;
    CHECK(acc > 5);
    CHECK(rej > 0);  // odeint's controller keeps dt when 0.5 <= err <= 1: the shrinking steps of
                     // the VP flow near t = 0 get rejected now and then
    CHECK(r.stats.nfe_per_sample == doctest::Approx(e.fixed + e.per_accepted * acc + e.per_attempt * (acc + rej)));
  }
  SampleOptions o;
  o.init = &p.start;
  const auto bs = run(p.sde, *model, "bulirsch-stoer", grid, o, tolerance(1e-7));
  CHECK(bs.stats.accepted_steps_per_sample > 1);
  CHECK(bs.stats.nfe_per_sample > 2 * bs.stats.accepted_steps_per_sample);
  for (const auto& name : adaptive_names) {
    CHECK(make_sampler(name)->traits().adaptive);
  }
  CHECK_FALSE(make_sampler("rk4")->traits().adaptive);
}

TEST_CASE("a model that returns NaN for t in (0.5, 0.5 + 1e-3) is reported, never returned") {
  GaussianProblem p(64);
  const auto model = p.model({0.5, 0.501, std::numeric_limits<double>::quiet_NaN()});
  SampleOptions o;
  o.init = &p.start;
  o.execution = {1, 16};
  // RK4 on a grid with a stage inside the window: the report names step and time exactly.
  std::vector<double> grid{1.0, 0.75, 0.5005, 0.25, p.t_end};
  try {
    run(p.sde, *model, "rk4", grid, o);
    FAIL("no error");
  } catch (const NonFiniteError& e) {
    CHECK(e.sample() == 0);
    CHECK(e.step() == 1);  // the step from 0.75 to 0.5005: its last stage is at 0.5005
    CHECK(e.time() == doctest::Approx(0.5005).epsilon(1e-15));
  }
  // The adaptive steppers choose their own stage times: a sample whose stages miss the window
  // finishes, one whose stage lands in it is reported with that time (64 samples: some do).
  for (const auto& name : adaptive_names) {
    CAPTURE(name);
    try {
      const Matrix x = run(p.sde, *model, name, std::vector<double>{1.0, p.t_end}, o).samples;
      CHECK(x.allFinite());
      CHECK((x - p.exact).cwiseAbs().maxCoeff() < 1e-3);
      MESSAGE(name << ": every sample stepped over the window");
    } catch (const NonFiniteError& e) {
      CHECK(e.sample() < 64);
      CHECK(e.time() > 0.5);
      CHECK(e.time() < 0.501);
      CHECK(std::string(e.what()).find("the model's score output is nan") != std::string::npos);
    }
  }
}

TEST_CASE("a non-finite error estimate or proposal rejects the step instead of accepting it") {
  // For t in (0.45, 0.55) the model returns a finite but huge score, so the drift -g^2 s / 2
  // overflows inside the stepper: the proposals and error estimates are inf/NaN while every model
  // output is finite (no NonFiniteError from the model). odeint's own test (max_rel_err > 1) is
  // false for NaN and would accept the step; the guard rejects it and shrinks dt by 5 until no
  // step can be taken, and reports it at a time above the window, never entering it.
  GaussianProblem p(3);
  const auto model = p.model({0.45, 0.55, std::numeric_limits<double>::max()});
  SampleOptions o;
  o.init = &p.start;
  o.execution = {1, 3};
  for (const auto& name : adaptive_names) {
    CAPTURE(name);
    try {
      run(p.sde, *model, name, std::vector<double>{1.0, p.t_end}, o);
      FAIL("no error");
    } catch (const NonFiniteError& e) {
      MESSAGE(std::string(e.what()));
      CHECK(e.sample() == 0);
      CHECK(e.time() >= 0.55);
      CHECK(std::string(e.what()).find("stayed non-finite down to step size") != std::string::npos);
    }
  }
}

TEST_CASE("the step cap stops a sample that needs too many steps, and names it") {
  GaussianProblem p(3);
  const auto model = p.model();
  SampleOptions o;
  o.init = &p.start;
  o.first_sample = 1000;
  o.execution = {1, 3};
  SamplerOptions so = tolerance(1e-15);
  so.set("max_steps", "50");
  for (const auto& name : adaptive_names) {
    CAPTURE(name);
    try {
      run(p.sde, *model, name, std::vector<double>{1.0, p.t_end}, o, so);
      FAIL("no error");
    } catch (const StepLimitError& e) {
      CHECK(e.sample() == 1000);
      CHECK(e.time() > p.t_end);
      CHECK(e.time() <= 1.0);
      CHECK(std::string(e.what()).find("cap of 50 steps") != std::string::npos);
    }
  }
}

TEST_CASE("a step size below the resolution of t is reported, not looped on") {
  // The score jumps at t = 0.5 (a constant 10 below it). A dopri5 or cash-karp54 step across
  // the jump has an error estimate ~ |dt| e_1 (jump of the drift), which a tolerance of 1e-20
  // accepts only for |dt| < 1e-18, below 10 ulp of t = 0.5 (1.1e-15): the solver must stop
  // there with StepSizeUnderflowError instead of shrinking dt forever. (fehlberg78's error
  // estimate, 41/840 (k1 + k11 - k12 - k13), only sees stages at the two ends of the step and is
  // blind to a jump inside it; bulirsch-stoer's extrapolation is a different story: neither is
  // tested here.)
  GaussianProblem p(2);
  const auto model = p.model({0.0, 0.5, 10.0});
  SampleOptions o;
  o.init = &p.start;
  o.first_sample = 7;
  o.execution = {1, 2};
  for (const std::string name : {"dopri5", "cash-karp54"}) {
    CAPTURE(name);
    try {
      run(p.sde, *model, name, std::vector<double>{1.0, p.t_end}, o, tolerance(1e-20));
      FAIL("no error");
    } catch (const solvers::StepSizeUnderflowError& e) {
      MESSAGE(std::string(e.what()));
      CHECK(e.sample() == 7);
      CHECK(e.time() == doctest::Approx(0.5).epsilon(1e-14));
    }
  }
}

TEST_CASE("odeint samplers are bitwise identical for every thread count and chunk size") {
  const VpSde sde;
  const auto target = test::random_mixture(4, 3, 11);
  const auto model = exact_model(target, sde);
  const auto grid = make_grid(sde, {.steps = 10});
  for (const std::string name : {"rk4", "dopri5", "cash-karp54", "fehlberg78", "bulirsch-stoer"}) {
    CAPTURE(name);
    SampleOptions o;
    o.num_samples = 60;
    o.seed = 42;
    o.execution = {1, 64};
    const Matrix reference = run(sde, *model, name, grid, o, name == "rk4" ? SamplerOptions{} : tolerance(1e-4)).samples;
    CHECK(reference.allFinite());
    for (int threads : {1, 3}) {
      for (std::size_t chunk : {std::size_t{1}, std::size_t{7}, std::size_t{64}}) {
        CAPTURE(threads);
        CAPTURE(chunk);
        o.execution = {threads, chunk};
        const Matrix x = run(sde, *model, name, grid, o, name == "rk4" ? SamplerOptions{} : tolerance(1e-4)).samples;
        CHECK(test::bitwise_equal(x, reference));
      }
    }
  }
}

TEST_CASE("a grid that ends at sigma = 0 finishes with the denoiser (EDM)") {
  // The score does not exist at sigma = 0: the last step is the PF-ODE's Euler step to sigma = 0,
  // x <- x0_hat(x, t_{N-1}), as in k-diffusion and EDM.
  const EdmSde sde;
  const auto target = test::single_gaussian({0.3, -0.2}, {0.5, 0.5});
  const auto model = exact_model(target, sde);
  const std::vector<double> to_zero{80.0, 10.0, 1.0, 0.0};
  const std::vector<double> to_one{80.0, 10.0, 1.0};
  SampleOptions o;
  o.num_samples = 20;
  for (const std::string name : {"rk4", "dopri5", "bulirsch-stoer"}) {
    CAPTURE(name);
    const SamplerOptions so = name == "rk4" ? SamplerOptions{} : tolerance(1e-6);
    const auto r = run(sde, *model, name, to_zero, o, so);
    const Matrix at_one = run(sde, *model, name, to_one, o, so).samples;
    Matrix x0(at_one.rows(), at_one.cols());
    model->evaluate(Vector::Constant(at_one.rows(), 1.0), at_one, x0);  // the model predicts scores
    convert_prediction(sde, Prediction::score, Prediction::data, Vector::Constant(at_one.rows(), 1.0),
                       at_one, x0, x0);
    CHECK(r.samples.allFinite());
    CHECK((r.samples - x0).cwiseAbs().maxCoeff() <= 1e-12);
  }
  CHECK(run(sde, *model, "rk4", to_zero, o).stats.nfe_per_sample == 4 * 2 + 1);
}

TEST_CASE("odeint options are validated") {
  for (const auto& name : adaptive_names) {
    CAPTURE(name);
    CHECK_THROWS_WITH_AS(make_sampler(name, {{"rtol", "-1"}}), doctest::Contains(("option rtol of sampler " + name + " must be in [0, inf), got -1").c_str()), InvalidArgument);
    CHECK_THROWS_WITH_AS(make_sampler(name, {{"atol", "0"}}), doctest::Contains(("option atol of sampler " + name + " must be in (0, inf), got 0").c_str()), InvalidArgument);
    CHECK_THROWS_WITH_AS(make_sampler(name, {{"max_steps", "0"}}), doctest::Contains(("option max_steps of sampler " + name + " must be an integer in 1..1000000000").c_str()),
                         InvalidArgument);
    CHECK_THROWS_WITH_AS(make_sampler(name, {{"eta", "1"}}), doctest::Contains("takes no option eta"),
                         InvalidArgument);
    const auto s = make_sampler(name, {{"rtol", "1e-3"}, {"atol", "1e-4"}, {"max_steps", "10"}});
    const auto& tol = dynamic_cast<const solvers::OdeintAdaptive&>(*s).tolerances();
    CHECK(tol.rtol == 1e-3);
    CHECK(tol.atol == 1e-4);
    CHECK(tol.max_steps == 10);
    const auto plain = make_sampler(name);
    const auto& defaults = dynamic_cast<const solvers::OdeintAdaptive&>(*plain).tolerances();
    CHECK(defaults.rtol == 1e-5);  // score_sde's ODE sampler
    CHECK(defaults.atol == 1e-5);
    CHECK(defaults.max_steps == 100000);
  }
  CHECK_THROWS_WITH_AS(make_sampler("rk4", {{"rtol", "1e-3"}}), doctest::Contains("takes no option rtol"),
                       InvalidArgument);
}
