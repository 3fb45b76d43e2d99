// Splitting one job into parts (calls, processes, MPI ranks) that together give its bits: the
// blocks of samples, the checks a part cannot make of the whole input, and the statistics of the
// parts combined as one call's.
#pragma once

#include <tweedie/encode.hpp>
#include <tweedie/model.hpp>
#include <tweedie/sample.hpp>
#include <tweedie/sde.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace tweedie {

/// Samples [first, first + count) of a job: a part's rows, given to a driver with
/// `first_sample = first`.
struct SampleBlock {
  std::uint64_t first = 0;
  std::size_t count = 0;
};

/// Part `part` of `parts` of n samples: contiguous blocks in part order, the first n % parts of
/// them one sample longer (with parts > n the last ones are empty). Throws InvalidArgument unless
/// 0 <= part < parts.
SampleBlock split_samples(std::size_t n, int part, int parts);

/// Everything sample() checks before it computes (options, grid, dimension, the initial state,
/// the labels), on the whole job. A part's own checks name the rows of its block; run on the
/// whole input first, these give one call's messages (the first non-finite row of the whole
/// initial state). Throws InvalidArgument.
void validate_sample_job(const Sde& sde, const ScoreModel& model, std::span<const double> grid,
                         const SampleOptions& options);

/// What encode, decode and log_likelihood check of their input `x` (named `what`: "data" or
/// "latents") and options, on the whole job: the first non-finite entry is named by its row of
/// the whole input. Throws InvalidArgument.
void validate_flow_job(const Sde& sde, const ScoreModel& model, const ConstMatrixRef& x,
                       const FlowOptions& options, std::string_view what);

/// One call's statistics from those of its parts (of the same sampler and grid): the counts are
/// summed, so the averages are the bits one call reports. The parts ran at the same time: the
/// wall time is the longest part's, and the rate is all samples over it. Parts without samples
/// add nothing. Throws InvalidArgument when no part computed a sample.
SampleStats combine_sample_stats(std::span<const SampleStats> parts);

}  // namespace tweedie
