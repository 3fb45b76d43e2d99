// Errors in parallel runs: the same error whatever the thread count (the lowest failing chunk),
// and a model's own exception ends the run with its type, no hang and no std::terminate (issue 12).
#include "sampling_util.hpp"

#include <tweedie/tweedie.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace tweedie;

TEST_CASE("for_each_chunk rethrows the error of the lowest failing chunk; every chunk before it runs") {
  for (int threads : {1, 2, 4}) {
    for (int repeat = 0; repeat < 20; ++repeat) {
      CAPTURE(threads);
      std::vector<std::atomic<bool>> ran(100);
      try {
        for_each_chunk(100, {threads, 1}, [&](std::size_t begin, std::size_t) {
          ran[begin] = true;
          // The later failure comes first in time, so "first thrown" would report it.
          if (begin == 60) throw std::runtime_error("chunk 60");
          if (begin == 17) {
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
            throw std::runtime_error("chunk 17");
          }
        });
        FAIL("no error");
      } catch (const std::runtime_error& e) {
        CHECK(std::string(e.what()) == "chunk 17");
      }
      for (std::size_t c = 0; c <= 17; ++c) CHECK(ran[c]);
    }
  }
}

TEST_CASE("a non-finite sample in a 2-thread run is always the lowest failing index") {
  const VpSde sde;
  const GaussianMixture target = test::random_mixture(4, 3, 5);
  const auto exact = exact_model(target, sde);
  const std::vector<double> grid = make_grid(sde, {.steps = 10});
  Matrix init = sample_prior(sde, 4, 4096, 0, PhiloxNoise(2));
  const double marker = 77.5;
  // Both fail at step 0; with 2 threads the second starts near the middle (chunk 128 of 256), so
  // 2040's chunk (127) often fails first in time: the error must still name 40.
  init(40, 1) = marker;
  init(2040, 1) = marker;
  const auto poisoned = make_model(Prediction::score, 4, [&](const ConstVectorRef& t, const ConstMatrixRef& x, MatrixRef out) {
    exact->evaluate(t, x, out);
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
      if (x(i, 1) == marker) out(i, 1) = std::nan("");
    }
  });
  SampleOptions o;
  o.init = &init;
  o.execution = {2, 16};
  for (int repeat = 0; repeat < 20; ++repeat) {
    try {
      sample(sde, *poisoned, *make_sampler("euler"), grid, o);
      FAIL("no error");
    } catch (const NonFiniteError& e) {
      CHECK(e.sample() == 40);
    }
  }
}

TEST_CASE("a model that throws in a 2-thread run ends it with its exception, any type") {
  const VpSde sde;
  const std::vector<double> grid = make_grid(sde, {.steps = 10});
  SampleOptions o;
  o.num_samples = 2000;
  o.execution = {2, 8};
  const auto throwing = make_model(Prediction::score, 3, [](const ConstVectorRef&, const ConstMatrixRef&, MatrixRef) {
    throw std::runtime_error("the network failed");
  });
  CHECK_THROWS_WITH_AS(sample(sde, *throwing, *make_sampler("em"), grid, o), "the network failed",
                       std::runtime_error);
  const auto throwing_int = make_model(Prediction::score, 3, [](const ConstVectorRef&, const ConstMatrixRef&, MatrixRef) {
    throw 42;
  });
  CHECK_THROWS_AS(sample(sde, *throwing_int, *make_sampler("em"), grid, o), int);
  // Exceptions from some chunks only, the others finishing: the run still ends with the error.
  std::atomic<int> calls{0};
  const auto sometimes = make_model(Prediction::score, 3, [&](const ConstVectorRef& t, const ConstMatrixRef&, MatrixRef out) {
    out.setZero();
    if (++calls % 7 == 0 && t(0) < 0.5) throw std::logic_error("sometimes");
  });
  CHECK_THROWS_AS(sample(sde, *sometimes, *make_sampler("em"), grid, o), std::logic_error);
}

