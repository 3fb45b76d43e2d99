// The adaptive samplers and the probability-flow flows against the fixed-step samplers, on the
// K = 10 mixtures of bench_sampling (bench_mixture(10, d)), VP SDE, 1 thread, 256 rows a chunk,
// from a fixed prior draw (samplers) or fixed exact samples of p_{1e-5} (flows):
//
//   sample/SAMPLER/d:D/n:N     one call of tweedie::sample from t = 1 to 1e-3: dopri5 at
//                              rtol = atol = 1e-5 (score_sde's ODE sampler's setting),
//                              adaptive-sde and dpm-solver-adaptive at their defaults, em and
//                              dpm-solver++ on a 10-step grid (the per-row-evaluation references)
//   flow/encode|decode/d:D/n:N one call of tweedie::encode (from p_{1e-5} to T) or decode (from
//                              the prior to 1e-5), dopri5 rtol = atol = 1e-5
//   net/SAMPLER/digits/n:N     the sample cases on the shipped digits network (models/digits,
//                              d = 64, unconditional, float64), whose time is an input column:
//                              what the integrators cost per row evaluation when a row's own
//                              time costs nothing extra
//
// Counters: nfe_per_sample (model rows per sample), ns_per_row_eval (wall time / model rows),
// model_pct (share of the wall time inside the model), others_cores (see bench_util.hpp).
// One iteration per case (a case is seconds long); take the median of --benchmark_repetitions.
//
// Run:  build-bench/bench/bench_adaptive --benchmark_repetitions=3
//         --benchmark_report_aggregates_only=true --benchmark_filter='^sample/dopri5/'
#include "bench_util.hpp"

#include <tweedie/mlp_model.hpp>

#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace {

using namespace tweedie;
using tweedie::bench::Clock;
using tweedie::bench::elapsed_ns;

constexpr int kComponents = 10;
constexpr std::size_t kChunk = 256;
constexpr double kTmin = 1e-5;

/// The model of a case with a timer around it: the exact mixture under VP, or with `network` the
/// shipped digits network under the family it was trained with.
struct Timed {
  VpSde vp;
  std::optional<GaussianMixture> mixture;  // the exact mixture's cases
  std::unique_ptr<MlpModel> network;
  tweedie::bench::ModelTimer timer;
  std::unique_ptr<ScoreModel> model;
  const Sde& sde() const { return network ? network->sde() : vp; }
  explicit Timed(int d) : mixture(tweedie::bench::bench_mixture(kComponents, d)) {
    model = make_model(Prediction::score, d, [this](const ConstVectorRef& t, const ConstMatrixRef& x, MatrixRef out) {
      const auto start = Clock::now();
      mixture->score(vp, t, x, out);
      timer.add(elapsed_ns(start), x.rows());
    });
  }
  explicit Timed(std::unique_ptr<MlpModel> net) : network(std::move(net)) {
    model = make_model(network->prediction(), network->dim(),
                       [this](const ConstVectorRef& t, const ConstMatrixRef& x, MatrixRef out) {
                         const auto start = Clock::now();
                         network->evaluate({t, x}, out);
                         timer.add(elapsed_ns(start), x.rows());
                       });
  }
};

/// Runs `call` once per iteration on a quiet machine (see bench_util.hpp), timing it, and sets the
/// counters for n samples per iteration.
template <class Call>
void timed(benchmark::State& state, Timed& p, std::size_t n, Call&& call) {
  tweedie::bench::wait_until_idle();
  p.timer.reset();
  tweedie::bench::LoadMonitor load;
  std::int64_t wall_ns = 0;
  for (auto _ : state) {
    const auto start = Clock::now();
    call();
    wall_ns += elapsed_ns(start);
  }
  const auto rows = static_cast<double>(p.timer.rows.load());
  state.counters["nfe_per_sample"] = rows / static_cast<double>(n * state.iterations());
  state.counters["ns_per_row_eval"] = static_cast<double>(wall_ns) / rows;
  state.counters["model_pct"] = 100.0 * static_cast<double>(p.timer.ns.load()) / static_cast<double>(wall_ns);
  state.counters["others_cores"] = load.others_cores();
}

