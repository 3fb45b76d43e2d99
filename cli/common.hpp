// Conventions every computing subcommand shares: target, family, data, execution and seed options.
#pragma once

#include <tweedie/tweedie.hpp>

#include "decorator_options.hpp"
#include "labels.hpp"
#include "model_options.hpp"
#include "progress.hpp"
#include "ranks.hpp"

#include <CLI/CLI.hpp>

#include <chrono>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tweedie::cli {

/// What a command evaluates: the family, the model (a target's exact score or a trained network)
/// and, with --target, the target itself.
struct Problem {
  std::unique_ptr<Sde> sde;
  std::optional<GaussianMixture> target;  ///< with --target
  std::shared_ptr<const ScoreModel> model;  ///< may refer to *sde; decorated by the decorator flags
  std::shared_ptr<const Imputation> imputation;  ///< with --observe: restores the observation
  std::string description;                ///< one line: what the (undecorated) model is
  /// The dimension of a sample (0 when the model accepts any).
  Eigen::Index dim() const { return model->dim(); }
};

/// --target or --model, the family options (--sde --beta-min --beta-max --sigma-min --sigma-max
/// --cosine-s), the class labels (--class, --labels) and the decorators (decorator_options.hpp).
struct ProblemOptions {
  std::string target;
  SdeSpec sde;
  LabelOptions labels;
  ModelOptions model;
  DecoratorOptions decorators;
  void add_to(CLI::App& app);
  /// Only --target and the family flags (a command that needs a target's closed forms).
  void add_target_to(CLI::App& app);
  /// Loads the target or the model and the family: a model that carries its family fixes it
  /// (family flags that contradict it are refused), otherwise the flags (default vp) do; then
  /// decorates the model (`seed`: the run's, which keys the imputation noise).
  Problem load(std::uint64_t seed) const;
  /// A JSON target file, or builtin:NAME (GaussianMixture::builtin).
  GaussianMixture load_target() const;
  /// The --unconditional model (null without the flag), checked against `family` (the model's).
  std::shared_ptr<const ScoreModel> load_unconditional(const Sde& family) const;

 private:
  /// The family flags the user gave explicitly, or empty when none.
  std::optional<SdeSpec> given_sde() const;
  std::vector<const CLI::Option*> family_flags_;
};

/// The grid `sampler` runs on over `steps` steps: its default (tweedie::default_grid), or the
/// spacing named by `grid`, where karras ends with the step to sigma = 0 on a family whose sigma
/// reaches 0 (EDM), as k-diffusion's get_sigmas_karras.
GridOptions grid_options(const std::string& sampler, const Sde& sde, int steps, const std::optional<std::string>& grid);

/// --threads --seed --chunk --quiet, and --noise-stream for the commands that draw normals.
struct RunOptions {
  int threads = 0;
  std::uint64_t seed = 0;
  std::size_t chunk = 256;
  bool quiet = false;
  int noise_stream = rng_stream_version;  ///< layout version of the normals (random.hpp)
  void add_to(CLI::App& app);
  /// --noise-stream 1|2 (sample, likelihood, elbo; encode and decode draw only uniforms, which
  /// both layouts share).
  void add_noise_stream_to(CLI::App& app);
  /// "seed S, noise stream V": the settings that fix a run's noise, for its summary line.
  std::string noise_settings() const;
  Execution execution() const { return {threads, chunk}; }
  /// Where the command's progress bar goes: standard error (its width) when it is a terminal,
  /// on rank 0, without --quiet; otherwise nowhere (a ProgressBar drawing nothing).
  ProgressOutput progress_output() const;
};

/// The mean of per-sample values and its standard error (sample standard deviation / sqrt(n)).
struct MeanSe {
  double mean, se;
};
MeanSe mean_se(const Vector& v);
/// "m +- se nats (of x), b +- se bits/dim (8-bit)": the mean of per-sample log-likelihoods (or
/// bounds) of the model's data and its bits per dimension of the user's data.
std::string nats_and_bits(const Vector& log_likelihood, const DataEncoding& encoding, Eigen::Index dim);

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

/// Reads the (n, d) .npy given to `flag`: at least one row, and `dim` columns (the model's; any
/// when dim is 0).
Matrix read_rows(const std::string& path, const std::string& flag, Eigen::Index dim);

