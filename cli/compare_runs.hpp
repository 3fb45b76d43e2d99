// tweedie compare: every sampler on every grid at every budget, from the same initial noise,
// measured against the exact target (docs/compare.md).
#pragma once

#include "common.hpp"

#include <tweedie/tweedie.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tweedie::cli {

/// A sampler as --samplers names it: "NAME" or "NAME:KEY=VALUE:KEY=VALUE" (its options).
struct SamplerChoice {
  std::string label;  ///< the text as given
  std::string name;
  SamplerOptions options;
};
/// Parses one choice and builds its sampler once, so that a bad name or option is refused
/// (InvalidArgument naming it) before anything runs.
SamplerChoice parse_sampler_choice(const std::string& text);

struct CompareSettings {
  std::string target;  ///< as given (a file or builtin:NAME); empty with a model
  std::string model;   ///< --model FILE: a learned network instead of a target
  std::string data;    ///< --data FILE.npy: the distribution a --model is measured against
  SdeSpec sde;         ///< the family flags (a model carries its own: ComparisonResults::family)
  std::vector<SamplerChoice> samplers;
  std::vector<std::optional<std::string>> grids;  ///< nullopt: each sampler's default grid
  std::vector<int> budgets;                        ///< NFE per sample, fixed-step samplers
  std::vector<double> tolerances;                  ///< rtol = atol, adaptive samplers
  std::size_t count = 10000;
  std::uint64_t seed = 0;
  int noise_stream = rng_stream_version;
  Execution execution;
  int projections = 128;              ///< sliced W2 directions (drawn from the seed)
  double reference_tolerance = 1e-10;  ///< dopri5's rtol = atol for the reference solution
  /// Throws InvalidArgument naming the flag at fault (also: --target and --model both or
  /// neither, --data without --model or a --model without it).
  void validate() const;
};

/// Distribution metrics of one set of samples against p_t at the time the samplers stop
/// (compare_truth.hpp: exact samples of a target, or the rows of --data).
struct DistributionMetrics {
  double sw2 = 0.0;               ///< sliced W2 to the partner set
  double mean_error = 0.0;        ///< ||sample mean - exact mean|| (--data: the partner's mean)
  double covariance_error = 0.0;  ///< ||sample covariance - exact covariance||_F (--data: the partner's)
  std::optional<MeanSe> nll;      ///< mean of -log p_t(x) over the samples: only with a target's density
};

/// What every run ending at time `t_end` is measured against.
struct Truth {
  double t_end = 0.0;
  Matrix exact;                  ///< n exact samples of p_t_end, or --data rows diffused to t_end (the SW2 partner)
  DistributionMetrics floor;     ///< a second, independent set against the first: the noise floor
  Matrix reference;              ///< dopri5 at the reference tolerance from the runs' initial points
  double reference_nfe = 0.0;    ///< its NFE per sample
  RowErrors reference_check;     ///< dopri5 at 10x the tolerance against it (an upper bound on its error)
};

/// One sampler x grid x budget.
struct RunRow {
  std::string sampler;  ///< the choice's label
  std::string grid;     ///< spacing name ("karras (default)" when the sampler's), or "adaptive"
  std::string budget;   ///< "10" (NFE) or "tol 1e-3"
  int steps = 0;        ///< grid steps (0: adaptive)
  bool deterministic = true;
  std::size_t truth = 0;           ///< index into ComparisonResults::truths (runs that gave samples)
  /// The optimised grid's search (its cost per pilot row, start and pilot errors): rank 0's runs
  /// on the optimized grid.
  std::optional<OptimizedGrid> grid_search;
  std::optional<RowErrors> ode;    ///< deterministic samplers
  DistributionMetrics metrics;
  double nfe_per_sample = 0.0, wall_seconds = 0.0, samples_per_second = 0.0;
  std::string failure;  ///< non-empty: why the run gave no samples (the metrics are then unset)
  Matrix preview;       ///< the first rows of the samples (2-D targets: the scatter plots)
};

struct ComparisonResults {
  CompareSettings settings;
  std::string description;  ///< the target or the model, one line
  std::string family;       ///< the family the runs used (a model's own), as the Sde names it
  Eigen::Index dim = 0;
  std::size_t data_rows = 0;  ///< rows of --data (0 with a target)
  std::vector<Truth> truths;  ///< one per distinct end time of the runs
  std::vector<RunRow> rows;
};

/// Rows kept per run for the scatter plots (a panel of 1000 points is about 100 kB of SVG).
constexpr Eigen::Index preview_rows = 1000;

/// Runs the whole comparison on `problem` (settings validated first): a --target's target and
/// family, or a --model's network, whose distribution metrics compare with settings.data (read
/// and checked by read_compare_data before anything runs). A run that fails at run time (a
/// non-finite state, a step limit, a budget below one step) becomes a row with its failure.
/// Under MPI every rank calls it: each sample() call (a run, a reference solution) is split over
/// the ranks (sample_by_rank.hpp) and rank 0 gathers the rows and alone computes the metrics, so
/// that its results are one process's bits (but the wall times: the slowest rank's); the other
/// ranks' rows have no metrics. `progress`: where the comparison's one bar goes, over the rows of
/// every call (this rank's block of each), labelled with the call in progress ("run K/N SAMPLER
/// GRID BUDGET", "reference dopri5 tol T"); it is cleared when this returns or throws.
ComparisonResults run_comparison(const Problem& problem, const CompareSettings& settings, ProgressOutput progress = {});

}  // namespace tweedie::cli
