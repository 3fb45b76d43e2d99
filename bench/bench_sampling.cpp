// Euler-Maruyama ("em") and probability-flow Euler ("euler") on K = 10 Gaussian mixtures, through
// the public driver tweedie::sample, for d in {2, 16, 64, 256}, n in {1e2, 1e4, 1e5} and 1 or 2
// threads (SampleOptions.execution.threads); multistep DPM-Solver++ ("dpm-solver++") at d = 64,
// n = 1e4.
//
// Method. The exact mixture score (GaussianMixture::score) is wrapped with tweedie::make_model;
// the wrapper times every evaluate call (one call per chunk of 256 rows and step) with
// steady_clock and adds the nanoseconds to a relaxed atomic, so the time inside the model is
// known exactly for every thread count (two clock reads and one atomic add per call of 256 rows:
// well under 1 ns per row). The driver starts from a fixed prior draw given as `init`, so the
// timed work is the N steps and not the prior; VP SDE, uniform grid of kSteps = 10 steps from
// T = 1 to 1e-3 (100 for the .../steps:100 cases), 256 rows a chunk.
//
//   SAMPLER/d:D/n:N/threads:T     one call of tweedie::sample per iteration
//   SAMPLER/d:64/n:N/threads:1/steps:100   the same on a 100-step grid
//   speedup/SAMPLER/d:D/n:N       each iteration runs the same call with 1 thread and then with
//                                 2 threads, back to back, so both see the same machine load
//
// Counters (take the median of --benchmark_repetitions=3):
//   items_per_second  samples x NFE per second (wall clock)
//   ns_per_eval       wall time of one step of one sample (ns) = 1e9 / items_per_second
//   model_ns_per_eval time inside the model per sample and step, summed over threads
//   outside_pct       100 (1 - model time / (busy threads x wall time)): the share of the run
//                     spent outside the model (the sampler's update, noise, finiteness checks,
//                     the driver), busy threads = min(threads, chunks). Exact for 1 thread; for 2
//                     threads it also counts load imbalance and waiting at the end of the run.
//   others_cores      CPU used by other processes meanwhile, in cores (0 = quiet machine)
//   speedup           (speedup/...) median over iterations of time(1 thread) / time(2 threads)
//
// Run:  build/release/bench/bench_sampling --benchmark_repetitions=3
//         --benchmark_report_aggregates_only=true
//       (--benchmark_filter='^em/d:64/' to select; TWEEDIE_BENCH_WAIT_IDLE=60 to start each
//        benchmark on a quiet machine, see bench_util.hpp)
#include "bench_util.hpp"

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

namespace {

using namespace tweedie;
using tweedie::bench::Clock;
using tweedie::bench::elapsed_ns;

constexpr int kComponents = 10;
constexpr int kSteps = 10;
constexpr std::size_t kChunk = 256;

// One sampling problem: mixture, timed model, sampler, grid and the initial state.
struct Problem {
  VpSde sde;
  GaussianMixture mixture;
  tweedie::bench::ModelTimer timer;
  std::unique_ptr<ScoreModel> model;
  std::unique_ptr<Sampler> sampler;
  std::vector<double> grid;
  Matrix init;
  SampleOptions options;

  Problem(const std::string& name, int d, std::size_t n, int steps = kSteps)
      : mixture(tweedie::bench::bench_mixture(kComponents, d)), sampler(make_sampler(name)) {
    model = make_model(Prediction::score, d,
                       [this](const ConstVectorRef& t, const ConstMatrixRef& x, MatrixRef out) {
                         const auto start = Clock::now();
                         mixture.score(sde, t, x, out);
                         timer.add(elapsed_ns(start), x.rows());
                       });
    GridOptions go;
    go.steps = steps;
    grid = make_grid(sde, go);
    init = sample_prior(sde, d, n, 0, PhiloxNoise(1));
    options.seed = 7;
    options.init = &init;
    options.execution.chunk_rows = kChunk;
  }

