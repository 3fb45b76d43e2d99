// Step observers (observer.hpp): called after every step with the promised arguments, without
// changing any bit of the result.
#include "sampling_util.hpp"
#include "test_util.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

using namespace tweedie;
using tweedie::test::bitwise_equal;

namespace {

struct Problem {
  VpSde sde;
  GaussianMixture target = test::random_mixture(2, 3, 5);
  std::unique_ptr<ScoreModel> model = exact_model(target, sde);
  std::vector<double> grid = make_grid(sde, {.steps = 9});
};

/// One observed call, copied.
struct Seen {
  std::size_t step;
  double t;
  Matrix x, x0;
};

/// Every call, by the chunk's first sample (one chunk's calls come from one thread at a time).
struct Recorder {
  std::mutex mutex;
  std::map<std::uint64_t, std::vector<Seen>> by_chunk;
  StepObserver observer() {
    return [this](const StepEvent& e) {
      const std::lock_guard lock(mutex);
      by_chunk[e.first_sample].push_back({e.step, e.t, e.x, e.x0});
    };
  }
};

/// The states after each of the grid's N steps, (N, n, d) as N * n rows, placed by global index.
struct Trajectory {
  std::size_t n;
  Matrix states;
  Trajectory(std::size_t steps, std::size_t rows, Eigen::Index d)
      : n(rows), states(Matrix::Zero(static_cast<Eigen::Index>(steps * rows), d)) {}
  StepObserver observer() {
    return [this](const StepEvent& e) {
      states.middleRows(static_cast<Eigen::Index>((e.step - 1) * n + e.first_sample), e.x.rows()) = e.x;
    };
  }
};

SampleOptions options(std::size_t n, std::size_t chunk, int threads) {
  SampleOptions o;
  o.num_samples = n;
  o.seed = 7;
  o.execution = {threads, chunk};
  return o;
}

// Every family of update rules: Euler/EM, DDIM (stochastic too), exponential integrators
// (multistep, singlestep, UniPC), the Karras samplers (state kept as x / alpha on VP), RK4,
// score_sde's predictor-corrector, and the adaptive ones.
const std::vector<std::pair<std::string, SamplerOptions>> kSamplers = {
    {"euler", {}},       {"em", {}},
    {"ddim", {{"eta", "0.5"}}},
    {"dpm-solver++", {}},
    {"dpm-solver", {{"method", "singlestep"}, {"order", "3"}}},
    {"unipc", {}},       {"heun", {{"churn", "1"}}},
    {"euler-ancestral", {}},
    {"dpm++2m-sde", {}}, {"rk4", {}},
    {"pc", {}},          {"pc", {{"predictor", "none"}}},
    {"dopri5", {}},      {"adaptive-sde", {}},
    {"dpm-solver-adaptive", {}},
};

}  // namespace

TEST_CASE("an observer changes no bit of the result, and its last call sees the returned rows") {
  Problem p;
  for (const auto& [name, given] : kSamplers) {
    CAPTURE(name);
    const auto sampler = make_sampler(name, given);
    SampleOptions o = options(37, 8, 2);
    const SampleResult plain = sample(p.sde, *p.model, *sampler, p.grid, o);
    Recorder seen;
    o.observer = seen.observer();
    const SampleResult observed = sample(p.sde, *p.model, *sampler, p.grid, o);
    CHECK(bitwise_equal(observed.samples, plain.samples));
    CHECK(observed.stats.evaluations == plain.stats.evaluations);
    REQUIRE(seen.by_chunk.size() == 5);  // chunks of 8 rows: 0, 8, ..., 32
    for (const auto& [first, calls] : seen.by_chunk) {
      CAPTURE(first);
      REQUIRE(!calls.empty());
      CHECK(calls.back().step == p.grid.size() - 1);
      CHECK(bitwise_equal(calls.back().x, plain.samples.middleRows(static_cast<Eigen::Index>(first),
                                                                    calls.back().x.rows())));
    }
  }
}

TEST_CASE("fixed-step samplers are observed once per grid step, at the grid's times") {
  Problem p;
  const std::size_t n_steps = p.grid.size() - 1;
  for (const char* name : {"euler", "em", "ddim", "dpm-solver++", "unipc", "heun", "rk4", "pc"}) {
    CAPTURE(name);
    Recorder seen;
    SampleOptions o = options(10, 4, 2);
    o.observer = seen.observer();
    sample(p.sde, *p.model, *make_sampler(name), p.grid, o);
    CHECK(seen.by_chunk.size() == 3);
    for (const auto& [first, calls] : seen.by_chunk) {
      REQUIRE(calls.size() == n_steps);
      for (std::size_t k = 0; k < n_steps; ++k) {
        CHECK(calls[k].step == k + 1);
        CHECK(calls[k].t == p.grid[k + 1]);
        CHECK(calls[k].x.rows() == (first == 8 ? 2 : 4));
      }
    }
  }
  // Singlestep DPM-Solver-3 on 9 steps (its NFE budget): DPM-Solver's orders 3, 3, 2, 1 for
  // 9 NFE, so its outer steps end at grid points 3, 6, 8 and 9.
  Recorder seen;
  SampleOptions o = options(3, 256, 1);
  o.observer = seen.observer();
  sample(p.sde, *p.model, *make_sampler("dpm-solver", {{"method", "singlestep"}, {"order", "3"}}), p.grid, o);
  const auto& calls = seen.by_chunk.at(0);
  REQUIRE(calls.size() == 4);
  const std::size_t ends[] = {3, 6, 8, 9};
  for (std::size_t k = 0; k < 4; ++k) {
    CHECK(calls[k].step == ends[k]);
    CHECK(calls[k].t == p.grid[ends[k]]);  // a time-uniform grid: its outer points are grid points
  }
}

