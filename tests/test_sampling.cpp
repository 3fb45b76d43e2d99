// The driver and the Euler kernels: determinism, error reporting and measured orders.
#include "sampling_util.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <fmt/ranges.h>

#include <atomic>
#include <cstring>
#include <limits>

using namespace tweedie;
using tweedie::test::convergence_order;

namespace {

bool bitwise_equal(const Matrix& a, const Matrix& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         std::memcmp(a.data(), b.data(), sizeof(double) * static_cast<std::size_t>(a.size())) == 0;
}

SampleResult run(const Sde& sde, const ScoreModel& model, const std::string& sampler,
                 const std::vector<double>& grid, SampleOptions o) {
  return sample(sde, model, *make_sampler(sampler), grid, o);
}

struct Problem {
  VpSde sde;
  GaussianMixture target = test::random_mixture(16, 6, 11);
  std::unique_ptr<ScoreModel> model = exact_model(target, sde);
  std::vector<double> grid = make_grid(sde, {.steps = 20});
};

}  // namespace

TEST_CASE("samples are bitwise identical for every thread count and chunk size") {
  Problem p;
  for (const char* name : {"em", "euler"}) {
    CAPTURE(name);
    SampleOptions o;
    o.num_samples = 3000;
    o.seed = 42;
    o.execution = {1, 64};
    const Matrix reference = run(p.sde, *p.model, name, p.grid, o).samples;
    CHECK(reference.allFinite());
    for (int threads : {1, 2, 8}) {
      for (std::size_t chunk : {std::size_t{1}, std::size_t{64}, std::size_t{4096}}) {
        CAPTURE(threads);
        CAPTURE(chunk);
        o.execution = {threads, chunk};
        CHECK(bitwise_equal(run(p.sde, *p.model, name, p.grid, o).samples, reference));
      }
    }
  }
}

TEST_CASE("sample i is the same drawn alone or in a batch of 10000") {
  Problem p;
  SampleOptions o;
  o.num_samples = 10000;
  o.seed = 3;
  const Matrix batch = run(p.sde, *p.model, "em", p.grid, o).samples;
  for (std::uint64_t i : {0ULL, 1ULL, 4567ULL, 9999ULL}) {
    SampleOptions one = o;
    one.num_samples = 1;
    one.first_sample = i;
    const Matrix alone = run(p.sde, *p.model, "em", p.grid, one).samples;
    CHECK(bitwise_equal(alone, batch.middleRows(static_cast<Eigen::Index>(i), 1)));
  }
  o.seed = 4;  // and the seed matters
  CHECK_FALSE(bitwise_equal(run(p.sde, *p.model, "em", p.grid, o).samples, batch));
}

TEST_CASE("NFE is counted: one model evaluation per step, one more for --denoise") {
  Problem p;
  std::atomic<std::size_t> rows_evaluated{0};
  const auto counting = make_model(Prediction::score, 16, [&](const auto& t, const auto& x, auto out) {
    rows_evaluated += static_cast<std::size_t>(x.rows());
    p.model->evaluate(t, x, out);
  });
  SampleOptions o;
  o.num_samples = 100;
  o.execution.chunk_rows = 7;
  auto r = run(p.sde, *counting, "em", p.grid, o);
  CHECK(r.stats.nfe_per_sample == 20.0);
  CHECK(rows_evaluated == 100 * 20);
  o.denoise = true;
  r = run(p.sde, *counting, "euler", p.grid, o);
  CHECK(r.stats.nfe_per_sample == 21.0);
}

TEST_CASE("--denoise returns Tweedie's x0 = (x + sigma^2 score) / alpha at t_end") {
  Problem p;
  SampleOptions o;
  o.num_samples = 50;
  const Matrix x = run(p.sde, *p.model, "em", p.grid, o).samples;
  o.denoise = true;
  const Matrix x0 = run(p.sde, *p.model, "em", p.grid, o).samples;
  const double t = p.grid.back(), a = p.sde.alpha(t), s = p.sde.sigma(t);
  Matrix score(x.rows(), x.cols());
  p.target.score(p.sde, Vector::Constant(x.rows(), t), x, score);
  const Matrix expected = (x + s * s * score) / a;
  CHECK((x0 - expected).cwiseAbs().maxCoeff() < 1e-12 * expected.cwiseAbs().maxCoeff());
}

