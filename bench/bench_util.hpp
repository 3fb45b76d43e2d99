// Helpers shared by the benchmark programs: the random mixtures of the tests, a monotonic clock,
// and a thread-safe accumulator of model time.
#pragma once

#include <tweedie/tweedie.hpp>

#include <benchmark/benchmark.h>

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <thread>

namespace tweedie::bench {

/// The random inputs of tweedie::test::Inputs (std::mt19937_64 and the same conversion to
/// doubles), repeated here because tests/test_util.hpp pulls in doctest.
class Inputs {
 public:
  explicit Inputs(std::uint64_t seed) : engine_(seed) {}
  double uniform(double lo, double hi) {
    const double u = static_cast<double>(engine_() >> 11) * 0x1.0p-53;  // [0, 1)
    return lo + (hi - lo) * u;
  }
  Matrix uniform(Eigen::Index rows, Eigen::Index cols, double lo, double hi) {
    Matrix m(rows, cols);
    for (Eigen::Index i = 0; i < rows; ++i) {
      for (Eigen::Index j = 0; j < cols; ++j) m(i, j) = uniform(lo, hi);
    }
    return m;
  }
  /// k components in dimension d: weights in [0.2, 1], means in [-2, 2], stds in [0.2, 1.2],
  /// exactly as tweedie::test::Inputs::mixture draws them.
  GaussianMixture mixture(int k, int d) {
    Vector w(k);
    for (int i = 0; i < k; ++i) w(i) = uniform(0.2, 1.0);
    return GaussianMixture(w, uniform(k, d, -2.0, 2.0), uniform(k, d, 0.2, 1.2));
  }

 private:
  std::mt19937_64 engine_;
};

/// The mixture every benchmark of dimension d with k components uses (seed fixed by (k, d)).
inline GaussianMixture bench_mixture(int k, int d) {
  Inputs in(0x7765656469650000ULL + static_cast<std::uint64_t>(1000 * k + d));
  return in.mixture(k, d);
}

using Clock = std::chrono::steady_clock;

inline std::int64_t elapsed_ns(Clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - since).count();
}

/// Nanoseconds spent inside a model's evaluate, summed over all threads and calls. Relaxed
/// atomics: one fetch_add per call of a chunk (256 rows), so contention is negligible.
struct ModelTimer {
  std::atomic<std::int64_t> ns{0};
  std::atomic<std::int64_t> calls{0};
  std::atomic<std::int64_t> rows{0};
  void add(std::int64_t t, std::int64_t r) {
    ns.fetch_add(t, std::memory_order_relaxed);
    calls.fetch_add(1, std::memory_order_relaxed);
    rows.fetch_add(r, std::memory_order_relaxed);
  }
  void reset() {
    ns.store(0);
    calls.store(0);
    rows.store(0);
  }
};

/// How much CPU the rest of the machine used while a benchmark ran, in cores: the busy time of
/// all CPUs (/proc/stat) minus this process's own user + system time (getrusage), over the wall
/// time. 0 on an idle machine; about 1 when another job keeps one of the two cores busy. Reported
/// as the counter `others_cores`, so that a contended measurement can be recognised (and rerun).
class LoadMonitor {
 public:
  LoadMonitor() { start(); }
  void start() {
    busy0_ = machine_busy_seconds();
    self0_ = self_seconds();
    wall0_ = Clock::now();
  }
  double others_cores() const {
    const double wall = std::chrono::duration<double>(Clock::now() - wall0_).count();
    if (wall <= 0.0 || busy0_ < 0.0) return 0.0;
    const double others = (machine_busy_seconds() - busy0_) - (self_seconds() - self0_);
    return std::max(0.0, others / wall);
  }

  /// Busy seconds of all CPUs since boot (user, nice, system, irq, softirq, steal), or -1.
  static double machine_busy_seconds() {
    std::ifstream in("/proc/stat");
    std::string cpu;
    long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
    if (!(in >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal)) return -1.0;
    static const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
    return static_cast<double>(user + nice + system + irq + softirq + steal) / hz;
  }
  static double self_seconds() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    auto sec = [](const timeval& t) { return static_cast<double>(t.tv_sec) + 1e-6 * static_cast<double>(t.tv_usec); };
    return sec(u.ru_utime) + sec(u.ru_stime);
  }

 private:
  double busy0_ = 0.0, self0_ = 0.0;
  Clock::time_point wall0_;
};

/// When the environment variable TWEEDIE_BENCH_WAIT_IDLE is set to a number of seconds, waits (at
/// most that long) until the other processes use less than TWEEDIE_BENCH_IDLE_CORES cores
/// (default 0.15) over half a second, so that a benchmark starts on a quiet machine. Called in
/// each benchmark's untimed set-up. (A 1-thread benchmark on 2 cores can accept 0.9.)
inline void wait_until_idle() {
  const char* env = std::getenv("TWEEDIE_BENCH_WAIT_IDLE");
  if (env == nullptr) return;
  const char* cores = std::getenv("TWEEDIE_BENCH_IDLE_CORES");
  const double threshold = cores != nullptr ? std::atof(cores) : 0.15;
  const auto deadline = Clock::now() + std::chrono::duration<double>(std::atof(env));
  while (Clock::now() < deadline) {
    LoadMonitor m;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    if (m.others_cores() < threshold) return;
  }
}

/// The main of every benchmark program that registers its cases at run time.
inline int run(int argc, char** argv, void (*register_all)()) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace tweedie::bench
