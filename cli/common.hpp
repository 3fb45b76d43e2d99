// Conventions every computing subcommand shares: target, family, execution and seed options.
#pragma once

#include <tweedie/tweedie.hpp>

#include <CLI/CLI.hpp>

#include <memory>
#include <string>

namespace tweedie::cli {

/// --target and the family options (--sde --beta-min --beta-max --sigma-min --sigma-max --cosine-s).
struct ProblemOptions {
  std::string target;
  SdeSpec sde;
  void add_to(CLI::App& app);
  std::unique_ptr<Sde> make_sde() const;
  /// A JSON target file, or "builtin:ring" (8 Gaussians of std 0.15 on a circle of radius 2).
  GaussianMixture load_target() const;
};

/// --threads --seed --chunk.
struct RunOptions {
  int threads = 0;
  std::uint64_t seed = 0;
  std::size_t chunk = 256;
  void add_to(CLI::App& app);
  Execution execution() const { return {threads, chunk}; }
};

/// The mean of per-sample values and its standard error (sample standard deviation / sqrt(n)).
struct MeanSe {
  double mean, se;
};
MeanSe mean_se(const Vector& v);

/// --t-min --rtol --atol --max-steps: how the probability-flow ODE is integrated (likelihood,
/// encode, decode), with the library's defaults.
struct FlowFlags {
  double t_min = FlowOptions{}.t_min;
  double rtol = FlowOptions{}.rtol, atol = FlowOptions{}.atol;
  int max_steps = static_cast<int>(FlowOptions{}.max_steps);
  void add_to(CLI::App& app);
  /// The flow options with the execution of `run`; throws InvalidArgument naming a bad flag.
  FlowOptions options(const RunOptions& run) const;
};

/// Reads the (n, d) .npy given to `flag`: at least one row, and `dim` columns (the target's).
Matrix read_rows(const std::string& path, const std::string& flag, Eigen::Index dim);

/// Writes `m` to `path` (.npy or .csv), atomically.
void write_output(const std::string& path, const ConstMatrixRef& m);

}  // namespace tweedie::cli