TEST_CASE("a trajectory is bitwise the same for 1 or 2 threads and chunks of 1, 7 or 256 rows") {
  Problem p;
  const std::size_t n = 23, steps = p.grid.size() - 1;
  // The adaptive ones too: each row's dense output depends on that row's own steps alone.
  for (const char* name : {"em", "heun", "dpm-solver++", "dopri5", "adaptive-sde", "dpm-solver-adaptive", "fehlberg78"}) {
    CAPTURE(name);
    const auto sampler = make_sampler(name);
    Trajectory reference(steps, n, 2);
    SampleOptions o = options(n, 256, 1);
    o.observer = reference.observer();
    const Matrix samples = sample(p.sde, *p.model, *sampler, p.grid, o).samples;
    CHECK(bitwise_equal(reference.states.bottomRows(static_cast<Eigen::Index>(n)), samples));
    for (int threads : {1, 2}) {
      for (std::size_t chunk : {std::size_t{1}, std::size_t{7}, std::size_t{256}}) {
        CAPTURE(threads);
        CAPTURE(chunk);
        Trajectory t(steps, n, 2);
        o = options(n, chunk, threads);
        o.observer = t.observer();
        sample(p.sde, *p.model, *sampler, p.grid, o);
        CHECK(bitwise_equal(t.states, reference.states));
      }
    }
  }
}

TEST_CASE("x0 is the mixture's E[x0 | x_t] at each step's start state (DDIM, DPM-Solver++, Heun)") {
  Problem p;
  const std::size_t n = 6;
  Matrix init(static_cast<Eigen::Index>(n), 2);
  PhiloxNoise(3).normal(0, 0, 0, NoiseStream::prior, init);
  for (const char* name : {"ddim", "dpm-solver++", "heun"}) {
    CAPTURE(name);
    Recorder seen;
    SampleOptions o = options(n, 256, 1);
    o.init = &init;
    o.observer = seen.observer();
    sample(p.sde, *p.model, *make_sampler(name), p.grid, o);
    const auto& calls = seen.by_chunk.at(0);
    REQUIRE(calls.size() == p.grid.size() - 1);
    Matrix start = init;  // the state the step started from, at grid[k]
    for (std::size_t k = 0; k < calls.size(); ++k) {
      CAPTURE(k);
      const double t = p.grid[k];
      REQUIRE(calls[k].x0.rows() == static_cast<Eigen::Index>(n));
      // Tweedie's formula on the closed-form score: E[x0 | x_t] = (x_t + sigma^2 grad log p_t) / alpha.
      Matrix score(static_cast<Eigen::Index>(n), 2);
      p.target.score(p.sde, Vector::Constant(static_cast<Eigen::Index>(n), t), start, score);
      const double sigma = p.sde.sigma(t), alpha = p.sde.alpha(t);
      const Matrix expected = (start + sigma * sigma * score) / alpha;
      // Rounding only: the samplers convert through their own parameterisation (eps for DDIM),
      // Heun from the state it keeps as x / alpha.
      CHECK((calls[k].x0 - expected).cwiseAbs().maxCoeff() <= 1e-12 * (1.0 + expected.cwiseAbs().maxCoeff()));
      start = calls[k].x;
    }
  }
}

TEST_CASE("an observer's exception ends the run and reaches the caller") {
  Problem p;
  SampleOptions o = options(20, 4, 2);
  o.observer = [](const StepEvent& e) {
    if (e.step == 3 && e.first_sample == 8) throw std::runtime_error("observer stops at step 3");
  };
  CHECK_THROWS_WITH_AS(sample(p.sde, *p.model, *make_sampler("euler"), p.grid, o), "observer stops at step 3",
                       std::runtime_error);
}

namespace {

const char* const kAdaptive[] = {"dopri5",         "cash-karp54",  "fehlberg78",
                                 "bulirsch-stoer", "adaptive-sde", "dpm-solver-adaptive"};

}  // namespace

