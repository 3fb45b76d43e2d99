// tweedie::log_likelihood of exact samples of a d = 16, K = 6 mixture (bench_mixture(6, 16)) under
// the VP family, rtol = atol = 1e-5, t_min = 1e-5: the exact divergence against Hutchinson's
// estimator with 1 and 4 Rademacher probes, on 10^4 exact samples of p_{t_min}, with 1 and 2
// threads. One iteration per case: a case is one complete call of log_likelihood, seconds long.
//
// The error is measured against the closed form log p_{t_min}(x) of the mixture, with the
// mixture's own p_T as the prior (LikelihoodOptions::prior_log_density): the only error left is
// the solver's (and Hutchinson's estimate). The family's N(0, I) prior would add the prior
// mismatch log N(x_T; 0, I) - log p_T(x_T), reported separately (computed on the same latents).
//
//   likelihood/DIV/n:N/threads:T     DIV = exact, hutchinson:1 or hutchinson:4
//   elbo/draws:M/n:N/threads:T       the continuous-time bound with M log-SNR draws per sample
//                                    (counters mean_gap = mean of elbo - log p_{t_min} and its
//                                    Monte Carlo error mean_gap_mc_se, sample_se per sample)
//
// Counters:
//   nfe_per_sample        model rows per sample (exact: 1 per right-hand side, score and
//                         divergence in one fused call; hutchinson: 1 + K, the score and K JVPs)
//   steps_per_sample      accepted dopri5 steps per sample; rejected_per_sample likewise
//   samples_per_s         samples / wall time
//   model_pct             share of the busy threads' time inside the model (every entry
//                         point), the rest being the solver and the driver
//   max_abs_err, mean_abs_err   |log p - closed-form log p_{t_min}| in nats, max and mean
//   mean_err, err_sd      signed mean and standard deviation over the samples of log p - closed
//                         form (Hutchinson's estimate is unbiased: mean_err should be within a
//                         few err_sd / sqrt(n) of the exact divergence's)
//   prior_mismatch        mean of log N(x_T; 0, I) - log p_T(x_T) in nats
//   others_cores          CPU used by other processes meanwhile, in cores (0 = quiet machine)
//
// Run:  build/release/bench/bench_likelihood --benchmark_repetitions=3
//         --benchmark_report_aggregates_only=true   (about 3 minutes on the project's machine)
#include "bench_util.hpp"

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>

namespace {

using namespace tweedie;
using tweedie::bench::Clock;
using tweedie::bench::elapsed_ns;

constexpr int kComponents = 6, kDim = 16;
constexpr double kTmin = 1e-5, kTol = 1e-5;

/// The exact mixture model with the time spent in it (every entry point: the score, the fused
/// score and divergence, the JVP) added to a timer.
class TimedModel final : public ScoreModel {
 public:
  TimedModel(const GaussianMixture& g, const Sde& sde, tweedie::bench::ModelTimer& timer)
      : inner_(exact_model(g, sde)), timer_(timer) {}
  Prediction prediction() const override { return inner_->prediction(); }
  Eigen::Index dim() const override { return inner_->dim(); }
  bool has_divergence() const override { return true; }
  void evaluate(const ModelInput& in, MatrixRef out) const override {
    timed(in.rows(), [&] { inner_->evaluate(in, out); });
  }
  void score_divergence(const ModelInput& in, VectorRef out) const override {
    timed(in.rows(), [&] { inner_->score_divergence(in, out); });
  }
  void evaluate_with_divergence(const ModelInput& in, MatrixRef out, VectorRef divergence) const override {
    timed(in.rows(), [&] { inner_->evaluate_with_divergence(in, out, divergence); });
  }
  bool has_jvp() const override { return true; }
  void jvp(const ModelInput& in, const ConstMatrixRef& v, MatrixRef out) const override {
    timed(in.rows(), [&] { inner_->jvp(in, v, out); });
  }

 private:
  template <class Call>
  void timed(Eigen::Index rows, Call call) const {
    const auto start = Clock::now();
    call();
    timer_.add(elapsed_ns(start), rows);
  }