namespace {

/// The score of N(0, I) (-x, exact JVP -v), failing as `fail_row(sample, t)` says: the drivers
/// name rows by their global sample indices, whatever the row's state.
std::unique_ptr<ScoreModel> failing_gaussian(Eigen::Index dim, std::function<bool(std::uint64_t, double)> fail_row,
                                             bool throw_instead) {
  FunctionModelTraits traits;
  traits.dim = dim;
  traits.jvp = [](const ModelInput&, const ConstMatrixRef& v, MatrixRef out) { out = -v; };
  return make_model(traits, [fail_row, throw_instead](const ModelInput& in, MatrixRef out) {
    out = -in.x;
    for (std::size_t i = 0; i < in.samples.size(); ++i) {
      if (!fail_row(in.samples[i], in.t(static_cast<Eigen::Index>(i)))) continue;
      if (throw_instead) throw std::runtime_error(fmt::format("the network failed on sample {}", in.samples[i]));
      out(static_cast<Eigen::Index>(i), 0) = std::nan("");
    }
  });
}

/// Each driver that runs chunks in parallel, on `data` with the given threads and chunk size.
std::vector<std::pair<std::string, std::function<void(const ScoreModel&, const Execution&)>>> drivers(
    const Sde& sde, const Matrix& data) {
  return {
      {"sample", [&sde, n = data.rows()](const ScoreModel& m, const Execution& execution) {
         SampleOptions o;
         o.num_samples = static_cast<std::size_t>(n);
         o.execution = execution;
         sample(sde, m, *make_sampler("em"), make_grid(sde, {.steps = 10}), o);
       }},
      {"log_likelihood", [&sde, &data](const ScoreModel& m, const Execution& execution) {
         LikelihoodOptions o;
         o.execution = execution;
         o.rtol = o.atol = 1e-3;
         log_likelihood(sde, m, data, o);
       }},
      {"encode", [&sde, &data](const ScoreModel& m, const Execution& execution) {
         FlowOptions o;
         o.execution = execution;
         o.rtol = o.atol = 1e-3;
         encode(sde, m, data, o);
       }},
      {"elbo", [&sde, &data](const ScoreModel& m, const Execution& execution) {
         ElboOptions o;
         o.execution = execution;
         o.draws = 8;
         elbo(sde, m, data, o);
       }},
  };
}

}  // namespace

TEST_CASE("every parallel driver ends a 2-thread run with the lowest non-finite sample or the model's exception") {
  const VpSde sde;
  const Matrix data = sample_prior(sde, 2, 2100, 0, PhiloxNoise(4)) * 0.5;
  const auto nan_at = failing_gaussian(2, [](std::uint64_t s, double) { return s == 40 || s == 2040; }, false);
  // Chunks from the middle on throw (the second thread starts there, so they fail first in time).
  const auto throws_late = failing_gaussian(2, [](std::uint64_t s, double) { return s >= 1000; }, true);
  const Execution two_threads{2, 16};
  for (const auto& [name, run] : drivers(sde, data)) {
    CAPTURE(name);
    for (int repeat = 0; repeat < 5; ++repeat) {
      try {
        run(*nan_at, two_threads);
        FAIL("no error");
      } catch (const NonFiniteError& e) {
        CHECK(e.sample() == 40);
      }
      CHECK_THROWS_WITH_AS(run(*throws_late, two_threads), "the network failed on sample 1000", std::runtime_error);
    }
  }
}

TEST_CASE("the sample named is the lowest failing one, whatever the chunk size and thread count") {
  // Sample 5 fails at an earlier step than sample 3: a chunk holding both stops at 5's step, and
  // one-row chunks name 3. Every chunk size must name 3. Sampling runs t down, the flows and the
  // bound's draws run it up.
  const VpSde sde;
  const Matrix data = sample_prior(sde, 2, 40, 0, PhiloxNoise(4)) * 0.5;
  const auto falling = failing_gaussian(2, [](std::uint64_t s, double t) { return (s == 3 && t < 0.3) || (s == 5 && t < 0.9); }, false);
  const auto rising = failing_gaussian(2, [](std::uint64_t s, double t) { return (s == 3 && t > 0.7) || (s == 5 && t > 0.1); }, false);
  for (const auto& [name, run] : drivers(sde, data)) {
    const ScoreModel& model = name == "sample" ? *falling : *rising;
    for (const Execution& execution : {Execution{1, 1}, Execution{1, 16}, Execution{2, 7}, Execution{2, 256}}) {
      CAPTURE(name);
      CAPTURE(execution.threads);
      CAPTURE(execution.chunk_rows);
      try {
        run(model, execution);
        FAIL("no error");
      } catch (const NonFiniteError& e) {
        CHECK(e.sample() == 3);
      }
    }
  }
}