TEST_CASE("a model in any parameterisation gives the same samples") {
  Problem p;
  SampleOptions o;
  o.num_samples = 200;
  const Matrix reference = run(p.sde, *p.model, "em", p.grid, o).samples;
  for (Prediction pred : {Prediction::noise, Prediction::data, Prediction::velocity}) {
    CAPTURE(to_string(pred));
    const auto wrapped = make_model(pred, 16, [&](const auto& t, const auto& x, auto out) {
      p.model->evaluate(t, x, out);
      convert_prediction(p.sde, Prediction::score, pred, t, x, out, out);
    });
    const Matrix samples = run(p.sde, *wrapped, "em", p.grid, o).samples;
    // Two conversions in double per step: agreement to rounding, amplified over 20 steps.
    CHECK((samples - reference).cwiseAbs().maxCoeff() < 1e-9);
  }
}

namespace {
struct ModelFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};
}  // namespace

TEST_CASE("a model's exception reaches the caller with its type") {
  Problem p;
  const auto failing = make_model(Prediction::score, 16, [&](const auto& t, const auto& x, auto out) {
    if (t(0) < 0.5) throw ModelFailure("network exploded");
    p.model->evaluate(t, x, out);
  });
  SampleOptions o;
  o.num_samples = 1000;
  o.execution = {2, 16};
  CHECK_THROWS_AS(run(p.sde, *failing, "em", p.grid, o), ModelFailure);
  CHECK_THROWS_WITH(run(p.sde, *failing, "euler", p.grid, o), "network exploded");
}

TEST_CASE("a NaN from the model names the sample, the step and t") {
  Problem p;
  const std::size_t n = 30, steps = p.grid.size() - 1;
  for (std::size_t bad_row : {std::size_t{0}, n / 2, n - 1}) {
    for (std::size_t bad_step : {std::size_t{0}, steps - 1}) {
      CAPTURE(bad_row);
      CAPTURE(bad_step);
      // Serial run with one row per chunk: chunks go in order, so call c is row c / N, step c % N.
      std::size_t calls = 0;
      const auto poisoned = make_model(Prediction::score, 16, [&](const auto& t, const auto& x, auto out) {
        p.model->evaluate(t, x, out);
        if (calls++ == bad_row * steps + bad_step) out(0, 3) = std::nan("");
      });
      SampleOptions o;
      o.num_samples = n;
      o.execution = {1, 1};
      try {
        run(p.sde, *poisoned, "em", p.grid, o);
        FAIL("no error");
      } catch (const NonFiniteError& e) {
        CHECK(e.sample() == bad_row);
        CHECK(e.step() == bad_step);
        CHECK(e.time() == p.grid[bad_step]);
        CHECK(std::string(e.what()).find("component 3") != std::string::npos);
      }
    }
  }
}

TEST_CASE("every fixed-step sampler names a non-finite model output as such, with sample, step and t") {
  // The steps that check only their new state (ChunkContext::predict_for_step) search the model's
  // output when that check fails: the message must still be the model output's, as it is for the
  // samplers that check each output when it arrives.
  Problem p;
  for (const auto& entry : sampler_entries()) {
    if (entry.traits.adaptive) continue;
    for (double bad : {std::nan(""), std::numeric_limits<double>::infinity()}) {
      CAPTURE(entry.traits.name);
      CAPTURE(bad);
      std::size_t calls = 0;
      const auto poisoned = make_model(Prediction::score, 16, [&](const auto& t, const auto& x, auto out) {
        p.model->evaluate(t, x, out);
        if (calls++ == 0) out(5, 3) = bad;  // the first call: chunk 0 (rows 0 .. 15), step 0
      });
      SampleOptions o;
      o.num_samples = 40;
      o.execution = {1, 16};
      try {
        run(p.sde, *poisoned, entry.traits.name, p.grid, o);
        FAIL("no error");
      } catch (const NonFiniteError& e) {
        CHECK(e.sample() == 5);
        CHECK(e.step() == 0);
        CHECK(e.time() == p.grid[0]);
        CHECK(std::string(e.what()).find("output") != std::string::npos);
        CHECK(std::string(e.what()).find("in component 3") != std::string::npos);
      }
    }
  }
}

