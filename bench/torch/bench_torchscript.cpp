// TorchScriptModel's threads policy: 4096 samples of DPM-Solver++(2M), 10 steps, chunks of 256
// rows, through tweedie::sample, with TBB threads (SampleOptions.execution.threads) x libtorch
// intra-op threads per call (TorchScriptOptions::intra_op_threads), for the 128-wide MLP of
// tests/torch/data in float64 and float32 (eps(x, t), d = 2, three dense layers).
//
//   sample/DTYPE/tbb:T/torch:K   one call of tweedie::sample per iteration
// Counters: items_per_second = sample-steps per second (wall clock); CPU is the process's (all
// threads); others_cores = CPU used by other processes meanwhile (bench_util.hpp's LoadMonitor).
//
// Run:  build/dev/bench/torch/bench_torchscript --benchmark_repetitions=3
//         --benchmark_report_aggregates_only=true
//       (TWEEDIE_BENCH_WAIT_IDLE=60 to start each benchmark on a quiet machine)
#include "../bench_util.hpp"

#include <tweedie/grid.hpp>
#include <tweedie/sample.hpp>
#include <tweedie/sampler.hpp>
#include <tweedie/torchscript_model.hpp>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <string>

namespace {

constexpr std::size_t kSamples = 4096;
constexpr int kSteps = 10;

void run(benchmark::State& state, const std::string& file, int tbb_threads, int torch_threads) {
  tweedie::TorchScriptOptions options;
  options.intra_op_threads = torch_threads;
  const tweedie::TorchScriptModel model(std::string(TWEEDIE_TORCH_BENCH_DATA) + "/" + file, options);
  const tweedie::VpSde vp;
  const auto grid = tweedie::make_grid(vp, {.spacing = tweedie::GridSpacing::log_snr, .steps = kSteps});
  const auto sampler = tweedie::make_sampler("dpm-solver++");
  tweedie::SampleOptions o;
  o.num_samples = kSamples;
  o.execution = {.threads = tbb_threads, .chunk_rows = 256};
  tweedie::bench::wait_until_idle();
  const tweedie::bench::LoadMonitor load;
  for (auto _ : state) {
    auto result = tweedie::sample(vp, model, *sampler, grid, o);
    benchmark::DoNotOptimize(result.samples.data());
  }
  state.counters["others_cores"] = load.others_cores();
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kSamples) * kSteps);
}

const bool registered = [] {
  for (const char* dtype : {"f64", "f32"}) {
    for (int tbb : {1, 2}) {
      for (int torch_threads : {1, 2}) {
        benchmark::RegisterBenchmark(fmt::format("sample/{}/tbb:{}/torch:{}", dtype, tbb, torch_threads).c_str(),
                                     [=](benchmark::State& s) {
                                       run(s, fmt::format("bench_mlp_{}.pt", dtype), tbb, torch_threads);
                                     })
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime()
            ->MeasureProcessCPUTime();
      }
    }
  }
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
