// tweedie likelihood: exact log-likelihoods of data through the probability-flow ODE.
#include "commands.hpp"
#include "common.hpp"

#include <fmt/format.h>

#include <memory>
#include <string>

namespace tweedie::cli {
namespace {

struct LikelihoodCommand {
  ProblemOptions problem;
  RunOptions run;
  DataOptions data;
  FlowFlags flow;
  std::string out_path;
  std::string divergence = "exact";
  std::string probe = "rademacher";
  int probes = 1;

  void execute() const {
    const auto [p, encoding, x] = load_data_problem(problem, data, run);
    LikelihoodOptions o;
    static_cast<FlowOptions&>(o) = flow.options(run);
    o.divergence = divergence_from_string(divergence);
    o.probes = probes;
    o.probe_kind = probe_kind_from_string(probe);
    o.seed = run.seed;
    o.noise_stream = run.noise_stream;
    o.labels = problem.labels.labels(static_cast<std::size_t>(x.rows()));

    ProgressBar bar(run.progress_output(), "likelihood");  // rank 0's block
    o.execution = bar.attach(o.execution);
    // Per sample: (log-likelihood, NFE).
    const RowsComputed done = compute_by_rank(x, 2, [&](const ConstMatrixRef& rows, const SampleBlock& block) {
      const LikelihoodOptions part = for_block(o, block);
      const LikelihoodResult r = log_likelihood(*p.sde, *p.model, rows, part);
      Matrix m(rows.rows(), 2);
      m << r.log_likelihood, r.nfe;
      return m;
    });
    const Ranks& ranks = Ranks::get();
    if (!ranks.root()) return;
    const Vector log_likelihood = done.per_sample.col(0);
    if (!out_path.empty()) write_output(out_path, log_likelihood);
    // The seed and noise stream fix Hutchinson's probes; the exact divergence draws no noise.
    const std::string noise = o.divergence == Divergence::hutchinson ? " (" + run.noise_settings() + ")" : "";
    fmt::print("log-likelihood {}; {} divergence, NFE/sample {:.1f}, {:.3f} s{}, {} x {}{}{}\ndata: {}\n",
               nats_and_bits(log_likelihood, encoding, x.cols()), divergence,
               Vector(done.per_sample.col(1)).mean(), done.seconds,
               ranks_note(ranks), x.rows(), x.cols(), out_path.empty() ? "" : " -> " + out_path, noise,
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
  cmd->run.add_noise_stream_to(*sub);
  cmd->data.add_to(*sub);
  sub->add_option("--divergence", cmd->divergence, "exact or hutchinson")->capture_default_str();
  sub->add_option("--probes", cmd->probes, "Hutchinson probes per sample")->capture_default_str();
  sub->add_option("--probe", cmd->probe, "Hutchinson probe distribution: rademacher or gaussian")
      ->capture_default_str();
  cmd->flow.add_to(*sub);
  sub->add_option("--out", cmd->out_path,
                  "per-sample log-likelihoods in nats of the model's data x (.npy or .csv)");
  return [cmd] { cmd->execute(); };
}

}  // namespace tweedie::cli
