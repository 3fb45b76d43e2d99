// The sampler's own work around one model call, on one chunk (256 x d), with the arithmetic of
// solvers/euler.cpp and the finiteness checks of ChunkContext (model output, then new state):
//
//   check/allFinite/d:D      Eigen's m.allFinite() (what ChunkContext uses)
//   check/sum/d:D            prototype: std::isfinite((m - m).sum()); x - x is 0 for a finite x
//                            and NaN for an infinite or NaN one, and Eigen vectorises the sum
//   step/current/S/d:D       check(score); x = (1 + f dt) x - c g^2 dt score; [x += g sqrt(-dt) z
//                            for S = em]; check(x), with allFinite
//   step/sumcheck/S/d:D      the same with the vectorised check
//   step/onecheck/S/d:D      the update, then only the vectorised check of the new state (a
//                            non-finite model output makes the state non-finite too, so the model
//                            output need only be searched when that check fails)
//
// items_per_second = state entries (rows x d) per second.
//
// Run:  build/release/bench/bench_update --benchmark_repetitions=3
//         --benchmark_report_aggregates_only=true
#include "bench_util.hpp"

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <string>

namespace {

using namespace tweedie;

constexpr Eigen::Index kRows = 256;

bool all_finite(const ConstMatrixRef& m) { return m.allFinite(); }
bool sum_finite(const ConstMatrixRef& m) { return std::isfinite((m.array() - m.array()).sum()); }
using Check = bool (*)(const ConstMatrixRef&);

void check(benchmark::State& state, int d, Check fn) {
  tweedie::bench::Inputs in(5);
  const Matrix m = in.uniform(kRows, d, -1.0, 1.0);
  Matrix bad = m;
  bad(kRows - 1, d - 1) = std::numeric_limits<double>::infinity();
  if (!fn(m) || fn(bad)) state.SkipWithError("the check is wrong");
  tweedie::bench::wait_until_idle();
  const tweedie::bench::LoadMonitor load;
  for (auto _ : state) {
    bool ok = fn(m);
    benchmark::DoNotOptimize(ok);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * kRows * d);
  state.counters["others_cores"] = load.others_cores();
}

void step(benchmark::State& state, int d, bool stochastic, Check fn, bool check_score = true) {
  tweedie::bench::Inputs in(5);
  Matrix x = in.uniform(kRows, d, -1.0, 1.0);
  const Matrix score = in.uniform(kRows, d, -1.0, 1.0);
  const Matrix z = in.uniform(kRows, d, -1.0, 1.0);
  const double a = 1.0 - 1e-9, b = 1e-9, c = 1e-9;  // keeps x bounded over many iterations
  tweedie::bench::wait_until_idle();
  const tweedie::bench::LoadMonitor load;
  for (auto _ : state) {
    bool ok = !check_score || fn(score);
    x = a * x - b * score;
    if (stochastic) x += c * z;
    ok = ok && fn(x);
    benchmark::DoNotOptimize(ok);
    benchmark::DoNotOptimize(x.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * kRows * d);
  state.counters["others_cores"] = load.others_cores();
}

template <class F>
void add(const std::string& name, F f) {
  benchmark::RegisterBenchmark(name.c_str(), f)->UseRealTime()->Unit(benchmark::kMicrosecond);
}

void register_all() {
  const std::pair<const char*, Check> checks[] = {{"allFinite", all_finite}, {"sum", sum_finite}};
  for (int d : {2, 16, 64, 256}) {
    for (auto [name, fn] : checks) {
      add(fmt::format("check/{}/d:{}", name, d), [d, fn = fn](benchmark::State& s) { check(s, d, fn); });
    }
  }
  for (int d : {2, 16, 64, 256}) {
    for (bool stochastic : {false, true}) {
      for (auto [name, fn] : {std::pair<const char*, Check>{"current", all_finite},
                              std::pair<const char*, Check>{"sumcheck", sum_finite}}) {
        add(fmt::format("step/{}/{}/d:{}", name, stochastic ? "em" : "euler", d),
            [d, stochastic, fn = fn](benchmark::State& s) { step(s, d, stochastic, fn); });
      }
      add(fmt::format("step/onecheck/{}/d:{}", stochastic ? "em" : "euler", d),
          [d, stochastic](benchmark::State& s) { step(s, d, stochastic, sum_finite, false); });
    }
  }
}

}  // namespace

int main(int argc, char** argv) { return tweedie::bench::run(argc, argv, register_all); }