TEST_CASE("a NaN in a parallel run is reported for the sample that produced it") {
  Problem p;
  Matrix init = sample_prior(p.sde, 16, 500, 0, PhiloxNoise(1));
  const double marker = 123.25;
  init(321, 0) = marker;
  const auto poisoned = make_model(Prediction::score, 16, [&](const auto& t, const auto& x, auto out) {
    p.model->evaluate(t, x, out);
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
      if (x(i, 0) == marker) out(i, 0) = std::numeric_limits<double>::infinity();
    }
  });
  SampleOptions o;
  o.init = &init;
  o.execution = {2, 16};
  try {
    run(p.sde, *poisoned, "euler", p.grid, o);
    FAIL("no error");
  } catch (const NonFiniteError& e) {
    CHECK(e.sample() == 321);
    CHECK(e.step() == 0);
    CHECK(e.time() == 1.0);
  }
}

TEST_CASE("a state that overflows is reported with the step it happened at") {
  Problem p;
  const auto exploding = make_model(Prediction::score, 16, [&](const auto&, const auto&, auto out) {
    out.setConstant(std::numeric_limits<double>::max());
  });
  SampleOptions o;
  o.num_samples = 4;
  CHECK_THROWS_WITH_AS(run(p.sde, *exploding, "euler", p.grid, o),
                       doctest::Contains("the state became inf"), NonFiniteError);
}

TEST_CASE("bad sampling requests are refused with a message naming the problem") {
  Problem p;
  SampleOptions o;
  o.num_samples = 4;
  const auto em = make_sampler("em");
  auto refused = [&](const SampleOptions& opts, std::vector<double> grid, const char* message) {
    CHECK_THROWS_WITH_AS(sample(p.sde, *p.model, *em, grid, opts), doctest::Contains(message),
                         InvalidArgument);
  };
  refused(o, {1.0}, "at least 2 points");
  refused(o, {1.0, 0.5, 0.6}, "not strictly decreasing at point 2");
  refused(o, {1.0, 0.0}, "outside the vp family's time domain");
  SampleOptions bad = o;
  bad.seed = 1ULL << 32;
  refused(bad, p.grid, "does not fit in 32 bits");
  bad = o;
  bad.execution.chunk_rows = 0;
  refused(bad, p.grid, "chunk_rows");
  bad = o;
  bad.execution.threads = -1;
  refused(bad, p.grid, "threads = -1");
  bad = o;
  bad.num_samples = 0;
  refused(bad, p.grid, "num_samples");
  Matrix wrong(3, 5);
  wrong.setZero();
  bad = o;
  bad.init = &wrong;
  refused(bad, p.grid, "5 columns but the model's dimension is 16");
  Matrix with_nan = Matrix::Zero(3, 16);
  with_nan(2, 1) = std::nan("");
  bad.init = &with_nan;
  refused(bad, p.grid, "non-finite value in row 2");
  CHECK_THROWS_WITH_AS(make_sampler("heun2"), doctest::Contains("unknown sampler 'heun2'"),
                       InvalidArgument);
  CHECK_THROWS_WITH_AS(make_sampler("em", {{"eta", "1"}}),
                       doctest::Contains("takes no option eta"), InvalidArgument);
}

// ---- measured orders ---------------------------------------------------------------------

