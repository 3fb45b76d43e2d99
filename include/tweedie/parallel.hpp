// Deterministic parallel execution over fixed chunks of rows.
#pragma once

#include <cstddef>
#include <functional>

namespace tweedie {

/// How a batch is split and run. Chunk boundaries depend only on chunk_rows, never on the
/// number of threads, so any per-row result is the same for every thread count.
struct Execution {
  /// Bounds of the fields: an arena of more threads than this exhausts memory inside oneTBB's
  /// initialisation, and a chunk of more rows cannot be allocated (one chunk holds several
  /// chunk_rows x d scratch matrices).
  static constexpr int max_threads = 1024;
  static constexpr std::size_t max_chunk_rows = std::size_t{1} << 24;
  int threads = 0;               ///< size of the task arena; 0 = all hardware threads
  std::size_t chunk_rows = 256;  ///< rows per chunk (the last chunk may be shorter)
  void validate() const;         ///< throws InvalidArgument naming the bad field
};

/// Calls body(begin, end) once for every chunk [begin, end) of [0, n), in parallel inside a
/// task arena of `threads` threads with a simple_partitioner (one task per chunk). Each call is
/// isolated, so nested parallelism inside body cannot steal other chunks. An exception thrown by
/// a body is rethrown here with its original type; when several chunks fail, the one rethrown is
/// that of the lowest chunk, whatever the thread count (every chunk before it completes, chunks
/// after a failure are skipped).
void for_each_chunk(std::size_t n, const Execution& execution,
                    const std::function<void(std::size_t begin, std::size_t end)>& body);

}  // namespace tweedie
