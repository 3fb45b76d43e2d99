#include <tweedie/random.hpp>

#include <fmt/format.h>

#include <Random123/boxmuller.hpp>
#include <Random123/philox.h>
#include <Random123/uniform.hpp>

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

}  // namespace

std::array<std::uint32_t, 4> philox4x32_10(std::array<std::uint32_t, 4> counter,
                                           std::array<std::uint32_t, 2> key) {
  Philox rng;
  const Philox::ctr_type c = {{counter[0], counter[1], counter[2], counter[3]}};
  const Philox::key_type k = {{key[0], key[1]}};
  const auto r = rng(c, k);
  return {r[0], r[1], r[2], r[3]};
}

PhiloxNoise::PhiloxNoise(std::uint64_t seed) {
  if (seed > max_seed) {
    throw InvalidArgument(fmt::format("seed {} does not fit in 32 bits (at most {})", seed, max_seed));
  }
  seed_ = static_cast<std::uint32_t>(seed);
}

void PhiloxNoise::normal(std::uint64_t first_row, std::uint32_t step, std::uint32_t stage,
                         NoiseStream stream, MatrixRef out) const {
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
