// Every registered sampler at 10, 20 and 50 grid steps on d = 16 and d = 64 mixtures (K = 10)
// with 10^4 samples: samples per second and NFE per sample (counters), on 2 threads. The
// probability-flow error at equal NFE is measured by examples/compare_samplers (docs/samplers.md).
//
//   build/release/bench/bench_samplers --benchmark_filter='dpm' --benchmark_repetitions=3
#include "bench_util.hpp"

#include <benchmark/benchmark.h>

#include <memory>

namespace {

void sampler_run(benchmark::State& state, const std::string& name) {
  const int d = static_cast<int>(state.range(0)), steps = static_cast<int>(state.range(1));
  const tweedie::VpSde sde;
  const auto target = tweedie::bench::bench_mixture(10, d);
  const auto model = tweedie::exact_model(target, sde);
  const auto sampler = tweedie::make_sampler(name);
  const auto grid = tweedie::make_grid(sde, {.spacing = tweedie::GridSpacing::log_snr, .steps = steps});
  tweedie::SampleOptions options;
  options.num_samples = 10000;
  options.execution.threads = 2;
  double nfe = 0.0;
  for (auto _ : state) {
    const auto r = tweedie::sample(sde, *model, *sampler, grid, options);
    benchmark::DoNotOptimize(r.samples.data());
    nfe = r.stats.nfe_per_sample;
  }
  state.counters["nfe_per_sample"] = nfe;
  state.counters["samples_per_s"] = benchmark::Counter(
      static_cast<double>(options.num_samples) * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate);
}

const bool registered = [] {
  for (const auto& entry : tweedie::sampler_entries()) {
    auto* b = benchmark::RegisterBenchmark(("samplers/" + entry.traits.name).c_str(), sampler_run,
                                           entry.traits.name);
    b->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
    for (int d : {16, 64}) {
      for (int steps : {10, 20, 50}) b->Args({d, steps});
    }
  }
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
