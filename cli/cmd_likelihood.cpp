// tweedie likelihood: exact log-likelihoods of data through the probability-flow ODE.
#include "commands.hpp"
#include "common.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <utility>

namespace tweedie::cli {
namespace {

struct LikelihoodCommand {
  ProblemOptions problem;
  RunOptions run;
  FlowFlags flow;
  std::string data_path, out_path;
  std::string divergence = "exact";
  std::string probe = "rademacher";
  int probes = 1;
  double data_scale = 1.0;
  std::optional<int> bits;

  void execute() const {
    const auto sde = problem.make_sde();
    const GaussianMixture target = problem.load_target();
    const auto model = exact_model(target, *sde);
    const Matrix data = read_rows(data_path, "--data", target.dim());
    if (bits && *bits != 8) throw InvalidArgument(fmt::format("--bits must be 8, got {}", *bits));
    LikelihoodOptions o;
    static_cast<FlowOptions&>(o) = flow.options(run);
    o.divergence = divergence_from_string(divergence);
    o.probes = probes;
    o.probe_kind = probe_kind_from_string(probe);
    o.seed = run.seed;
    BpdOptions b;
    b.data_scale = data_scale;
    b.eight_bit = bits.has_value();
    bits_per_dim(0.0, data.cols(), b);  // validates before the (long) solve

    const auto start = std::chrono::steady_clock::now();
    const LikelihoodResult r = log_likelihood(*sde, *model, data, o);
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!out_path.empty()) write_output(out_path, r.log_likelihood);

    const auto n = static_cast<double>(data.rows());
    Vector bpd(data.rows());
    for (Eigen::Index i = 0; i < data.rows(); ++i) bpd(i) = bits_per_dim(r.log_likelihood(i), data.cols(), b);
    auto mean_se = [n](const Vector& v) {
      const double m = v.mean();
      const double var = n > 1 ? (v.array() - m).square().sum() / (n - 1) : 0.0;
      return std::pair{m, std::sqrt(var / n)};
    };
    const auto [ll, ll_se] = mean_se(r.log_likelihood);
    const auto [bp, bp_se] = mean_se(bpd);
    fmt::print("log-likelihood {:.6f} +- {:.6f} nats, {:.6f} +- {:.6f} bits/dim{}; {} divergence, "
               "NFE/sample {:.1f}, {:.3f} s, {} x {}{}\n",
               ll, ll_se, bp, bp_se, b.eight_bit ? " (8-bit)" : "", divergence, r.nfe.mean(), wall,
               data.rows(), data.cols(), out_path.empty() ? "" : " -> " + out_path);
  }
};

}  // namespace

Runner add_likelihood_command(CLI::App& app) {
  auto cmd = std::make_shared<LikelihoodCommand>();
  CLI::App* sub = app.add_subcommand(
      "likelihood", "exact log-likelihood of data under a Gaussian-mixture target's diffusion (PF-ODE)");
  cmd->problem.add_to(*sub);
  cmd->run.add_to(*sub);
  sub->add_option("--data", cmd->data_path, "data points (n, d) .npy")->required();
  sub->add_option("--divergence", cmd->divergence, "exact or hutchinson")->capture_default_str();
  sub->add_option("--probes", cmd->probes, "Hutchinson probes per sample")->capture_default_str();
  sub->add_option("--probe", cmd->probe, "Hutchinson probe distribution: rademacher or gaussian")
      ->capture_default_str();
  cmd->flow.add_to(*sub);
  sub->add_option("--data-scale", cmd->data_scale,
                  "model data per unit of the original data (x = scale * y + shift), for bits/dim")
      ->capture_default_str();
  sub->add_option("--bits", cmd->bits,
                  "declare the original data 8-bit (only 8), dequantised as (k + u) / 256: adds 8 to "
                  "bits/dim");
  sub->add_option("--out", cmd->out_path, "per-sample log-likelihoods in nats (.npy or .csv)");
  return [cmd] { cmd->execute(); };
}

}  // namespace tweedie::cli
