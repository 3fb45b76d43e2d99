// The noise Euler-Maruyama pays for at every step (one 256 x d block per chunk and step):
//
//   normal/d:D            PhiloxNoise::normal on a 256 x d block (one chunk of one step)
//   normal_split/d:D      prototype, bitwise equal to PhiloxNoise::normal: per row, all Philox
//                         blocks first (a loop the compiler can vectorise), then Random123's
//                         Box-Muller (glibc sincos and log) over them
//   normal_poly/d:D       prototype of a faster stream (it would change the samples, hence the
//                         stream version): the same Philox words, and a branch-free Box-Muller with
//                         polynomial log and sincos(pi x) that the compiler vectorises
//   philox_block          the raw Philox4x32-10 block (Random123), 4 words per call
//   boxmuller             Random123's double Box-Muller on two 64-bit words (2 normals per call)
//
// items_per_second = normals per second (philox_block counts its 4 words as 4, boxmuller 2);
// max_abs_diff = largest difference from PhiloxNoise::normal over 64 steps (0 = bitwise equal).
//
// Run:  build/release/bench/bench_noise --benchmark_repetitions=3
//         --benchmark_report_aggregates_only=true
#include "bench_util.hpp"

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <Random123/boxmuller.hpp>
#include <Random123/philox.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace {

using namespace tweedie;

constexpr Eigen::Index kRows = 256;

void normal(benchmark::State& state, int d) {
  const PhiloxNoise noise(42);
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

// log(u) for u in [2^-65, 1]: u = m 2^e with m in [sqrt(1/2), sqrt(2)), log m = 2 atanh(s),
// s = (m - 1) / (m + 1), |s| <= 0.172; the series to s^23 is below 1e-17 relative.
inline double log_poly(double u) {
  const auto bits = std::bit_cast<std::uint64_t>(u);
  const auto e = static_cast<double>(static_cast<std::int64_t>(bits >> 52) - 1023);
  const double m1 = std::bit_cast<double>((bits & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL);
  const bool big = m1 > 1.4142135623730951;
  const double m = big ? 0.5 * m1 : m1;
  const double k = big ? e + 1.0 : e;
  const double s = (m - 1.0) / (m + 1.0), s2 = s * s;
  const double p =
      1.0 / 3 + s2 * (1.0 / 5 + s2 * (1.0 / 7 + s2 * (1.0 / 9 + s2 * (1.0 / 11 + s2 * (1.0 / 13 + s2 * (1.0 / 15 +
      s2 * (1.0 / 17 + s2 * (1.0 / 19 + s2 * (1.0 / 21 + s2 * (1.0 / 23))))))))));
  constexpr double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
  return k * ln2_hi + (2.0 * s + (2.0 * s * s2 * p + k * ln2_lo));
}

// sin(pi x), cos(pi x) for x in [-1, 1]: quadrant q = round(2x) in {-2, ..., 2} (rounded with the
// 1.5 2^52 trick: std::floor does not vectorise without -fno-trapping-math), a = pi (x - q/2) in
// [-pi/4, pi/4], Taylor polynomials to a^17 and a^18, then the quadrant's rotation.
inline void sincospi_poly(double x, double& s_out, double& c_out) {
  const double y = 2.0 * x;
  const double q = (y + 0x1.8p52) - 0x1.8p52;
  const double a = 3.14159265358979323846 * (0.5 * (y - q)), a2 = a * a;
  // sin a = a - a^3 P(a^2), cos a = 1 - a^2 Q(a^2) (Taylor: |a|^19 / 19! < 1e-19 here).
  const double sp =
      1.0 / 6 - a2 * (1.0 / 120 - a2 * (1.0 / 5040 - a2 * (1.0 / 362880 - a2 * (1.0 / 39916800 -
      a2 * (1.0 / 6227020800 - a2 * (1.0 / 1307674368000 - a2 * (1.0 / 355687428096000)))))));
  const double sn = a - a * a2 * sp;
  const double cp =
      1.0 / 2 - a2 * (1.0 / 24 - a2 * (1.0 / 720 - a2 * (1.0 / 40320 - a2 * (1.0 / 3628800 -
      a2 * (1.0 / 479001600 - a2 * (1.0 / 87178291200 - a2 * (1.0 / 20922789888000 -
      a2 * (1.0 / 6402373705728000))))))));
  const double cs = 1.0 - a2 * cp;
  // sin(a + q pi/2), cos(a + q pi/2), with q mod 4 read off q in {-2, ..., 2}.
  const double aq = std::fabs(q);
  const bool odd = aq == 1.0;
  const double s1 = odd ? cs : sn, c1 = odd ? sn : cs;
  s_out = (aq == 2.0 || q == -1.0) ? -s1 : s1;
  c_out = (aq == 2.0 || q == 1.0) ? -c1 : c1;
}

void normal_poly(const PhiloxNoise& noise, std::uint64_t first_row, std::uint32_t step,
                 std::uint32_t stage, NoiseStream stream, MatrixRef out) {
  const Eigen::Index d = out.cols(), blocks = (d + 1) / 2;
  std::vector<std::uint64_t> u0(static_cast<std::size_t>(blocks)), u1(static_cast<std::size_t>(blocks));
  std::vector<double> zs(static_cast<std::size_t>(2 * blocks));
  for (Eigen::Index i = 0; i < out.rows(); ++i) {
    philox_row(static_cast<std::uint32_t>(first_row + static_cast<std::uint64_t>(i)), noise.seed(), step,
               stage, static_cast<std::uint32_t>(stream), blocks, u0.data(), u1.data());
    for (std::size_t j = 0; j < static_cast<std::size_t>(blocks); ++j) {
      // r123::u01<double> and r123::uneg11<double>, spelled out (the same operations).
      const double v1 = static_cast<double>(u1[j]) * 0x1p-64 + 0x1p-65;
      const double v0 = static_cast<double>(static_cast<std::int64_t>(u0[j])) * 0x1p-63 + 0x1p-64;
      const double r = std::sqrt(-2.0 * log_poly(v1));
      double sn = 0.0, cs = 0.0;
      sincospi_poly(v0, sn, cs);
      zs[2 * j] = r * sn;
      zs[2 * j + 1] = r * cs;
    }
    for (Eigen::Index j = 0; j < d; ++j) out(i, j) = zs[static_cast<std::size_t>(j)];
  }
}

using NormalFn = void (*)(const PhiloxNoise&, std::uint64_t, std::uint32_t, std::uint32_t, NoiseStream,
                          MatrixRef);

void normal_variant(benchmark::State& state, int d, NormalFn fn) {
  const PhiloxNoise noise(42);
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
  for (int d : {2, 16, 64, 256}) add(fmt::format("normal/d:{}", d), [d](benchmark::State& s) { normal(s, d); });
  for (int d : {2, 16, 64, 256}) {
    add(fmt::format("normal_split/d:{}", d), [d](benchmark::State& s) { normal_variant(s, d, normal_split); });
  }
  for (int d : {2, 16, 64, 256}) {
    add(fmt::format("normal_poly/d:{}", d), [d](benchmark::State& s) { normal_variant(s, d, normal_poly); });
  }
  add("philox_block", philox_block);
  add("boxmuller", boxmuller);
}

}  // namespace

int main(int argc, char** argv) { return tweedie::bench::run(argc, argv, register_all); }
