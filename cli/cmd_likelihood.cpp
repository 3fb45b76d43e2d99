// tweedie likelihood: exact log-likelihoods of data through the probability-flow ODE.
#include "commands.hpp"
#include "common.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <memory>
#include <string>
#include <utility>

namespace tweedie::cli {
namespace {

struct LikelihoodCommand {
  ProblemOptions problem;
  RunOptions run;
  DataOptions data;
  std::string out_path;
  std::string divergence = "exact";
  std::string probe = "rademacher";
  int probes = 1;
  double rtol = 1e-5, atol = 1e-5, t_min = 1e-5;
  int max_steps = 100000;

  void execute() const {
    const auto sde = problem.make_sde();
    const GaussianMixture target = problem.load_target();
    const auto model = exact_model(target, *sde);
    const DataEncoding encoding = data.encoding();
    const Matrix x = data.model_data(target.dim(), run.seed, run.execution());
    if (max_steps < 1) throw InvalidArgument(fmt::format("--max-steps must be >= 1, got {}", max_steps));
    LikelihoodOptions o;
    o.t_min = t_min;
    o.rtol = rtol;
    o.atol = atol;
    o.divergence = divergence_from_string(divergence);
    o.probes = probes;
    o.probe_kind = probe_kind_from_string(probe);
    o.seed = run.seed;
    o.execution = run.execution();
    o.max_steps = static_cast<std::size_t>(max_steps);

    const auto start = std::chrono::steady_clock::now();
    const LikelihoodResult r = log_likelihood(*sde, *model, x, o);
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!out_path.empty()) write_output(out_path, r.log_likelihood);

    const auto n = static_cast<double>(x.rows());
    Vector bpd(x.rows());
    for (Eigen::Index i = 0; i < x.rows(); ++i) bpd(i) = bits_per_dim(r.log_likelihood(i), x.cols(), encoding);
    auto mean_se = [n](const Vector& v) {
      const double m = v.mean();
      const double var = n > 1 ? (v.array() - m).square().sum() / (n - 1) : 0.0;
      return std::pair{m, std::sqrt(var / n)};
    };
    const auto [ll, ll_se] = mean_se(r.log_likelihood);
    const auto [bp, bp_se] = mean_se(bpd);
    fmt::print("log-likelihood {:.6f} +- {:.6f} nats (of x), {:.6f} +- {:.6f} bits/dim{}; {} divergence, "
               "NFE/sample {:.1f}, {:.3f} s, {} x {}{}\ndata: {}\n",
               ll, ll_se, bp, bp_se, encoding.bits > 0 ? fmt::format(" ({}-bit)", encoding.bits) : "",
               divergence, r.nfe.mean(), wall, x.rows(), x.cols(), out_path.empty() ? "" : " -> " + out_path,
               to_string(encoding));
  }
};

}  // namespace

Runner add_likelihood_command(CLI::App& app) {
  auto cmd = std::make_shared<LikelihoodCommand>();
  CLI::App* sub = app.add_subcommand(
      "likelihood", "exact log-likelihood of data under a Gaussian-mixture target's diffusion (PF-ODE)");
  cmd->problem.add_to(*sub);
  cmd->run.add_to(*sub);
  cmd->data.add_to(*sub);
  sub->add_option("--divergence", cmd->divergence, "exact or hutchinson")->capture_default_str();
  sub->add_option("--probes", cmd->probes, "Hutchinson probes per sample")->capture_default_str();
  sub->add_option("--probe", cmd->probe, "Hutchinson probe distribution: rademacher or gaussian")
      ->capture_default_str();
  sub->add_option("--rtol", cmd->rtol, "relative tolerance of dopri5")->capture_default_str();
  sub->add_option("--atol", cmd->atol, "absolute tolerance of dopri5")->capture_default_str();
  sub->add_option("--t-min", cmd->t_min, "time of the data (log p_{t_min} is computed)")
      ->capture_default_str();
  sub->add_option("--max-steps", cmd->max_steps, "step attempts allowed per sample")->capture_default_str();
  sub->add_option("--out", cmd->out_path,
                  "per-sample log-likelihoods in nats of the model's data x (.npy or .csv)");
  return [cmd] { cmd->execute(); };
}

}  // namespace tweedie::cli
