// Deterministic parallel execution over fixed chunks of rows.
#pragma once

#include <cstddef>
#include <functional>

namespace tweedie {

/// Reports the progress of one call of a driver (sample, log_likelihood, elbo, encode, decode,
/// to_model_data: every one runs its rows through for_each_chunk): called after each finished
/// chunk with the rows of the chunks finished so far (increasing, the last call with all of them)
/// and the rows of the call. Calls are serialised (never two at once), each from the thread that
/// ran the chunk: a worker of the task arena, or the calling thread. Returning false cancels the
/// call: no chunk starts after it, and the driver throws Cancelled, returning nothing. A callback
/// that throws fails its chunk like the body would. It must be quick (the chunks that finish
/// meanwhile wait for it) and must not wait for other chunks. It never changes any result.
using Progress = std::function<bool(std::size_t rows_done, std::size_t rows_total)>;

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
  Progress progress = nullptr;   ///< optional; when empty nothing is counted or called
  void validate() const;         ///< throws InvalidArgument naming the bad field
};

/// Calls body(begin, end) once for every chunk [begin, end) of [0, n), in parallel inside a
/// task arena of `threads` threads with a simple_partitioner (one task per chunk). Each call is
/// isolated, so nested parallelism inside body cannot steal other chunks. An exception thrown by
/// a body is rethrown here with its original type; when several chunks fail, the one rethrown is
/// that of the lowest chunk, whatever the thread count (every chunk before it completes, chunks
/// after a failure are skipped). With execution.progress, it is called after each chunk (see
/// Progress; nothing when n is 0); when it returns false the chunks not started are skipped
/// and Cancelled is thrown once the running ones end, unless one of them failed (its error
/// is rethrown instead, as above).
void for_each_chunk(std::size_t n, const Execution& execution,
                    const std::function<void(std::size_t begin, std::size_t end)>& body);

}  // namespace tweedie