/// --data --data-scale --data-shift --bits --dequantize: the user's data y and how they become the
/// model's data x (tweedie/data_encoding.hpp), the same flags for every command that reads data.
/// --dequantize defaults to uniform with --bits (integer data) and is refused without it.
struct DataOptions {
  std::string path;
  double scale = 1.0, shift = 0.0;
  std::optional<int> bits;
  std::optional<std::string> dequantize;
  void add_to(CLI::App& app);
  /// The declared encoding; throws InvalidArgument naming the flag at fault.
  DataEncoding encoding() const;
  /// Reads --data (`dim` columns, at least one row) and returns the model's data; the
  /// dequantisation noise comes from `seed` (stream NoiseStream::dequantize).
  Matrix model_data(Eigen::Index dim, std::uint64_t seed, const Execution& execution) const;
};

/// What a command that evaluates data needs (likelihood, elbo): the problem and the user's data
/// as the model's data.
struct DataProblem {
  Problem problem;
  DataEncoding encoding;
  Matrix x;
};
DataProblem load_data_problem(const ProblemOptions& problem, const DataOptions& data, const RunOptions& run);

/// Writes `m` to `path` (.npy or .csv, or '-' for .npy on standard output, after which standard
/// output is standard error so that the command's summary goes there), atomically; throws
/// Cancelled instead, writing nothing, when the program was interrupted (interrupt.hpp).
void write_output(const std::string& path, const ConstMatrixRef& m);

/// The labels of samples [block.first, block.first + block.count) of `labels` (one per sample of
/// the job, or none: unconditional).
std::vector<int> labels_of(const std::vector<int>& labels, const SampleBlock& block);

/// A driver's options for the samples of `block` of the job `whole` sets up (FlowOptions,
/// LikelihoodOptions, ElboOptions): its first sample and its samples' labels.
template <class Options>
Options for_block(const Options& whole, const SampleBlock& block) {
  Options part = whole;
  part.first_sample = block.first;
  part.labels = labels_of(whole.labels, block);
  return part;
}

/// Collective: at rank 0, every rank's `values` as one row of a (ranks x values) matrix, in rank
/// order; elsewhere an empty matrix. What the ranks' statistics are combined from.
Matrix gather_values(Ranks& ranks, std::initializer_list<double> values);

/// Collective: one sample() call's statistics from those of every rank's part (`own`, over its
/// `samples` samples): at rank 0 combine_sample_stats of them (counts summed, the slowest rank's
/// wall time, all samples per second over it), `own` elsewhere. Rank 0 must have samples.
SampleStats gather_sample_stats(Ranks& ranks, const SampleStats& own, std::size_t samples);

/// What the ranks computed of a job over the rows of an input: at rank 0, the per-sample values
/// of every row in row order (empty elsewhere), and the slowest rank's seconds.
struct RowsComputed {
  Matrix per_sample;
  double seconds = 0.0;
};

/// Runs this rank's part of a job over the rows of `x`: `compute(rows, block)` on its block (not
/// called on an empty one) returns `columns` values per row; then the ranks settle (an error on
/// any rank throws RunFailed on every rank) and rank 0 gathers the rows.
template <class Compute>
RowsComputed compute_by_rank(const Matrix& x, Eigen::Index columns, Compute&& compute) {
  Ranks& ranks = Ranks::get();
  const SampleBlock block = ranks.block(static_cast<std::size_t>(x.rows()));
  const auto start = std::chrono::steady_clock::now();
  const Matrix mine = ranks.run_part([&] {
    if (block.count == 0) return Matrix(0, columns);
    return Matrix(compute(x.middleRows(static_cast<Eigen::Index>(block.first), static_cast<Eigen::Index>(block.count)),
                          block));
  });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  RowsComputed done{ranks.gather_rows(mine), 0.0};
  const Matrix walls = gather_values(ranks, {seconds});
  if (ranks.root()) done.seconds = walls.maxCoeff();
  return done;
}

/// ", K ranks" under MPI with K > 1, else empty: for the summary lines.
std::string ranks_note(const Ranks& ranks);

}  // namespace tweedie::cli
