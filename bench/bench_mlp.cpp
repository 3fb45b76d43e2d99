// MlpModel evaluation on the digits-sized network of bench/bench_mlp_torch.py (D = 64, width 256,
// 4 residual blocks with LayerNorm, 10 classes), against PyTorch on the same weights and inputs.
//
//   mlp/PRECISION/batch:B/threads:T   evaluate on the first B rows; with T threads the rows are
//                                     split by tweedie::for_each_chunk into chunks of
//                                     min(256, B / T) rows (one model call per chunk)
//
// items_per_second = rows evaluated per second (wall clock); others_cores as in bench_util.hpp.
//
// Run:  /usr/bin/python3 bench/bench_mlp_torch.py --make DIR
//       TWEEDIE_BENCH_MLP_DIR=DIR build/release/bench/bench_mlp --benchmark_repetitions=3
//         --benchmark_report_aggregates_only=true
//       /usr/bin/python3 bench/bench_mlp_torch.py DIR      (PyTorch's figures)
#include "bench_util.hpp"

#include <tweedie/mlp_model.hpp>
#include <tweedie/npy.hpp>
#include <tweedie/parallel.hpp>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

namespace {

using namespace tweedie;

struct Data {
  Matrix x;
  Vector t;
  std::vector<int> labels;
};

std::string folder() {
  const char* dir = std::getenv("TWEEDIE_BENCH_MLP_DIR");
  return dir != nullptr ? dir : "";
}

const Data& data() {
  static const Data d = [] {
    Data out;
    out.x = read_npy_matrix(folder() + "/x.npy");
    const auto t = read_npy_vector(folder() + "/t.npy");
    out.t = Eigen::Map<const Vector>(t.data(), static_cast<Eigen::Index>(t.size()));
    for (double v : read_npy_vector(folder() + "/labels.npy")) out.labels.push_back(static_cast<int>(v));
    return out;
  }();
  return d;
}

void evaluate_batch(benchmark::State& state, Precision precision, Eigen::Index batch, int threads) {
  tweedie::bench::wait_until_idle();
  const auto model = MlpModel::load(folder() + "/bench_mlp.safetensors", {.precision = precision});
  const Data& d = data();
  const Matrix x = d.x.topRows(batch);
  const Vector t = d.t.head(batch);
  const std::vector<int> labels(d.labels.begin(), d.labels.begin() + batch);
  Matrix out(batch, x.cols());
  Execution exec;
  exec.threads = threads;
  exec.chunk_rows = static_cast<std::size_t>(std::min<Eigen::Index>(256, batch / threads));
  auto run = [&] {
    for_each_chunk(static_cast<std::size_t>(batch), exec, [&](std::size_t b, std::size_t e) {
      const auto r0 = static_cast<Eigen::Index>(b), n = static_cast<Eigen::Index>(e - b);
      model->evaluate({t.segment(r0, n), x.middleRows(r0, n), {}, std::span<const int>(labels).subspan(b, e - b)},
                      out.middleRows(r0, n));
    });
  };
  run();  // warm-up: every thread's scratch
  tweedie::bench::LoadMonitor load;
  for (auto _ : state) {
    run();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * batch);
  state.counters["others_cores"] = load.others_cores();
}

void register_all() {
  if (folder().empty()) {
    fmt::print(stderr, "bench_mlp: set TWEEDIE_BENCH_MLP_DIR (made by bench/bench_mlp_torch.py --make DIR)\n");
    std::exit(2);
  }
  for (const auto precision : {Precision::float64, Precision::float32}) {
    for (const Eigen::Index batch : {256, 10000}) {
      for (const int threads : {1, 2}) {
        benchmark::RegisterBenchmark(
            fmt::format("mlp/{}/batch:{}/threads:{}", to_string(precision), batch, threads).c_str(),
            [=](benchmark::State& s) { evaluate_batch(s, precision, batch, threads); })
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) { return tweedie::bench::run(argc, argv, register_all); }