TEST_CASE("Euler on the probability-flow ODE converges with order 1 from the exact p_T") {
  const VpSde sde;
  const auto target = test::single_gaussian({1.0, -0.5}, {0.5, 0.2});
  const auto model = exact_model(target, sde);
  const double t_end = 1e-3;
  const Matrix start = target.sample(sde, 1.0, 200, PhiloxNoise(5));
  const Matrix exact = test::exact_flow(target, sde, 1.0, t_end, start);
  std::vector<int> steps{50, 100, 200, 400, 800};
  std::vector<double> errors;
  for (int n : steps) {
    SampleOptions o;
    o.init = &start;
    const auto x = run(sde, *model, "euler", make_grid(sde, {.steps = n, .t_end = t_end}), o).samples;
    errors.push_back(std::sqrt((x - exact).squaredNorm() / static_cast<double>(x.size())));
  }
  const double order = convergence_order(steps, errors);
  MESSAGE(fmt::format("Euler PF-ODE errors {}, order {:.3f}", fmt::join(errors, " "), order));
  CHECK(order == doctest::Approx(1.0).epsilon(0.1));
}

TEST_CASE("Euler-Maruyama has strong order 1 on the reverse SDE (additive noise)") {
  const VpSde sde;
  const auto target = test::single_gaussian({1.0}, {0.5});
  const auto model = exact_model(target, sde);
  const double t_end = 1e-3;
  const int fine = 4096;
  const Matrix start = target.sample(sde, 1.0, 400, PhiloxNoise(8));
  auto solve = [&](int n) {
    const test::NestedBrownianNoise path(21, fine, n);
    SampleOptions o;
    o.init = &start;
    o.noise = &path;
    return run(sde, *model, "em", make_grid(sde, {.steps = n, .t_end = t_end}), o).samples;
  };
  const Matrix reference = solve(fine);
  std::vector<int> steps{32, 64, 128, 256};
  std::vector<double> errors;
  for (int n : steps) {
    const Matrix x = solve(n);
    errors.push_back(std::sqrt((x - reference).squaredNorm() / static_cast<double>(x.size())));
  }
  const double order = convergence_order(steps, errors);
  MESSAGE(fmt::format("EM strong errors {}, order {:.3f}", fmt::join(errors, " "), order));
  CHECK(order == doctest::Approx(1.0).epsilon(0.1));
}

TEST_CASE("Euler-Maruyama has weak order 1 on the reverse SDE") {
  // N(1, 0.25) data; the reverse SDE started from the exact p_T ends at p_eps exactly, so the
  // error of the sample mean and variance is the weak error of the scheme plus Monte Carlo error
  // (standard error of the variance ~ v sqrt(2/n) = 7e-4 at n = 2e5, well below the errors).
  const VpSde sde;
  const auto target = test::single_gaussian({1.0}, {0.5});
  const auto model = exact_model(target, sde);
  const double t_end = 1e-3;
  const std::size_t n = 200000;
  const Matrix start = target.sample(sde, 1.0, n, PhiloxNoise(9));
  const double exact_mean = target.mean(sde, t_end)(0), exact_var = target.covariance(sde, t_end)(0, 0);
  std::vector<int> steps{10, 20, 40, 80};
  std::vector<double> errors;
  for (int s : steps) {
    const test::NestedBrownianNoise path(33, 80, s);
    SampleOptions o;
    o.init = &start;
    o.noise = &path;
    const Matrix x = run(sde, *model, "em", make_grid(sde, {.steps = s, .t_end = t_end}), o).samples;
    errors.push_back(std::abs(sample_mean(x)(0) - exact_mean) +
                     std::abs(sample_covariance(x)(0, 0) - exact_var));
  }
  const double order = convergence_order(steps, errors);
  MESSAGE(fmt::format("EM weak errors {}, order {:.3f}", fmt::join(errors, " "), order));
  CHECK(order == doctest::Approx(1.0).epsilon(0.25));
}