  // Runs the sampler with `threads` threads; returns the wall time in ns.
  std::int64_t run(int threads) {
    options.execution.threads = threads;
    const auto start = Clock::now();
    SampleResult r = sample(sde, *model, *sampler, grid, options);
    const std::int64_t ns = elapsed_ns(start);
    benchmark::DoNotOptimize(r.samples.data());
    return ns;
  }
};

void run_sampler(benchmark::State& state, const std::string& name, int d, std::size_t n, int threads,
                 int steps = kSteps) {
  Problem p(name, d, n, steps);
  tweedie::bench::wait_until_idle();
  std::int64_t wall_ns = 0;
  p.timer.reset();
  tweedie::bench::LoadMonitor load;
  for (auto _ : state) wall_ns += p.run(threads);
  const double evals = static_cast<double>(state.iterations()) * static_cast<double>(n) * steps;
  const std::size_t chunks = (n + kChunk - 1) / kChunk;
  const double busy = static_cast<double>(std::min<std::size_t>(static_cast<std::size_t>(threads), chunks));
  const auto model_ns = static_cast<double>(p.timer.ns.load());
  state.SetItemsProcessed(static_cast<std::int64_t>(evals));
  state.counters["ns_per_eval"] = static_cast<double>(wall_ns) / evals;
  state.counters["model_ns_per_eval"] = model_ns / evals;
  state.counters["outside_pct"] = 100.0 * (1.0 - model_ns / (busy * static_cast<double>(wall_ns)));
  state.counters["others_cores"] = load.others_cores();
}

void run_speedup(benchmark::State& state, const std::string& name, int d, std::size_t n) {
  Problem p(name, d, n);
  tweedie::bench::wait_until_idle();
  std::vector<double> ratios;
  tweedie::bench::LoadMonitor load;
  for (auto _ : state) {
    const auto one = static_cast<double>(p.run(1));
    const auto two = static_cast<double>(p.run(2));
    ratios.push_back(one / two);
  }
  std::sort(ratios.begin(), ratios.end());
  const std::size_t m = ratios.size();
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(n) * kSteps * 2);
  state.counters["speedup"] = m % 2 == 1 ? ratios[m / 2] : 0.5 * (ratios[m / 2 - 1] + ratios[m / 2]);
  state.counters["others_cores"] = load.others_cores();
}

void register_all() {
  for (const char* name : {"em", "euler"}) {
    for (int d : {2, 16, 64, 256}) {
      for (long n : {100L, 10000L, 100000L}) {
        for (int threads : {1, 2}) {
          const std::string label = fmt::format("{}/d:{}/n:{}/threads:{}", name, d, n, threads);
          benchmark::RegisterBenchmark(label.c_str(),
                                       [name = std::string(name), d, n, threads](benchmark::State& s) {
                                         run_sampler(s, name, d, static_cast<std::size_t>(n), threads);
                                       })
              ->UseRealTime()
              ->Unit(benchmark::kMillisecond);
        }
      }
    }
  }
  // The multistep exponential integrator, whose step is as cheap as euler's (one model value,
  // a linear combination): its share outside the model at d = 64.
  for (int threads : {1, 2}) {
    const std::string name = "dpm-solver++";
    const int d = 64;
    const long n = 10000;
    benchmark::RegisterBenchmark(fmt::format("{}/d:{}/n:{}/threads:{}", name, d, n, threads).c_str(),
                                 [name, d, n, threads](benchmark::State& s) {
                                   run_sampler(s, name, d, static_cast<std::size_t>(n), threads);
                                 })
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
  // A longer grid: the per-run costs (copying `init`, first touch of the n x d result) spread
  // over 100 steps instead of 10.
  for (const char* name : {"em", "euler"}) {
    for (long n : {10000L, 100000L}) {
      const int d = 64, steps = 100;
      benchmark::RegisterBenchmark(fmt::format("{}/d:{}/n:{}/threads:1/steps:{}", name, d, n, steps).c_str(),
                                   [name = std::string(name), d, n, steps](benchmark::State& s) {
                                     run_sampler(s, name, d, static_cast<std::size_t>(n), 1, steps);
                                   })
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
  for (const char* name : {"em", "euler"}) {
    for (int d : {2, 16, 64, 256}) {
      const long n = 10000;
      benchmark::RegisterBenchmark(fmt::format("speedup/{}/d:{}/n:{}", name, d, n).c_str(),
                                   [name = std::string(name), d, n](benchmark::State& s) {
                                     run_speedup(s, name, d, static_cast<std::size_t>(n));
                                   })
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond)
          ->MinTime(1.0);
    }
  }
}

}  // namespace

int main(int argc, char** argv) { return tweedie::bench::run(argc, argv, register_all); }
