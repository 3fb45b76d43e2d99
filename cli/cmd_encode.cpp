// tweedie encode / decode: data to latents and latents to data through the probability-flow ODE.
#include "commands.hpp"
#include "common.hpp"

#include <fmt/format.h>

#include <tweedie/split.hpp>

#include <cmath>
#include <memory>
#include <string>

namespace tweedie::cli {
namespace {

struct FlowCommand {
  bool encoding = true;  // encode: data -> latents; decode: latents -> data
  ProblemOptions problem;
  RunOptions run;
  FlowFlags flow;
  std::string in_path, out_path;
  bool no_roundtrip = false;

  void execute() const {
    const Problem p = problem.load(run.seed);
    const Sde& sde = *p.sde;
    const ScoreModel& model = *p.model;
    const Matrix in = read_rows(in_path, encoding ? "--data" : "--latent", p.dim());
    FlowOptions o = flow.options(run);
    o.labels = problem.labels.labels(static_cast<std::size_t>(in.rows()));
    // The whole job's checks on every rank, so that their messages name its rows as one call's.
    validate_flow_job(sde, model, in, o, encoding ? "data" : "latents");
    const bool round = encoding && !no_roundtrip;
    // Per sample: (result, NFE[, decode NFE]); this rank's round-trip errors (max abs, RMS).
    const Eigen::Index columns = in.cols() + (round ? 2 : 1);
    double max_abs = 0.0, rms = 0.0;
    ProgressBar bar(run.progress_output(), round ? "encode + decode" : encoding ? "encode" : "decode", round ? 2 : 1);
    o.execution = bar.attach(o.execution);  // rank 0's block
    const RowsComputed done =
        compute_by_rank(in, columns, [&](const ConstMatrixRef& rows, const SampleBlock& block) {
          const FlowOptions part = for_block(o, block);
          Matrix m(rows.rows(), columns);
          if (round) {
            const RoundTrip r = round_trip(sde, model, rows, part);
            m << r.encoded.x, r.encoded.nfe, r.decoded.nfe;
            max_abs = r.max_abs_error;
            rms = r.rms_error;
          } else {
            const FlowResult r = encoding ? encode(sde, model, rows, part) : decode(sde, model, rows, part);
            m << r.x, r.nfe;
          }
          return m;
        });
    Ranks& ranks = Ranks::get();
    const double entries = static_cast<double>(ranks.block(static_cast<std::size_t>(in.rows())).count) *
                           static_cast<double>(in.cols());
    const Matrix errors = gather_values(ranks, {entries, max_abs, rms * rms * entries});
    if (!ranks.root()) return;
    const Matrix& all = done.per_sample;
    const Matrix x = all.leftCols(in.cols());
    write_output(out_path, x);
    const double wall = done.seconds;
    const std::string shape = fmt::format("{} x {} -> {}", in.rows(), in.cols(), out_path);
    const double nfe = Vector(all.col(in.cols())).mean();
    if (!round) {
      fmt::print("{}: NFE/sample {:.1f}, {:.3f} s{}, {}\n", encoding ? "encode" : "decode", nfe, wall,
                 ranks_note(ranks), shape);
      return;
    }
    // The RMS error of all entries from each rank's sum of squares.
    const double all_rms = std::sqrt(errors.col(2).sum() / errors.col(0).sum());
    fmt::print("encode: NFE/sample {:.1f}; round trip: decode NFE/sample {:.1f}, max abs error {:.3e}, "
               "RMS error {:.3e}; {:.3f} s (encode + decode){}, {}\n",
               nfe, Vector(all.col(in.cols() + 1)).mean(), errors.col(1).maxCoeff(), all_rms, wall,
               ranks_note(ranks), shape);
  }
};

Runner add_flow_command(CLI::App& app, bool encoding) {
  auto cmd = std::make_shared<FlowCommand>();
  cmd->encoding = encoding;
  CLI::App* sub =
      encoding ? app.add_subcommand("encode",
                                    "latents of data at T through the probability-flow ODE of a "
                                    "Gaussian-mixture target's diffusion (and the round-trip error)")
               : app.add_subcommand("decode",
                                    "data at t_min from latents at T through the probability-flow ODE "
                                    "of a Gaussian-mixture target's diffusion");
  cmd->problem.add_to(*sub);
  cmd->run.add_to(*sub);
  cmd->flow.add_to(*sub);
  if (encoding) {
    sub->add_option("--data", cmd->in_path, "data points at t_min, (n, d) .npy")->required();
    sub->add_option("--out", cmd->out_path, "the latents at T (.npy or .csv)")->required();
    sub->add_flag("--no-roundtrip", cmd->no_roundtrip, "skip decoding the latents back to measure the error");
  } else {
    sub->add_option("--latent", cmd->in_path, "latents at T, (n, d) .npy")->required();
    sub->add_option("--out", cmd->out_path, "the data at t_min (.npy or .csv)")->required();
  }
  return [cmd] { cmd->execute(); };
}

}  // namespace

Runner add_encode_command(CLI::App& app) { return add_flow_command(app, true); }
Runner add_decode_command(CLI::App& app) { return add_flow_command(app, false); }

}  // namespace tweedie::cli
