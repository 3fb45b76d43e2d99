// One sample() call split over the ranks (ranks.hpp) without ending the run: a command that
// makes several calls, as compare does, makes one exchange of failures per call, and rank 0
// gathers each call's rows and statistics.
#pragma once

#include "common.hpp"

#include <tweedie/tweedie.hpp>

#include <functional>
#include <optional>
#include <span>
#include <stdexcept>
#include <vector>

namespace tweedie::cli {

/// A call's NonFiniteError or StepLimitError as every rank rethrows it: its message.
class SampleRunError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// sample(sde, model, sampler, grid, whole) as one call over the ranks: the whole job is checked
/// on every rank (validate_sample_job), each rank samples its block (first_sample, the block's
/// labels; `whole` has no init), and the ranks exchange failures (Ranks::exchange). Returns at
/// rank 0 every rank's samples in sample order and the statistics of one call (counts summed, the
/// slowest rank's wall time, all samples per second over it), elsewhere nullopt. On failure every
/// rank throws what one call would have met first (the lowest rank's): InvalidArgument (bad
/// input), SampleRunError (a non-finite state, a step limit), or RunFailed with the error line of
/// anything else (the interrupt's too, ranks.hpp).
std::optional<SampleResult> sample_by_rank(const Sde& sde, const ScoreModel& model, const Sampler& sampler,
                                           std::span<const double> grid, const SampleOptions& whole);

/// `compute()` made by rank 0 alone for every rank (the optimised grid's search): its values
/// broadcast to the others after one exchange of failures that every rank reaches, so that a
/// failure on rank 0 is thrown on every rank as sample_by_rank's are (InvalidArgument,
/// SampleRunError, RunFailed). One process alone just calls it.
std::vector<double> computed_at_root(const std::function<std::vector<double>()>& compute);

}  // namespace tweedie::cli
