#include <tweedie/parallel.hpp>
#include <tweedie/types.hpp>

#include <fmt/format.h>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/partitioner.h>
#include <tbb/task_arena.h>

#include <atomic>
#include <exception>
#include <mutex>

namespace tweedie {

void Execution::validate() const {
  if (threads < 0 || threads > max_threads) {
    throw InvalidArgument(fmt::format("threads = {} must be in 0..{}", threads, max_threads));
  }
  if (chunk_rows < 1 || chunk_rows > max_chunk_rows) {
    throw InvalidArgument(fmt::format("chunk_rows = {} must be in 1..{}", chunk_rows, max_chunk_rows));
  }
}

namespace {

// The rows of the finished chunks and the callback they are reported to, one call at a time
// (under the lock, so the counts it sees increase). Nothing is locked without a callback.
class ChunkProgress {
 public:
  ChunkProgress(const Progress& callback, std::size_t total) : callback_(callback), total_(total) {}
  void finished(std::size_t rows) {
    if (!callback_) return;
    std::lock_guard lock(mutex_);
    if (cancelled_.load()) return;  // asked to stop: it hears of no later chunk
    done_ += rows;
    if (!callback_(done_, total_)) cancelled_ = true;
  }
  bool cancelled() const { return cancelled_.load(); }
  [[noreturn]] void throw_cancelled() const {
    throw Cancelled(fmt::format("cancelled by the progress callback after {} of {} rows", done_, total_));
  }

 private:
  const Progress& callback_;
  const std::size_t total_;
  std::size_t done_ = 0;
  std::mutex mutex_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace

void for_each_chunk(std::size_t n, const Execution& execution,
                    const std::function<void(std::size_t, std::size_t)>& body) {
  execution.validate();
  if (n == 0) return;
  const std::size_t chunk = execution.chunk_rows;
  const std::size_t chunks = (n + chunk - 1) / chunk;
  ChunkProgress progress(execution.progress, n);
  auto run = [&](std::size_t c) {
    const std::size_t begin = c * chunk;
    const std::size_t end = std::min(n, begin + chunk);
    // The report inside the isolation too: a callback using oneTBB cannot steal a chunk while
    // it holds the progress lock.
    tbb::this_task_arena::isolate([&] {
      body(begin, end);
      progress.finished(end - begin);
    });
  };
  const int threads = execution.threads == 0 ? tbb::task_arena::automatic : execution.threads;
  if (threads == 1 || chunks == 1) {  // the serial path: same chunks, same order of work per chunk
    for (std::size_t c = 0; c < chunks; ++c) {
      run(c);
      if (progress.cancelled()) progress.throw_cancelled();
    }
    return;
  }
  // The error reported is the one of the lowest failing chunk, whatever the thread count: every
  // chunk before it runs to completion, chunks after a failure are skipped. A cancellation skips
  // every chunk not started yet.
  std::mutex failure_mutex;
  std::atomic<std::size_t> first_failure{chunks};
  std::exception_ptr failure;
  tbb::task_arena arena(threads);
  arena.execute([&] {
    tbb::parallel_for(
        tbb::blocked_range<std::size_t>(0, chunks, 1),
        [&](const tbb::blocked_range<std::size_t>& r) {
          for (std::size_t c = r.begin(); c != r.end(); ++c) {
            if (c > first_failure.load() || progress.cancelled()) continue;
            try {
              run(c);
            } catch (...) {
              std::lock_guard lock(failure_mutex);
              if (c < first_failure.load()) {
                first_failure = c;
                failure = std::current_exception();
              }
            }
          }
        },
        tbb::simple_partitioner());
  });
  if (failure) std::rethrow_exception(failure);
  if (progress.cancelled()) progress.throw_cancelled();
}

}  // namespace tweedie
