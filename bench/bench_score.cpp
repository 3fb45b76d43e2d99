// The exact mixture score alone: GaussianMixture::score on a 10^4 x d batch of exact samples of
// p_t (VP SDE, t = 0.5, every row at the same time), called chunk by chunk as the sampling driver
// calls the model (256 rows a call unless the name says otherwise).
//
//   score/d:D/K:K/chunk:C            one thread, direct calls of GaussianMixture::score
//   model/d:D/K:K/chunk:C            one thread, through exact_model(...)->evaluate (the virtual
//                                    call the driver makes)
//   parallel/d:D/K:K/threads:T       tweedie::for_each_chunk over the 10^4 rows with T threads
//   score/.../t:T                    the same as score/... with rows of p_T at time T (not 0.5)
//   times/d:D/K:K/shared|distinct    the same rows of p_0.5, 256 a call, all at t = 0.5 (shared)
//                                    or each at its own t in [0.45, 0.55] (distinct, as adaptive
//                                    solvers ask for them)
//
// items_per_second = sample evaluations per second (wall clock); per_thread = that / threads;
// others_cores = CPU used by other processes meanwhile (see bench_util.hpp).
// The project's aims: >= 1.5e6 /s/thread at (d = 64, K = 10) and >= 5e6 at (d = 16, K = 6).
//
// Run:  build/release/bench/bench_score --benchmark_repetitions=3
//         --benchmark_report_aggregates_only=true
#include "bench_util.hpp"

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <string>

namespace {

using namespace tweedie;

constexpr Eigen::Index kRows = 10000;
constexpr double kTime = 0.5;

struct Batch {
  VpSde sde;
  GaussianMixture mixture;
  Matrix x;
  Vector t;
  Matrix out;
  Batch(int d, int k, double time = kTime)
      : mixture(tweedie::bench::bench_mixture(k, d)),
        x(mixture.sample(sde, time, kRows, PhiloxNoise(3))),
        t(Vector::Constant(kRows, time)),
        out(kRows, d) {}
};

void finish(benchmark::State& state, int threads, const tweedie::bench::LoadMonitor& load) {
  const auto items = static_cast<double>(state.iterations()) * static_cast<double>(kRows);
  state.SetItemsProcessed(static_cast<std::int64_t>(items));
  state.counters["per_thread"] =
      benchmark::Counter(items / threads, benchmark::Counter::kIsRate);
  state.counters["others_cores"] = load.others_cores();
}

// Calls GaussianMixture::score on the batch, `chunk` rows a call.
void score_calls(benchmark::State& state, Batch& b, Eigen::Index chunk) {
  tweedie::bench::wait_until_idle();
  const tweedie::bench::LoadMonitor load;
  for (auto _ : state) {
    for (Eigen::Index r = 0; r < kRows; r += chunk) {
      const Eigen::Index rows = std::min(chunk, kRows - r);
      b.mixture.score(b.sde, b.t.segment(r, rows), b.x.middleRows(r, rows), b.out.middleRows(r, rows));
    }
    benchmark::DoNotOptimize(b.out.data());
    benchmark::ClobberMemory();
  }
  finish(state, 1, load);
}

void score_direct(benchmark::State& state, int d, int k, Eigen::Index chunk, double time = kTime) {
  Batch b(d, k, time);
  score_calls(state, b, chunk);
}

void score_model(benchmark::State& state, int d, int k, Eigen::Index chunk) {
  Batch b(d, k);
  const auto model = exact_model(b.mixture, b.sde);
  tweedie::bench::wait_until_idle();
  const tweedie::bench::LoadMonitor load;
  for (auto _ : state) {
    for (Eigen::Index r = 0; r < kRows; r += chunk) {
      const Eigen::Index rows = std::min(chunk, kRows - r);
      model->evaluate(b.t.segment(r, rows), b.x.middleRows(r, rows), b.out.middleRows(r, rows));
    }
    benchmark::DoNotOptimize(b.out.data());
    benchmark::ClobberMemory();
  }
  finish(state, 1, load);
}

void score_parallel(benchmark::State& state, int d, int k, int threads) {
  Batch b(d, k);
  Execution ex;
  ex.threads = threads;
  ex.chunk_rows = 256;
  tweedie::bench::wait_until_idle();
  const tweedie::bench::LoadMonitor load;
  for (auto _ : state) {
    for_each_chunk(static_cast<std::size_t>(kRows), ex, [&](std::size_t begin, std::size_t end) {
      const auto r = static_cast<Eigen::Index>(begin), rows = static_cast<Eigen::Index>(end - begin);
      b.mixture.score(b.sde, b.t.segment(r, rows), b.x.middleRows(r, rows), b.out.middleRows(r, rows));
    });
    benchmark::DoNotOptimize(b.out.data());
    benchmark::ClobberMemory();
  }
  finish(state, threads, load);
}

void score_times(benchmark::State& state, int d, int k, bool distinct) {
  Batch b(d, k);
  if (distinct) b.t = Vector::LinSpaced(kRows, 0.45, 0.55);
  score_calls(state, b, 256);
}

template <class F>
void add(const std::string& name, F f) {
  benchmark::RegisterBenchmark(name.c_str(), f)->UseRealTime()->Unit(benchmark::kMicrosecond);
}

void register_all() {
  // The two aims first, then the dimension sweep at K = 10, then the chunk-size sweep.
  const std::pair<int, int> shapes[] = {{64, 10}, {16, 6}, {2, 10}, {16, 10}, {256, 10}};
  for (auto [d, k] : shapes) {
    add(fmt::format("score/d:{}/K:{}/chunk:256", d, k),
        [d = d, k = k](benchmark::State& s) { score_direct(s, d, k, 256); });
  }
  for (auto [d, k] : {std::pair{64, 10}, std::pair{16, 6}}) {
    add(fmt::format("model/d:{}/K:{}/chunk:256", d, k),
        [d = d, k = k](benchmark::State& s) { score_model(s, d, k, 256); });
    for (int threads : {1, 2}) {
      add(fmt::format("parallel/d:{}/K:{}/threads:{}", d, k, threads),
          [d = d, k = k, threads](benchmark::State& s) { score_parallel(s, d, k, threads); });
    }
  }
  for (auto [d, k] : {std::pair{64, 10}, std::pair{16, 6}}) {
    for (Eigen::Index chunk : {24, 64, 1024, 10000}) {
      add(fmt::format("score/d:{}/K:{}/chunk:{}", d, k, chunk),
          [d = d, k = k, chunk](benchmark::State& s) { score_direct(s, d, k, chunk); });
    }
  }
  // One time per call against one time per row, on the same rows.
  for (auto [d, k] : {std::pair{64, 10}, std::pair{16, 6}}) {
    for (bool distinct : {false, true}) {
      add(fmt::format("times/d:{}/K:{}/{}", d, k, distinct ? "distinct" : "shared"),
          [d = d, k = k, distinct](benchmark::State& s) { score_times(s, d, k, distinct); });
    }
  }
  // The time changes the data (rows of p_t) and so the softmax: at small t the components are
  // far apart and most exp() arguments are very negative.
  for (double time : {0.01, 0.1, 1.0}) {
    add(fmt::format("score/d:64/K:10/chunk:256/t:{}", time),
        [time](benchmark::State& s) { score_direct(s, 64, 10, 256, time); });
  }
}

}  // namespace

int main(int argc, char** argv) { return tweedie::bench::run(argc, argv, register_all); }
