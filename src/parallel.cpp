#include <tweedie/parallel.hpp>
#include <tweedie/types.hpp>

#include <fmt/format.h>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/partitioner.h>
#include <tbb/task_arena.h>

namespace tweedie {

void Execution::validate() const {
  if (threads < 0) throw InvalidArgument(fmt::format("threads = {} must be >= 0", threads));
  if (chunk_rows < 1) throw InvalidArgument("chunk_rows must be at least 1");
}

void for_each_chunk(std::size_t n, const Execution& execution,
                    const std::function<void(std::size_t, std::size_t)>& body) {
  execution.validate();
  if (n == 0) return;
  const std::size_t chunk = execution.chunk_rows;
  const std::size_t chunks = (n + chunk - 1) / chunk;
  auto run = [&](std::size_t c) {
    const std::size_t begin = c * chunk;
    const std::size_t end = std::min(n, begin + chunk);
    tbb::this_task_arena::isolate([&] { body(begin, end); });
  };
  const int threads = execution.threads == 0 ? tbb::task_arena::automatic : execution.threads;
  if (threads == 1 || chunks == 1) {  // the serial path: same chunks, same order of work per chunk
    for (std::size_t c = 0; c < chunks; ++c) run(c);
    return;
  }
  tbb::task_arena arena(threads);
  arena.execute([&] {
    tbb::parallel_for(
        tbb::blocked_range<std::size_t>(0, chunks, 1),
        [&](const tbb::blocked_range<std::size_t>& r) {
          for (std::size_t c = r.begin(); c != r.end(); ++c) run(c);
        },
        tbb::simple_partitioner());
  });
}

}  // namespace tweedie