/// With TWEEDIE_BENCH_DUMP=DIR, writes the problem for bench/bench_rk45_peer.py: the mixture as
/// a target file (DIR/mixture_dD.json) and the initial states (DIR/init_dD_nN.npy).
void dump_problem(const GaussianMixture& g, const Matrix& init, int d, std::size_t n) {
  const char* dir = std::getenv("TWEEDIE_BENCH_DUMP");
  if (dir == nullptr) return;
  auto rows = [](const Matrix& m) {
    std::vector<std::string> out;
    for (Eigen::Index k = 0; k < m.rows(); ++k) {
      std::vector<std::string> row;
      for (Eigen::Index j = 0; j < m.cols(); ++j) row.push_back(fmt::format("{:.17g}", m(k, j)));
      out.push_back(fmt::format("[{}]", fmt::join(row, ", ")));
    }
    return fmt::format("[{}]", fmt::join(out, ",\n  "));
  };
  std::vector<std::string> w;
  for (Eigen::Index k = 0; k < g.components(); ++k) w.push_back(fmt::format("{:.17g}", g.weights()(k)));
  std::ofstream(fmt::format("{}/mixture_d{}.json", dir, d))
      << fmt::format("{{\"weights\": [{}],\n \"means\": {},\n \"stds\": {}}}\n", fmt::join(w, ", "),
                     rows(g.means()), rows(g.stds()));
  write_npy(fmt::format("{}/init_d{}_n{}.npy", dir, d, n), init);
}

void run_sample(benchmark::State& state, Timed& p, const std::string& name, std::size_t n) {
  const auto d = static_cast<int>(p.model->dim());
  SamplerOptions so;
  if (name == "dopri5") {
    so.set("rtol", "1e-5");
    so.set("atol", "1e-5");
  }
  const auto sampler = make_sampler(name, so);
  const bool adaptive = sampler->traits().adaptive;
  GridOptions go;
  go.steps = 10;
  const std::vector<double> grid = adaptive ? std::vector<double>{1.0, 1e-3} : make_grid(p.sde(), go);
  const Matrix init = sample_prior(p.sde(), d, n, 0, PhiloxNoise(1));
  if (p.mixture) dump_problem(*p.mixture, init, d, n);
  SampleOptions o;
  o.seed = 7;
  o.init = &init;
  o.execution.chunk_rows = kChunk;
  o.execution.threads = 1;
  timed(state, p, n, [&] {
    SampleResult r = sample(p.sde(), *p.model, *sampler, grid, o);
    benchmark::DoNotOptimize(r.samples.data());
  });
}

void run_flow(benchmark::State& state, bool forward, int d, std::size_t n) {
  Timed p(d);
  const Matrix x = forward ? p.mixture->sample(p.sde(), kTmin, n, PhiloxNoise(5))
                           : sample_prior(p.sde(), d, n, 0, PhiloxNoise(5));
  FlowOptions o;
  o.t_min = kTmin;
  o.execution.chunk_rows = kChunk;
  o.execution.threads = 1;
  timed(state, p, n, [&] {
    FlowResult r = forward ? encode(p.sde(), *p.model, x, o) : decode(p.sde(), *p.model, x, o);
    benchmark::DoNotOptimize(r.x.data());
  });
}

void register_all() {
  for (const char* name : {"dopri5", "adaptive-sde", "dpm-solver-adaptive", "em", "dpm-solver++"}) {
    for (int d : {16, 64}) {
      const long n = std::string(name) == "dopri5" ? 10000 : 2000;
      benchmark::RegisterBenchmark(fmt::format("sample/{}/d:{}/n:{}", name, d, n).c_str(),
                                   [name = std::string(name), d, n](benchmark::State& s) {
                                     Timed p(d);
                                     run_sample(s, p, name, static_cast<std::size_t>(n));
                                   })
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond)
          ->Iterations(1);
    }
    benchmark::RegisterBenchmark(fmt::format("net/{}/digits/n:1000", name).c_str(),
                                 [name = std::string(name)](benchmark::State& s) {
                                   Timed p(MlpModel::load(TWEEDIE_MODELS_DIR "/digits.safetensors"));
                                   run_sample(s, p, name, 1000);
                                 })
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond)
        ->Iterations(1);
  }
  for (bool forward : {true, false}) {
    const int d = 16;
    const long n = 10000;
    benchmark::RegisterBenchmark(fmt::format("flow/{}/d:{}/n:{}", forward ? "encode" : "decode", d, n).c_str(),
                                 [forward, d, n](benchmark::State& s) {
                                   run_flow(s, forward, d, static_cast<std::size_t>(n));
                                 })
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond)
        ->Iterations(1);
  }
}

}  // namespace

int main(int argc, char** argv) { return tweedie::bench::run(argc, argv, register_all); }
