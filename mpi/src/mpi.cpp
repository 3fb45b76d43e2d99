#include <tweedie/mpi.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstdint>
#include <stdexcept>
#include <vector>

namespace tweedie::mpi {

Session::Session() {
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (initialised) throw std::runtime_error("MPI is initialised already");
  int provided = MPI_THREAD_SINGLE;
  MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
  if (provided < MPI_THREAD_FUNNELED) {
    MPI_Finalize();
    throw std::runtime_error("this MPI does not support MPI_THREAD_FUNNELED");
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

Session::~Session() { MPI_Finalize(); }

SampleBlock block_of(MPI_Comm comm, std::size_t n) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  return split_samples(n, rank, size);
}

std::optional<std::string> first_failure(MPI_Comm comm, const std::optional<std::string>& failure, int phase) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  constexpr int phases = 1024;
  if (phase < 0 || phase >= phases) throw InvalidArgument(fmt::format("phase {} is not in 0 .. {}", phase, phases - 1));
  // Order failures by (phase, rank): one long key, the minimum wins.
  const long long mine = failure ? static_cast<long long>(phase) * size + rank : LLONG_MAX;
  long long first = LLONG_MAX;
  MPI_Allreduce(&mine, &first, 1, MPI_LONG_LONG, MPI_MIN, comm);
  if (first == LLONG_MAX) return std::nullopt;
  const int winner = static_cast<int>(first % size);
  std::string message = rank == winner ? *failure : std::string();
  unsigned long long length = message.size();
  MPI_Bcast(&length, 1, MPI_UNSIGNED_LONG_LONG, winner, comm);
  message.resize(length);
  MPI_Bcast(message.data(), static_cast<int>(std::min<unsigned long long>(length, INT_MAX)), MPI_CHAR, winner, comm);
  return message;
}

Matrix gather_rows(MPI_Comm comm, const ConstMatrixRef& block, int root) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  const std::array<std::uint64_t, 2> shape{static_cast<std::uint64_t>(block.rows()),
                                           static_cast<std::uint64_t>(block.cols())};
  std::vector<std::uint64_t> shapes(rank == root ? 2 * static_cast<std::size_t>(size) : 0);
  MPI_Gather(shape.data(), 2, MPI_UINT64_T, shapes.data(), 2, MPI_UINT64_T, root, comm);
  const Matrix mine = block;  // contiguous rows, whatever the reference's strides
  // Rows travel as one derived type of `cols` doubles, so that counts stay small integers.
  const auto send_rows = [&](std::uint64_t cols, std::uint64_t rows, const double* data, int to) {
    if (rows == 0) return;
    MPI_Datatype row;
    MPI_Type_contiguous(static_cast<int>(cols), MPI_DOUBLE, &row);
    MPI_Type_commit(&row);
    MPI_Send(data, static_cast<int>(rows), row, to, 0, comm);
    MPI_Type_free(&row);
  };
  if (rank != root) {
    send_rows(shape[1], shape[0], mine.data(), root);
    return Matrix();
  }
  std::uint64_t rows = 0, cols = 0;
  bool consistent = true;
  for (int r = 0; r < size; ++r) {
    const std::uint64_t n = shapes[2 * r], c = shapes[2 * r + 1];
    rows += n;
    if (n > 0 && cols != 0 && c != cols) consistent = false;
    if (n > 0) cols = c;
  }
  for (int r = 0; r < size; ++r) {
    if (shapes[2 * r] > static_cast<std::uint64_t>(INT_MAX) || shapes[2 * r + 1] > static_cast<std::uint64_t>(INT_MAX)) {
      consistent = false;
    }
  }
  Matrix all(static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols));
  // Receive every message before refusing, so that no sender is left waiting.
  std::uint64_t at = 0;
  for (int r = 0; r < size; ++r) {
    const std::uint64_t n = shapes[2 * r], c = shapes[2 * r + 1];
    if (r == rank) {
      if (n > 0 && c == cols) all.middleRows(static_cast<Eigen::Index>(at), static_cast<Eigen::Index>(n)) = mine;
    } else if (n > 0) {
      std::vector<double> scratch;
      double* into = all.data() + at * cols;
      if (c != cols) {
        scratch.resize(n * c);
        into = scratch.data();
      }
      MPI_Datatype row;
      MPI_Type_contiguous(static_cast<int>(c), MPI_DOUBLE, &row);
      MPI_Type_commit(&row);
      MPI_Recv(into, static_cast<int>(n), row, r, 0, comm, MPI_STATUS_IGNORE);
      MPI_Type_free(&row);
    }
    at += n;
  }
  if (!consistent) {
    throw InvalidArgument("the ranks' blocks differ in their columns (or exceed 2^31 rows or columns)");
  }
  return all;
}

void broadcast(MPI_Comm comm, std::vector<double>& values, int root) {
  unsigned long long length = values.size();
  MPI_Bcast(&length, 1, MPI_UNSIGNED_LONG_LONG, root, comm);
  if (length > static_cast<unsigned long long>(INT_MAX)) throw InvalidArgument("a broadcast of over 2^31 values");
  values.resize(length);
  MPI_Bcast(values.data(), static_cast<int>(length), MPI_DOUBLE, root, comm);
}

}  // namespace tweedie::mpi
