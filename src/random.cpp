#include <tweedie/random.hpp>

#include "int_to_double.hpp"
#include "log_poly.hpp"
#include "philox_batch.hpp"

#include <fmt/format.h>

#include <Random123/boxmuller.hpp>
#include <Random123/philox.h>
#include <Random123/uniform.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <utility>

namespace tweedie {
namespace {

using Philox = r123::Philox4x32_R<10>;

inline std::uint64_t join(std::uint32_t lo, std::uint32_t hi) {
  return static_cast<std::uint64_t>(lo) | (static_cast<std::uint64_t>(hi) << 32);
}

inline std::uint32_t row_key(std::uint64_t row) {
  if (row >= max_samples) {
    throw InvalidArgument(fmt::format("sample index {} exceeds the 2^32 samples of one seed", row));
  }
  return static_cast<std::uint32_t>(row);
}

/// The layout of the stream: row i of `out` is sample first_row + i (the key), components
/// (j, j + 1) come from block j / 2 of the counter {j / 2, step, stage, stream}, whose two 64-bit
/// halves `pair` turns into two values.
template <class Pair>
void fill_pairs(std::uint32_t seed, std::uint64_t first_row, std::uint32_t step, std::uint32_t stage,
                NoiseStream stream, MatrixRef out, Pair pair) {
  Philox rng;
  const Eigen::Index d = out.cols();
  for (Eigen::Index i = 0; i < out.rows(); ++i) {
    const Philox::key_type key = {{row_key(first_row + static_cast<std::uint64_t>(i)), seed}};
    for (Eigen::Index j = 0; j < d; j += 2) {
      const Philox::ctr_type ctr = {{static_cast<std::uint32_t>(j / 2), step, stage,
                                     static_cast<std::uint32_t>(stream)}};
      const auto w = rng(ctr, key);
      const auto [a, b] = pair(join(w[0], w[1]), join(w[2], w[3]));
      out(i, j) = a;
      if (j + 1 < d) out(i, j + 1) = b;
    }
  }
}

// ---- layout version 2: the polynomial Box-Muller -------------------------------------------
// Plain IEEE double arithmetic without branches (random.cpp is built with -ffp-contract=off, as
// the whole library, and -fno-math-errno so that sqrt vectorises): the same bits on every
// instruction set and C library.

/// sin(pi x), cos(pi x) for x in [-1, 1]: quadrant q = round(2x) in {-2, ..., 2} (rounded by
/// adding and subtracting 1.5 2^52: std::floor does not vectorise without -fno-trapping-math),
/// a = pi (x - q/2) in [-pi/4, pi/4], Taylor polynomials to a^17 and a^18 (|a|^19 / 19! < 1e-19),
/// then the quadrant's rotation.
inline void sincospi_poly(double x, double& s_out, double& c_out) {
  const double y = 2.0 * x;
  const double q = (y + 0x1.8p52) - 0x1.8p52;
  const double a = 3.14159265358979323846 * (0.5 * (y - q)), a2 = a * a;
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

/// Layout version 2 on `out`: the (row, block) pairs of the whole matrix in batches of `batch`,
/// first every Philox block of a batch (one per vector lane, detail::philox4x32_10_blocks), then
/// every Box-Muller (a loop the compiler vectorises). A batch is a few runs of consecutive blocks of one row, so that filling in the
/// counters and storing the normals are contiguous copies too (one copy when the rows of `out`
/// are consecutive in memory and d is even).
void normal_v2(std::uint32_t seed, std::uint64_t first_row, std::uint32_t step, std::uint32_t stage,
               NoiseStream stream, MatrixRef out) {
  constexpr Eigen::Index batch = 64;
  const Eigen::Index d = out.cols(), blocks = (d + 1) / 2;
  if (out.rows() == 0 || d == 0) return;
  row_key(first_row + static_cast<std::uint64_t>(out.rows() - 1));  // the last row's index must fit
  const auto stream_word = static_cast<std::uint32_t>(stream);
  const auto row0 = static_cast<std::uint32_t>(first_row);
  const bool contiguous = d % 2 == 0 && out.outerStride() == d;
  struct Run {
    Eigen::Index row, block, first, length;  // blocks [block, block + length) of row, at first
  };
  alignas(64) std::uint32_t keys[batch], counters[batch], words[4][batch];
  alignas(64) std::uint64_t u0[batch], u1[batch];
  alignas(64) double normals[2 * batch];
  Run runs[batch];
  Eigen::Index i = 0, j = 0;  // the next (row, block) to draw
  while (i < out.rows()) {
    Eigen::Index n = 0, run_count = 0;
    while (n < batch && i < out.rows()) {
      const Eigen::Index length = std::min(batch - n, blocks - j);
      for (Eigen::Index k = 0; k < length; ++k) {
        keys[n + k] = row0 + static_cast<std::uint32_t>(i);
        counters[n + k] = static_cast<std::uint32_t>(j + k);
      }
      runs[run_count++] = {i, j, n, length};
      n += length;
      j += length;
      if (j == blocks) j = 0, ++i;
    }
    detail::philox4x32_10_blocks(counters, step, stage, stream_word, keys, seed, words[0], words[1], words[2],
                                 words[3], n);
    for (Eigen::Index k = 0; k < n; ++k) {
      u0[k] = join(words[0][k], words[1][k]);
      u1[k] = join(words[2][k], words[3][k]);
    }
    for (Eigen::Index k = 0; k < n; ++k) {
      // r123::uneg11<double>(u0) and r123::u01<double>(u1), spelled out (the same values).
      const double v0 = detail::signed_to_double(u0[k]) * 0x1p-63 + 0x1p-64;
      const double v1 = detail::unsigned_to_double(u1[k]) * 0x1p-64 + 0x1p-65;
      const double r = std::sqrt(-2.0 * detail::log_poly(v1));  // v1 in [2^-65, 1]
      double sn = 0.0, cs = 0.0;
      sincospi_poly(v0, sn, cs);
      normals[2 * k] = r * sn;
      normals[2 * k + 1] = r * cs;
    }
    if (contiguous) {  // the batch's normals are consecutive entries of out
      std::copy_n(normals, 2 * n, out.data() + 2 * (runs[0].row * blocks + runs[0].block));
      continue;
    }
    for (Eigen::Index r = 0; r < run_count; ++r) {
      const Run& run = runs[r];
      const Eigen::Index column = 2 * run.block;
      std::copy_n(normals + 2 * run.first, std::min(2 * run.length, d - column), &out(run.row, column));
    }
  }
}

}  // namespace

void check_stream_version(int version) {
  if (version < oldest_rng_stream_version || version > rng_stream_version) {
    throw InvalidArgument(fmt::format("noise stream version {} is not one of {} .. {}", version,
                                      oldest_rng_stream_version, rng_stream_version));
  }
}

std::array<std::uint32_t, 4> philox4x32_10(std::array<std::uint32_t, 4> counter,
                                           std::array<std::uint32_t, 2> key) {
  Philox rng;
  const Philox::ctr_type c = {{counter[0], counter[1], counter[2], counter[3]}};
  const Philox::key_type k = {{key[0], key[1]}};
  const auto r = rng(c, k);
  return {r[0], r[1], r[2], r[3]};
}

PhiloxNoise::PhiloxNoise(std::uint64_t seed, int stream_version) : version_(stream_version) {
  check_stream_version(stream_version);
  if (seed > max_seed) {
    throw InvalidArgument(fmt::format("seed {} does not fit in 32 bits (at most {})", seed, max_seed));
  }
  seed_ = static_cast<std::uint32_t>(seed);
}

void PhiloxNoise::normal(std::uint64_t first_row, std::uint32_t step, std::uint32_t stage,
                         NoiseStream stream, MatrixRef out) const {
  if (version_ >= 2) return normal_v2(seed_, first_row, step, stage, stream, out);
  fill_pairs(seed_, first_row, step, stage, stream, out, [](std::uint64_t u0, std::uint64_t u1) {
    const auto z = r123::boxmuller(u0, u1);
    return std::pair{static_cast<double>(z.x), static_cast<double>(z.y)};
  });
}

void PhiloxNoise::uniform(std::uint64_t first_row, std::uint32_t step, std::uint32_t stage,
                          NoiseStream stream, VectorRef out) const {
  Philox rng;
  for (Eigen::Index i = 0; i < out.size(); ++i) {
    const Philox::key_type key = {{row_key(first_row + static_cast<std::uint64_t>(i)), seed_}};
    const Philox::ctr_type ctr = {{0u, step, stage, static_cast<std::uint32_t>(stream)}};
    const auto w = rng(ctr, key);
    out(i) = r123::u01<double>(join(w[0], w[1]));
  }
}

void PhiloxNoise::uniform_rows(std::uint64_t first_row, std::uint32_t step, std::uint32_t stage,
                               NoiseStream stream, MatrixRef out) const {
  // Top 53 bits times 2^-53: exactly representable, so never 1 (r123::u01 can round to 1).
  auto unit = [](std::uint64_t u) { return static_cast<double>(u >> 11) * 0x1.0p-53; };
  fill_pairs(seed_, first_row, step, stage, stream, out,
             [&](std::uint64_t u0, std::uint64_t u1) { return std::pair{unit(u0), unit(u1)}; });
}

}  // namespace tweedie
