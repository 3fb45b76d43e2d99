// Progress callbacks and cancellation (Execution::progress): the counts a callback sees, results
// unchanged by it, and a cancelled run throwing Cancelled with nothing returned.
#include "flow_util.hpp"
#include "sampling_util.hpp"
#include "test_util.hpp"

#include <tweedie/tweedie.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace tweedie;

namespace {

// What a callback saw: every (done, total) in order of the calls, and whether two overlapped.
struct Recorder {
  std::mutex mutex;
  std::vector<std::size_t> done;
  std::vector<std::size_t> totals;
  std::atomic<int> inside{0};
  bool overlapped = false;
  Progress callback() {
    return [this](std::size_t rows_done, std::size_t rows_total) {
      if (inside.fetch_add(1) != 0) overlapped = true;
      {
        std::lock_guard lock(mutex);
        done.push_back(rows_done);
        totals.push_back(rows_total);
      }
      inside.fetch_sub(1);
      return true;
    };
  }
  // Strictly increasing, one call per chunk, ending at the total.
  void check(std::size_t n, std::size_t chunks) const {
    CHECK_FALSE(overlapped);
    REQUIRE(done.size() == chunks);
    for (std::size_t i = 1; i < done.size(); ++i) CHECK(done[i] > done[i - 1]);
    CHECK(done.back() == n);
    for (std::size_t t : totals) CHECK(t == n);
  }
};

}  // namespace

TEST_CASE("for_each_chunk reports each chunk once, serialised and increasing, up to the total") {
  for (int threads : {1, 2, 4}) {
    CAPTURE(threads);
    Recorder rec;
    Execution e{threads, 7, rec.callback()};
    std::atomic<std::size_t> rows{0};
    for_each_chunk(100, e, [&](std::size_t begin, std::size_t end) { rows += end - begin; });
    CHECK(rows == 100);
    rec.check(100, 15);  // 14 chunks of 7 and one of 2
  }
  Recorder none;
  for_each_chunk(0, {2, 7, none.callback()}, [](std::size_t, std::size_t) {});
  CHECK(none.done.empty());
}

TEST_CASE("sample and log_likelihood give the same bits with a progress callback, which ends at n") {
  const VpSde sde;
  const GaussianMixture target = test::random_mixture(3, 4, 11);
  const auto model = exact_model(target, sde);
  const std::vector<double> grid = make_grid(sde, {.steps = 20});
  const auto sampler = make_sampler("em");
  const Matrix data = test::exact_case(target, sde, 1e-3, 50, 3).x;
  for (int threads : {1, 2}) {
    CAPTURE(threads);
    SampleOptions o;
    o.num_samples = 50;
    o.seed = 5;
    o.execution = {threads, 8};
    const SampleResult plain = sample(sde, *model, *sampler, grid, o);
    Recorder rec;
    o.execution.progress = rec.callback();
    const SampleResult watched = sample(sde, *model, *sampler, grid, o);
    CHECK(test::bitwise_equal(plain.samples, watched.samples));
    rec.check(50, 7);

    LikelihoodOptions l;
    l.t_min = 1e-3;
    l.execution = {threads, 16};
    const LikelihoodResult lp = log_likelihood(sde, *model, data, l);
    Recorder lrec;
    l.execution.progress = lrec.callback();
    const LikelihoodResult lw = log_likelihood(sde, *model, data, l);
    CHECK(test::bitwise_equal(lp.log_likelihood, lw.log_likelihood));
    CHECK(test::bitwise_equal(lp.latent, lw.latent));
    lrec.check(50, 4);
  }
}

TEST_CASE("a callback returning false cancels: no later chunk starts, Cancelled, nothing returned") {
  const VpSde sde;
  const GaussianMixture target = test::random_mixture(2, 3, 12);
  const auto model = exact_model(target, sde);
  const std::vector<double> grid = make_grid(sde, {.steps = 10});
  const auto sampler = make_sampler("euler");
  for (int threads : {1, 2}) {
    CAPTURE(threads);
    // The driver: sample() after its first chunk.
    std::size_t calls = 0;
    SampleOptions o;
    o.num_samples = 4000;
    o.execution = {threads, 16, [&](std::size_t, std::size_t) { return ++calls < 1; }};
    std::optional<SampleResult> r;
    CHECK_THROWS_AS(r = sample(sde, *model, *sampler, grid, o), Cancelled);
    CHECK_FALSE(r.has_value());
    CHECK(calls == 1);  // it hears of no chunk after it said stop

    // The chunks: after the first one finishes, only those already running may still finish.
    std::atomic<std::size_t> ran{0};
    const std::size_t chunks = 1000;
    try {
      for_each_chunk(chunks, {threads, 1, [](std::size_t, std::size_t) { return false; }},
                     [&](std::size_t, std::size_t) { ++ran; });
      FAIL("not cancelled");
    } catch (const Cancelled& e) {
      CHECK(std::string(e.what()) == "cancelled by the progress callback after 1 of 1000 rows");
    }
    if (threads == 1) CHECK(ran == 1);
    CHECK(ran <= static_cast<std::size_t>(threads));  // at most one running per thread
  }
}

TEST_CASE("a chunk's error wins over a cancellation that comes with it") {
  // Chunk 0 says stop at once; chunk 1 fails later. If chunk 1 started before the stop, its error
  // is what the call reports; Cancelled only when it was skipped.
  for (int repeat = 0; repeat < 10; ++repeat) {
    std::atomic<bool> started{false};
    try {
      for_each_chunk(2, {2, 1, [](std::size_t, std::size_t) { return false; }}, [&](std::size_t begin, std::size_t) {
        if (begin == 0) return;
        started = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        throw InvalidArgument("chunk 1");
      });
      FAIL("no error");
    } catch (const InvalidArgument& e) {
      CHECK(std::string(e.what()) == "chunk 1");
    } catch (const Cancelled&) {
      CHECK_FALSE(started);
    }
  }
}
