// The noise Euler-Maruyama pays for at every step (one 256 x d block per chunk and step):
//
//   normal/d:D/stream:V   PhiloxNoise::normal in noise layout version V on a 256 x d block (one
//                         chunk of one step); version 2 is the vectorised polynomial Box-Muller
//   normal_split/d:D      prototype, bitwise equal to layout version 1: per row, all Philox
//                         blocks first (a loop the compiler can vectorise), then Random123's
//                         Box-Muller (glibc sincos and log) over them
//   philox_block          the raw Philox4x32-10 block (Random123), 4 words per call
//   boxmuller             Random123's double Box-Muller on two 64-bit words (2 normals per call)
//
// items_per_second = normals per second (philox_block counts its 4 words as 4, boxmuller 2);
// max_abs_diff = largest difference from layout version 1 over 64 steps (0 = bitwise equal).
//
// Run:  build/release/bench/bench_noise --benchmark_repetitions=3
//         --benchmark_report_aggregates_only=true
#include "bench_util.hpp"

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <Random123/boxmuller.hpp>
#include <Random123/philox.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace {

using namespace tweedie;

constexpr Eigen::Index kRows = 256;

void normal(benchmark::State& state, int d, int version) {
  const PhiloxNoise noise(42, version);
  Matrix z(kRows, d);
  std::uint32_t step = 0;
  tweedie::bench::wait_until_idle();
  const tweedie::bench::LoadMonitor load;
  for (auto _ : state) {
    noise.normal(1000, step++, 0, NoiseStream::diffusion, z);
    benchmark::DoNotOptimize(z.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * kRows * d);
  state.counters["others_cores"] = load.others_cores();
}

// ---- prototypes ----------------------------------------------------------------------------

using Philox = r123::Philox4x32_R<10>;

inline std::uint64_t join(std::uint32_t lo, std::uint32_t hi) {
  return static_cast<std::uint64_t>(lo) | (static_cast<std::uint64_t>(hi) << 32);
}

// The Philox words of one row, as the two 64-bit integers of each block (layout version 1).
inline void philox_row(std::uint32_t row, std::uint32_t seed, std::uint32_t step, std::uint32_t stage,
                       std::uint32_t stream, Eigen::Index blocks, std::uint64_t* u0, std::uint64_t* u1) {
  const Philox rng;
  const Philox::key_type key = {{row, seed}};
  for (Eigen::Index j = 0; j < blocks; ++j) {
    const Philox::ctr_type ctr = {{static_cast<std::uint32_t>(j), step, stage, stream}};
    const auto w = rng(ctr, key);
    u0[j] = join(w[0], w[1]);
    u1[j] = join(w[2], w[3]);
  }
}

void normal_split(const PhiloxNoise& noise, std::uint64_t first_row, std::uint32_t step,
                  std::uint32_t stage, NoiseStream stream, MatrixRef out) {
  const Eigen::Index d = out.cols(), blocks = (d + 1) / 2;
  std::vector<std::uint64_t> u0(static_cast<std::size_t>(blocks)), u1(static_cast<std::size_t>(blocks));
  for (Eigen::Index i = 0; i < out.rows(); ++i) {
    philox_row(static_cast<std::uint32_t>(first_row + static_cast<std::uint64_t>(i)), noise.seed(), step,
               stage, static_cast<std::uint32_t>(stream), blocks, u0.data(), u1.data());
    for (Eigen::Index j = 0; j < blocks; ++j) {
      const auto z = r123::boxmuller(u0[static_cast<std::size_t>(j)], u1[static_cast<std::size_t>(j)]);
      out(i, 2 * j) = z.x;
      if (2 * j + 1 < d) out(i, 2 * j + 1) = z.y;
    }
  }
}

using NormalFn = void (*)(const PhiloxNoise&, std::uint64_t, std::uint32_t, std::uint32_t, NoiseStream,
                          MatrixRef);

void normal_variant(benchmark::State& state, int d, NormalFn fn) {
  const PhiloxNoise noise(42, 1);
  Matrix z(kRows, d), reference(kRows, d);
  // Largest difference from PhiloxNoise::normal over 64 steps (0: bitwise equal).
  double diff = 0.0;
  for (std::uint32_t s = 0; s < 64; ++s) {
    noise.normal(1000, s, 0, NoiseStream::diffusion, reference);
    fn(noise, 1000, s, 0, NoiseStream::diffusion, z);
    diff = std::max(diff, (z - reference).cwiseAbs().maxCoeff());
  }
  std::uint32_t step = 0;
  tweedie::bench::wait_until_idle();
  const tweedie::bench::LoadMonitor load;
  for (auto _ : state) {
    fn(noise, 1000, step++, 0, NoiseStream::diffusion, z);
    benchmark::DoNotOptimize(z.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * kRows * d);
  state.counters["max_abs_diff"] = diff;
  state.counters["others_cores"] = load.others_cores();
}

// ---- the raw parts ------------------------------------------------------------------------

void philox_block(benchmark::State& state) {
  r123::Philox4x32_R<10> rng;
  r123::Philox4x32_R<10>::key_type key = {{12345u, 42u}};
  r123::Philox4x32_R<10>::ctr_type ctr = {{0u, 1u, 0u, 1u}};
  std::uint32_t acc = 0;
  tweedie::bench::wait_until_idle();
  const tweedie::bench::LoadMonitor load;
  for (auto _ : state) {
    for (std::uint32_t j = 0; j < 256; ++j) {
      ctr[0] = j;
      const auto w = rng(ctr, key);
      acc += w[0] ^ w[1] ^ w[2] ^ w[3];
    }
    ++key[0];
    benchmark::DoNotOptimize(acc);
  }
  state.SetItemsProcessed(state.iterations() * 256 * 4);
  state.counters["others_cores"] = load.others_cores();
}

void boxmuller(benchmark::State& state) {
  std::uint64_t u = 0x9e3779b97f4a7c15ULL, v = 0xbf58476d1ce4e5b9ULL;
  double acc = 0.0;
  tweedie::bench::wait_until_idle();
  const tweedie::bench::LoadMonitor load;
  for (auto _ : state) {
    for (int j = 0; j < 256; ++j) {
      u = u * 6364136223846793005ULL + 1442695040888963407ULL;  // cheap distinct inputs
      v ^= u >> 7;
      const auto z = r123::boxmuller(u, v);
      acc += z.x + z.y;
    }
    benchmark::DoNotOptimize(acc);
  }
  state.SetItemsProcessed(state.iterations() * 256 * 2);
  state.counters["others_cores"] = load.others_cores();
}

template <class F>
void add(const std::string& name, F f) {
  benchmark::RegisterBenchmark(name.c_str(), f)->UseRealTime()->Unit(benchmark::kMicrosecond);
}

void register_all() {
  for (int version : {1, 2}) {
    for (int d : {2, 16, 64, 256}) {
      add(fmt::format("normal/d:{}/stream:{}", d, version),
          [d, version](benchmark::State& s) { normal(s, d, version); });
    }
  }
  for (int d : {2, 16, 64, 256}) {
    add(fmt::format("normal_split/d:{}", d), [d](benchmark::State& s) { normal_variant(s, d, normal_split); });
  }
  add("philox_block", philox_block);
  add("boxmuller", boxmuller);
}

}  // namespace

int main(int argc, char** argv) { return tweedie::bench::run(argc, argv, register_all); }
