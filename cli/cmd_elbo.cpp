// tweedie elbo: the variational bound of data, in continuous time or for an N-step model.
#include "commands.hpp"
#include "common.hpp"

#include <fmt/format.h>

#include <memory>
#include <string>

namespace tweedie::cli {
namespace {

struct ElboCommand {
  ProblemOptions problem;
  RunOptions run;
  DataOptions data;
  std::string out_path;
  ElboSettings settings;

  void execute() const {
    const auto [p, encoding, x] = load_data_problem(problem, data, run);
    ElboOptions o = settings.options(run.seed, run.noise_stream, run.execution(),
                                  problem.labels.labels(static_cast<std::size_t>(x.rows())));

    ProgressBar bar(run.progress_output(), "elbo");  // rank 0's block
    o.execution = bar.attach(o.execution);
    // Per sample: (bound, standard error, reconstruction, prior KL, diffusion).
    const RowsComputed done = compute_by_rank(x, 5, [&](const ConstMatrixRef& rows, const SampleBlock& block) {
      const ElboOptions part = for_block(o, block);
      const ElboResult r = elbo(*p.sde, *p.model, rows, part);
      Matrix m(rows.rows(), 5);
      m << r.elbo, r.standard_error, r.reconstruction, r.prior_kl, r.diffusion;
      return m;
    });
    const Ranks& ranks = Ranks::get();
    if (!ranks.root()) return;
    const Matrix& all = done.per_sample;
    const Vector bound = all.col(0);
    if (!out_path.empty()) write_output(out_path, bound);

    const double mc_error = Vector(all.col(1)).norm() / static_cast<double>(x.rows());
    const std::string kind =
        settings.steps == 0 ? "continuous-time" : fmt::format("{}-step {}", settings.steps, settings.spacing);
    fmt::print("elbo {} ({} bound; Monte Carlo part of the error {:.6f} nats); reconstruction {:.4f}, "
               "prior KL {:.4f}, diffusion {:.4f}; NFE/sample {} ({} draws), {:.3f} s{}, {} x {}{} ({})\ndata: {}\n",
               nats_and_bits(bound, encoding, x.cols()), kind, mc_error, Vector(all.col(2)).mean(), Vector(all.col(3)).mean(),
               Vector(all.col(4)).mean(), settings.draws, settings.time_sampling, done.seconds, ranks_note(ranks), x.rows(), x.cols(),
               out_path.empty() ? "" : " -> " + out_path, run.noise_settings(), to_string(encoding));
  }
};

}  // namespace

Runner add_elbo_command(CLI::App& app) {
  auto cmd = std::make_shared<ElboCommand>();
  CLI::App* sub = app.add_subcommand(
      "elbo", "variational lower bound (ELBO) of data under a Gaussian-mixture target's diffusion");
  cmd->problem.add_to(*sub);
  cmd->run.add_to(*sub);
  cmd->run.add_noise_stream_to(*sub);
  cmd->data.add_to(*sub);
  sub->add_option("--t-min", cmd->settings.t_min, "time of the first latent, where the decoder reads the data")
      ->capture_default_str();
  sub->add_option("--steps", cmd->settings.steps, "transitions of a discrete-time model (0 = continuous time)")
      ->capture_default_str();
  sub->add_option("--spacing", cmd->settings.spacing,
                  "grid of the discrete model: time-uniform, log-snr, time-quadratic or karras")
      ->capture_default_str();
  sub->add_option("--time-sampling", cmd->settings.time_sampling,
                  "proposal of the Monte Carlo times: log-snr or time-uniform")
      ->capture_default_str();
  sub->add_option("--draws", cmd->settings.draws, "Monte Carlo draws (t, eps) per sample (even)")
      ->capture_default_str();
  sub->add_option("--out", cmd->out_path, "per-sample bounds in nats (.npy or .csv)");
  return [cmd] { cmd->execute(); };
}

}  // namespace tweedie::cli
