// tweedie sample --trajectory FILE.npy --every K: the states of a run at every K-th step.
#pragma once

#include "ranks.hpp"

#include <tweedie/observer.hpp>
#include <tweedie/types.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace tweedie::cli {

/// Refuses a --trajectory path that is not written as .npy before anything is computed: the name
/// must end in ".npy" or be an existing device or FIFO ('-' is refused: standard output is --out's).
void check_trajectory_path(const std::string& path);

/// Records, for the rows [first, first + rows) of a run over a grid of `steps` steps, the states
/// after the steps K, 2K, ... (K = `every`) and after the last step: the candidate slices. Each
/// chunk's rows go to their place by global sample index, so the record does not depend on the
/// threads or the chunk size. A sampler that does not report some of those steps (singlestep
/// DPM-Solver's inner grid points: observer.hpp) leaves their slices empty, and they are
/// dropped; adaptive samplers report every grid point, by dense output (observer.hpp).
class TrajectoryRecorder {
 public:
  TrajectoryRecorder(std::size_t steps, std::size_t every, std::uint64_t first, std::size_t rows,
                     Eigen::Index dim);
  /// The observer to put in SampleOptions (it refers to this recorder).
  StepObserver observer();
  /// Gathers every rank's rows at rank 0 (one collective, on every rank) and writes there the
  /// array (saved steps, n, d), the slices rank 0's rows reached, in step order; returns how many
  /// (on rank 0; 0 elsewhere).
  std::size_t write(Ranks& ranks, const std::string& path) const;

 private:
  /// The candidate slice of `step`, or -1 when it is not recorded.
  std::ptrdiff_t slice_of(std::size_t step) const;
  std::size_t steps_, every_, slices_;
  std::uint64_t first_;
  std::size_t rows_;
  Matrix states_;  // slice-major: slice s holds rows [s rows_, (s + 1) rows_)
  std::unique_ptr<std::atomic<std::size_t>[]> written_;  // rows written per slice
};

}  // namespace tweedie::cli