TEST_CASE("adaptive samplers are observed at every grid point by dense output, without a changed bit") {
  const GaussianMixture target = test::random_mixture(2, 3, 5);
  for (const char* family : {"vp", "edm"}) {
    const auto sde = test::family(family);
    const auto model = exact_model(target, *sde);
    for (const char* name : kAdaptive) {
      CAPTURE(family);
      CAPTURE(name);
      // EDM: Karras' grid with its last step to sigma = 0 (the integration ends at grid[N-1]).
      const std::vector<double> grid = make_grid(*sde, default_grid(name, *sde, 9));
      const std::size_t n_steps = grid.size() - 1;
      const auto sampler = make_sampler(name);
      SampleOptions o = options(13, 5, 2);
      const SampleResult plain = sample(*sde, *model, *sampler, grid, o);
      Recorder seen;
      o.observer = seen.observer();
      const SampleResult observed = sample(*sde, *model, *sampler, grid, o);
      CHECK(bitwise_equal(observed.samples, plain.samples));
      CHECK(observed.stats.evaluations == plain.stats.evaluations);
      CHECK(observed.stats.accepted_steps == plain.stats.accepted_steps);
      CHECK(observed.stats.rejected_steps == plain.stats.rejected_steps);
      REQUIRE(seen.by_chunk.size() == 3);
      for (const auto& [first, calls] : seen.by_chunk) {
        CAPTURE(first);
        REQUIRE(calls.size() == n_steps);
        for (std::size_t k = 0; k < n_steps; ++k) {
          CHECK(calls[k].step == k + 1);
          CHECK(calls[k].t == grid[k + 1]);
          CHECK(calls[k].x0.rows() == 0);
          CHECK(calls[k].x.rows() == (first == 10 ? 3 : 5));
          CHECK(calls[k].x.allFinite());
        }
        CHECK(bitwise_equal(calls.back().x, plain.samples.middleRows(static_cast<Eigen::Index>(first),
                                                                      calls.back().x.rows())));
      }
    }
  }
}

namespace {

/// The largest error over the interior grid points of the dense output of `name` at tolerance
/// `tol` (rtol = atol), against dopri5 at 1e-11 integrated from the same initial points to each
/// grid time; and the error at the grid's end (the integration's own).
struct DenseError {
  double interior = 0.0, end = 0.0;
  std::size_t worst = 0;  // the grid point of `interior`
};
DenseError dense_error(const Sde& sde, const ScoreModel& model, const std::vector<double>& grid,
                       const Matrix& init, const std::string& name, double tol) {
  const std::string t = fmt::format("{:g}", tol);
  const SamplerOptions given{{"rtol", t}, {"atol", t}};
  SampleOptions o = options(static_cast<std::size_t>(init.rows()), 256, 1);
  o.init = &init;
  Recorder seen;
  o.observer = seen.observer();
  sample(sde, model, *make_sampler(name, given), grid, o);
  const auto& calls = seen.by_chunk.at(0);
  REQUIRE(calls.size() == grid.size() - 1);
  const auto reference = make_sampler("dopri5", {{"rtol", "1e-11"}, {"atol", "1e-11"}});
  DenseError e;
  SampleOptions r = options(static_cast<std::size_t>(init.rows()), 256, 1);
  r.init = &init;
  for (std::size_t k = 1; k < grid.size(); ++k) {
    const std::vector<double> to_k{grid.front(), grid[k]};
    const Matrix exact = sample(sde, model, *reference, to_k, r).samples;
    const double err = (calls[k - 1].x - exact).cwiseAbs().maxCoeff();
    if (k + 1 < grid.size()) {
      if (err > e.interior) e.worst = k;
      e.interior = std::max(e.interior, err);
    } else {
      e.end = err;
    }
  }
  return e;
}

}  // namespace

TEST_CASE("the dense output agrees with a tight solution at every interior grid time, better as the tolerance falls") {
  const VpSde sde;
  const GaussianMixture target = test::random_mixture(2, 3, 5);
  const auto model = exact_model(target, sde);
  const std::vector<double> grid = make_grid(sde, {.steps = 9});
  Matrix init(8, 2);
  PhiloxNoise(11).normal(0, 0, 0, NoiseStream::prior, init);
  for (const char* name : {"dopri5", "cash-karp54", "fehlberg78", "bulirsch-stoer", "dpm-solver-adaptive"}) {
    CAPTURE(name);
    std::vector<DenseError> errors;
    for (double tol : {1e-4, 1e-6, 1e-8}) {
      errors.push_back(dense_error(sde, *model, grid, init, name, tol));
      MESSAGE(fmt::format("{} tol {:g}: interior {:.3e} (grid point {}), end {:.3e}", name, tol,
                          errors.back().interior, errors.back().worst, errors.back().end));
    }
    for (std::size_t i = 1; i < errors.size(); ++i) CHECK(errors[i].interior < errors[i - 1].interior);
    // dopri5's own 4th-order extension, and dpm-solver-adaptive's Hermite (its steps are low
    // order, so cubic interpolation is finer than they are): the interior error is that of the
    // integration itself, within a small multiple of the tolerance or of the end's error (measured
    // up to 10x; cubic Hermite on the 5th- to 10th-order pairs is coarser, see the messages).
    if (std::string(name) == "dopri5" || std::string(name) == "dpm-solver-adaptive") {
      const double tols[] = {1e-4, 1e-6, 1e-8};
      for (std::size_t i = 0; i < errors.size(); ++i) {
        CHECK(errors[i].interior <= 20.0 * std::max(tols[i], errors[i].end));
      }
    }
  }
}