  std::unique_ptr<ScoreModel> inner_;
  tweedie::bench::ModelTimer& timer_;
};

/// The benchmark's points: 10^4-ish exact samples of p_{t_min} and their closed-form log-density.
struct Points {
  explicit Points(std::size_t n) : x(g.sample(sde, kTmin, n, PhiloxNoise(1))), exact(x.rows()) {
    g.log_density(sde, Vector::Constant(x.rows(), kTmin), x, exact);
  }
  const VpSde sde;
  const GaussianMixture g = tweedie::bench::bench_mixture(kComponents, kDim);
  tweedie::bench::ModelTimer timer;
  const TimedModel model{g, sde, timer};
  const Matrix x;
  Vector exact;
};

/// Runs `call` once per iteration once the machine is idle, sets the counters every case has
/// (samples/s, the model's share of the busy threads' time, the others' load) and returns the
/// last result.
template <class Call>
auto run_timed(benchmark::State& state, Points& p, const Execution& execution, Call call) {
  tweedie::bench::wait_until_idle();
  p.timer.reset();
  tweedie::bench::LoadMonitor load;
  std::int64_t wall_ns = 0;
  decltype(call()) r;
  for (auto _ : state) {
    const auto start = Clock::now();
    r = call();
    wall_ns += elapsed_ns(start);
    benchmark::DoNotOptimize(&r);
  }
  const auto n = static_cast<std::size_t>(p.x.rows());
  const double samples = static_cast<double>(state.iterations()) * static_cast<double>(n);
  const std::size_t chunks = (n + execution.chunk_rows - 1) / execution.chunk_rows;
  const double busy = static_cast<double>(std::min<std::size_t>(static_cast<std::size_t>(execution.threads), chunks));
  state.counters["samples_per_s"] = samples / (1e-9 * static_cast<double>(wall_ns));
  state.counters["model_pct"] = 100.0 * static_cast<double>(p.timer.ns.load()) / (busy * static_cast<double>(wall_ns));
  state.counters["others_cores"] = load.others_cores();
  return r;
}

void run_likelihood(benchmark::State& state, Divergence divergence, int probes, std::size_t n, int threads) {
  Points p(n);
  const VpSde& sde = p.sde;
  const GaussianMixture& g = p.g;
  LikelihoodOptions o;
  o.t_min = kTmin;
  o.rtol = o.atol = kTol;
  o.divergence = divergence;
  o.probes = probes;
  o.seed = 3;
  o.execution.threads = threads;
  o.prior_log_density = [&g, &sde](const Eigen::Ref<const Eigen::RowVectorXd>& z) {
    Vector out(1);
    g.log_density(sde, Vector::Constant(1, sde.T()), Matrix(z), out);
    return out(0);
  };
  const LikelihoodResult r = run_timed(state, p, o.execution, [&] { return log_likelihood(sde, p.model, p.x, o); });

  const Vector err = r.log_likelihood - p.exact;
  Vector prior_exact(p.x.rows()), prior_normal(p.x.rows());
  g.log_density(sde, Vector::Constant(p.x.rows(), sde.T()), r.latent, prior_exact);
  for (Eigen::Index i = 0; i < p.x.rows(); ++i) prior_normal(i) = sde.prior_log_density(r.latent.row(i));
  state.counters["nfe_per_sample"] = r.nfe.mean();
  state.counters["steps_per_sample"] = r.accepted_steps.mean();
  state.counters["rejected_per_sample"] = r.rejected_steps.mean();
  state.counters["max_abs_err"] = err.cwiseAbs().maxCoeff();
  state.counters["mean_abs_err"] = err.cwiseAbs().mean();
  state.counters["mean_err"] = err.mean();
  state.counters["err_sd"] = std::sqrt((err.array() - err.mean()).square().sum() / static_cast<double>(n - 1));
  state.counters["prior_mismatch"] = (prior_normal - prior_exact).mean();
}

/// tweedie::elbo (continuous time, log-SNR draws) of the same points: the bound's cost and its
/// gap to the closed form, which the exact score makes zero up to Monte Carlo error here (the
/// truncation at t_min = 1e-5 and VP's prior mismatch are both below 1e-3 nats).
void run_elbo(benchmark::State& state, int draws, std::size_t n, int threads) {
  Points p(n);
  ElboOptions o;
  o.t_min = kTmin;
  o.draws = draws;
  o.seed = 3;
  o.execution.threads = threads;
  const ElboResult r = run_timed(state, p, o.execution, [&] { return elbo(p.sde, p.model, p.x, o); });

  const Vector gap = r.elbo - p.exact;
  state.counters["nfe_per_sample"] = r.nfe;
  state.counters["mean_gap"] = gap.mean();  // elbo - log p_{t_min}, nats
  state.counters["mean_gap_mc_se"] = r.standard_error.norm() / static_cast<double>(n);
  state.counters["sample_se"] = r.standard_error.mean();  // per-sample Monte Carlo error, nats
}

void register_all() {
  struct Case {
    const char* label;
    Divergence divergence;
    int probes;
  };
  const Case cases[] = {{"exact", Divergence::exact, 1},
                        {"hutchinson:1", Divergence::hutchinson, 1},
                        {"hutchinson:4", Divergence::hutchinson, 4}};
  const long n = 10000;
  for (int threads : {1, 2}) {
    for (const Case& c : cases) {
      benchmark::RegisterBenchmark(fmt::format("likelihood/{}/n:{}/threads:{}", c.label, n, threads).c_str(),
                                   [c, n, threads](benchmark::State& s) {
                                     run_likelihood(s, c.divergence, c.probes, static_cast<std::size_t>(n),
                                                    threads);
                                   })
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond)
          ->Iterations(1);
    }
    for (const int draws : {256, 1024}) {
      benchmark::RegisterBenchmark(fmt::format("elbo/draws:{}/n:{}/threads:{}", draws, n, threads).c_str(),
                                   [draws, n, threads](benchmark::State& s) {
                                     run_elbo(s, draws, static_cast<std::size_t>(n), threads);
                                   })
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond)
          ->Iterations(1);
    }
  }
}

}  // namespace

int main(int argc, char** argv) { return tweedie::bench::run(argc, argv, register_all); }
