// The sampling driver: from the prior (or a given state) at grid[0] to grid[N], in parallel.
#pragma once

#include <tweedie/model.hpp>
#include <tweedie/observer.hpp>
#include <tweedie/parallel.hpp>
#include <tweedie/random.hpp>
#include <tweedie/sampler.hpp>
#include <tweedie/sde.hpp>

#include <span>
#include <string>
#include <vector>

namespace tweedie {

struct SampleOptions {
  std::size_t num_samples = 1;  ///< ignored when `init` is given (its row count is used)
  std::uint64_t seed = 0;       ///< < 2^32; with the global sample index it keys all noise
  int noise_stream = rng_stream_version;  ///< layout version of the noise (random.hpp)
  /// Global index of the first row: rows are samples first_sample, first_sample + 1, ... so a
  /// large job split into several calls (or processes) gives the samples of one big call.
  std::uint64_t first_sample = 0;
  Execution execution;          ///< threads and chunk size
  bool denoise = false;         ///< finish with Tweedie's x0 = E[x_0 | x_t_end] (one more NFE)
  const Matrix* init = nullptr;  ///< optional initial state (rows = samples, already scaled)
  const NoiseSource* noise = nullptr;  ///< optional noise source; default PhiloxNoise(seed, noise_stream)
  /// Class labels of a conditional model, one per sample (row i of the result is sample
  /// first_sample + i with label labels[i]); empty: unconditional (the model's null class).
  std::vector<int> labels;
  /// Called after every step of every chunk with its rows (observer.hpp: when, with what, and
  /// from which threads); it sees the sampler's states and changes no result. Empty: none.
  StepObserver observer;
  void validate() const;
};

struct SampleStats {
  std::string sampler;
  std::size_t steps = 0;
  // The counts the averages below are made of: parts of a job add them (combine_sample_stats).
  std::size_t samples = 0;            ///< samples computed
  std::uint64_t evaluations = 0;      ///< model evaluations, each over one row
  std::uint64_t accepted_steps = 0;   ///< over all samples; fixed grids: the grid's steps per sample
  std::uint64_t rejected_steps = 0;   ///< over all samples; 0 on fixed grids
  double nfe_per_sample = 0.0;  ///< counted model evaluations (each over one row) / samples
  double accepted_steps_per_sample = 0.0;  ///< adaptive samplers; fixed grids: the grid's steps
  double rejected_steps_per_sample = 0.0;  ///< adaptive samplers; 0 otherwise
  double wall_seconds = 0.0;
  double samples_per_second = 0.0;
};

struct SampleResult {
  Matrix samples;  ///< num_samples x dim
  SampleStats stats;
};

/// Integrates the reverse process of `sde` with `sampler` over `grid` (strictly decreasing,
/// validated here). Sample i depends only on (seed, i, grid, model): the result is bitwise
/// identical for every thread count and, for models whose rows do not interact, every chunk
/// size. Throws InvalidArgument on bad input, NonFiniteError on NaN/Inf (nothing is returned),
/// and rethrows a model's exception with its type.
SampleResult sample(const Sde& sde, const ScoreModel& model, const Sampler& sampler,
                    std::span<const double> grid, const SampleOptions& options);

/// Standard normals scaled by the prior's standard deviation, for global rows [first, first+n).
Matrix sample_prior(const Sde& sde, Eigen::Index dim, std::size_t n, std::uint64_t first_row,
                    const NoiseSource& noise);

}  // namespace tweedie
