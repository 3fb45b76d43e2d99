// tweedie::mpi: one job's samples split over the ranks of an MPI communicator, in contiguous
// blocks (tweedie/split.hpp), with the collectives that make the ranks behave as one call: the
// exchange of failures (every rank reaches it, so an error on one rank ends all of them) and the
// gathering of the blocks' rows. Optional: built when CMake finds MPI (TWEEDIE_WITH_MPI); the
// core library never links MPI.
#pragma once

#include <tweedie/split.hpp>
#include <tweedie/types.hpp>

#include <mpi.h>

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace tweedie::mpi {

/// MPI for the lifetime of the object: MPI_Init_thread with MPI_THREAD_FUNNELED (only the thread
/// that made the session calls MPI; the drivers' worker threads never do) and MPI_Finalize.
/// Throws std::runtime_error when MPI was initialised already or gives less than FUNNELED.
class Session {
 public:
  Session();
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  MPI_Comm comm() const { return MPI_COMM_WORLD; }
  int rank() const { return rank_; }
  int size() const { return size_; }

 private:
  int rank_ = 0, size_ = 1;
};

/// This rank's block of a job of n samples: split_samples(n, rank, size).
SampleBlock block_of(MPI_Comm comm, std::size_t n);

/// Collective: every rank passes its failure (a message, or none) and the phase of its run it
/// failed in (0 <= phase < 1024; a later phase means further in the job). Returns on every rank the
/// message of the failure a single process would have met first, the earliest phase's on the
/// lowest rank (the blocks are in rank order), or none when no rank failed.
std::optional<std::string> first_failure(MPI_Comm comm, const std::optional<std::string>& failure, int phase);

/// Collective: at `root`, the rows of every rank's block stacked in rank order, bitwise; on the
/// other ranks an empty matrix. The blocks that have rows must have the same columns (a rank with
/// none may pass any); throws InvalidArgument at `root` otherwise.
Matrix gather_rows(MPI_Comm comm, const ConstMatrixRef& block, int root = 0);

/// Collective: `values` at `root` replaces `values` on every other rank, bitwise (its length too).
void broadcast(MPI_Comm comm, std::vector<double>& values, int root = 0);

}  // namespace tweedie::mpi
