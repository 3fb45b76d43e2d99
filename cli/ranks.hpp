// The processes one run of the program is split over. Under mpirun (or another MPI launcher)
// they are MPI's ranks, through the MPI plugin: each computes a contiguous block of the samples
// with its own threads, rank 0 gathers the rows and alone writes and prints. Otherwise this
// process is the only rank. Either way a run makes one exchange of failures that every rank
// reaches, so an error on any rank ends all of them with one message and status 2.
#pragma once

#include <tweedie/split.hpp>
#include <tweedie/types.hpp>

#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace tweedie::cli {

/// What the ranks of a run do together: implemented by the MPI plugin (cli/mpi/plugin.cpp) over
/// tweedie::mpi, trivially by one process alone.
class Collectives {
 public:
  virtual ~Collectives() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// tweedie::mpi::first_failure: the failure a single process would have met first, on every rank.
  virtual std::optional<std::string> first_failure(const std::optional<std::string>& failure, int phase) = 0;
  /// tweedie::mpi::gather_rows to rank 0: the blocks stacked in rank order there, empty elsewhere.
  virtual Matrix gather_rows(const ConstMatrixRef& block) = 0;
  /// tweedie::mpi::broadcast from rank 0: its `values` on every rank.
  virtual void broadcast(std::vector<double>& values) = 0;
};

/// The MPI plugin's one exported function (it calls MPI_Init; deleting the result, MPI_Finalize).
using MpiCollectivesMaker = Collectives* (*)();
inline constexpr const char* mpi_collectives_symbol = "tweedie_cli_mpi_collectives";

/// Thrown on every rank once the ranks agreed that the run failed; what() is the error line.
class RunFailed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// "tweedie: error: MESSAGE" for an exception, in the CLI's terms (library_terms.hpp);
/// interrupted_line (interrupt.hpp) for Cancelled.
std::string error_line(const std::exception_ptr& error);

/// The ranks of this run.
class Ranks {
 public:
  /// Made on first use: MPI's ranks when an MPI launcher started the program (it sets
  /// OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK) and the program has the MPI plugin, else this
  /// process alone. Throws std::runtime_error when launched as several ranks by a program built
  /// without MPI. On every rank but 0, standard output then goes to /dev/null.
  static Ranks& get();
  int rank() const { return collectives_->rank(); }
  int size() const { return collectives_->size(); }
  bool root() const { return rank() == 0; }
  /// This rank's block of a job of n samples (contiguous, in rank order).
  SampleBlock block(std::size_t n) const { return split_samples(n, rank(), size()); }

  /// The exchange of failures, made once per run by every rank: `failure` is this rank's error
  /// line (none: it has not failed), `phase` 0 before its part of the computation, 1 in it.
  /// Returns the run's failure, the one a single process would have met first, or none.
  std::optional<std::string> settle(const std::optional<std::string>& failure, int phase);
  bool settled() const { return settled_; }

  /// Runs this rank's part of the computation, then settles: returns the part's result when no
  /// rank failed, and otherwise throws RunFailed with the run's error line on every rank.
  template <class Part>
  auto run_part(Part&& part) -> decltype(part()) {
    std::optional<decltype(part())> result;
    std::optional<std::string> failure;
    try {
      result.emplace(part());
    } catch (...) {
      failure = error_line(std::current_exception());
    }
    if (const auto first = settle(failure, 1)) throw RunFailed(*first);
    return std::move(*result);
  }

  /// An exchange of failures that does not end the run, for a command that makes one per
  /// computation (compare: one per sample() call): every rank passes its failure (none: it has
  /// not failed) and gets the lowest rank's, or none. It meets a rank's settle() as the same
  /// collective: a failure another rank settled the run with (and then ended) wins as the
  /// earlier phase, and comes back here as that rank's error line.
  std::optional<std::string> exchange(const std::optional<std::string>& failure) {
    return collectives_->first_failure(failure, 1);
  }

  /// Rank 0: the blocks' rows stacked in rank order; the other ranks: an empty matrix.
  Matrix gather_rows(const ConstMatrixRef& block) { return collectives_->gather_rows(block); }

  /// Rank 0's `values` on every rank (a computation one rank makes for all: the optimised grid).
  void broadcast(std::vector<double>& values) { collectives_->broadcast(values); }

  /// Ends MPI (the ranks' last collective); the program then only returns.
  void finish() { collectives_.reset(); }

 private:
  explicit Ranks(std::unique_ptr<Collectives> c) : collectives_(std::move(c)) {}
  std::unique_ptr<Collectives> collectives_;
  bool settled_ = false;
};

}  // namespace tweedie::cli
