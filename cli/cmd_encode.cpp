// tweedie encode / decode: data to latents and latents to data through the probability-flow ODE.
#include "commands.hpp"
#include "common.hpp"

#include <fmt/format.h>

#include <chrono>
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
    const auto start = std::chrono::steady_clock::now();
    auto seconds = [&start] {
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
    const std::string shape = fmt::format("{} x {} -> {}", in.rows(), in.cols(), out_path);
    if (!encoding) {
      const FlowResult r = decode(sde, model, in, o);
      const double wall = seconds();
      write_output(out_path, r.x);
      fmt::print("decode: NFE/sample {:.1f}, {:.3f} s, {}\n", r.nfe.mean(), wall, shape);
      return;
    }
    if (no_roundtrip) {
      const FlowResult r = encode(sde, model, in, o);
      const double wall = seconds();
      write_output(out_path, r.x);
      fmt::print("encode: NFE/sample {:.1f}, {:.3f} s, {}\n", r.nfe.mean(), wall, shape);
      return;
    }
    // The latents are written only once the round trip has succeeded: an error writes nothing.
    const RoundTrip r = round_trip(sde, model, in, o);
    const double wall = seconds();
    write_output(out_path, r.encoded.x);
    fmt::print("encode: NFE/sample {:.1f}; round trip: decode NFE/sample {:.1f}, max abs error {:.3e}, "
               "RMS error {:.3e}; {:.3f} s (encode + decode), {}\n",
               r.encoded.nfe.mean(), r.decoded.nfe.mean(), r.max_abs_error, r.rms_error, wall, shape);
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
