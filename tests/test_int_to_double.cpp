// detail::unsigned_to_double_by_halves and signed_to_double_by_halves, noise stream 2's
// vectorisable conversions (used unless AVX-512DQ converts in one instruction), against
// static_cast on the values where rounding is decided and on random words.
#include "int_to_double.hpp"

#include <doctest/doctest.h>

#include <bit>
#include <cstdint>
#include <random>
#include <vector>

using tweedie::detail::signed_to_double_by_halves;
using tweedie::detail::unsigned_to_double_by_halves;

namespace {

bool same_bits(double a, double b) { return std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b); }

// In every binade [2^e, 2^(e+1)) from 2^50 to 2^63 (from 2^53 on, the 53-bit mantissa rounds)
// the halfway points between neighbouring doubles, odd and even below (ties to even both ways),
// their neighbours, and their negatives (as signed words); and the extremes.
std::vector<std::uint64_t> edge_words() {
  std::vector<std::uint64_t> w = {0, 1, 0xFFFFFFFFu, 0x100000000u, 0xFFFFFFFFFFFFFFFFu, 0x8000000000000000u,
                                  0x7FFFFFFFFFFFFFFFu, 0x8000000000000001u};
  for (int e = 50; e < 64; ++e) {
    const std::uint64_t p = std::uint64_t{1} << e;
    const std::uint64_t half_ulp = e >= 53 ? std::uint64_t{1} << (e - 53) : 0;  // ulp = 2^(e - 52)
    for (std::uint64_t base : {p, p + (p >> 1), p + (p >> 3) * 5}) {
      for (std::uint64_t k = 0; k < 5; ++k) {
        const std::uint64_t tie = base + half_ulp + k - 2, odd_tie = base + 3 * half_ulp + k - 2;
        for (std::uint64_t x : {tie, odd_tie, base + k - 2, ~(base + k - 2), 0 - tie, 0 - odd_tie}) w.push_back(x);
      }
    }
  }
  return w;
}

// u lies exactly halfway between two neighbouring doubles.
bool is_tie(std::uint64_t u) {
  const int e = std::bit_width(u) - 1;
  if (e < 53) return false;
  const std::uint64_t half = std::uint64_t{1} << (e - 53);
  return (u & (2 * half - 1)) == half;
}

}  // namespace

TEST_CASE("the vectorisable conversions give static_cast's bits, ties and extremes included") {
  // The words hold ties in every binade from 2^53 up, both ways, as unsigned and as signed
  // (magnitude) numbers: 89 and 166 of them.
  int unsigned_ties = 0, signed_ties = 0;
  for (const std::uint64_t u : edge_words()) {
    unsigned_ties += is_tie(u);
    signed_ties += is_tie(static_cast<std::int64_t>(u) < 0 ? 0 - u : u);
  }
  CHECK(unsigned_ties == 89);
  CHECK(signed_ties == 166);
  for (const std::uint64_t u : edge_words()) {
    CAPTURE(u);
    CHECK(same_bits(unsigned_to_double_by_halves(u), static_cast<double>(u)));
    CHECK(same_bits(signed_to_double_by_halves(u), static_cast<double>(static_cast<std::int64_t>(u))));
  }
  std::mt19937_64 words(7);
  int differ = 0;
  for (int i = 0; i < 1000000; ++i) {
    const std::uint64_t u = words() >> (i % 13);  // every magnitude, not only the top one
    differ += !same_bits(unsigned_to_double_by_halves(u), static_cast<double>(u));
    differ += !same_bits(signed_to_double_by_halves(u), static_cast<double>(static_cast<std::int64_t>(u)));
  }
  CHECK(differ == 0);
}
