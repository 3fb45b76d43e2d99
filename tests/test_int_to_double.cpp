// detail::unsigned_to_double and signed_to_double, noise stream 2's vectorisable conversions,
// against static_cast on the values where rounding is decided and on random words.
#include "int_to_double.hpp"

#include <doctest/doctest.h>

#include <bit>
#include <cstdint>
#include <random>
#include <vector>

using tweedie::detail::signed_to_double;
using tweedie::detail::unsigned_to_double;

namespace {

bool same_bits(double a, double b) { return std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b); }

// Around every power of two from 2^50 to 2^63 (where the 53-bit mantissa starts to round) the
// neighbours of the halfway points between representable doubles, and the extremes.
std::vector<std::uint64_t> edge_words() {
  std::vector<std::uint64_t> w = {0, 1, 0xFFFFFFFFu, 0x100000000u, 0xFFFFFFFFFFFFFFFFu, 0x8000000000000000u,
                                  0x7FFFFFFFFFFFFFFFu, 0x8000000000000001u};
  for (int e = 50; e < 64; ++e) {
    const std::uint64_t p = std::uint64_t{1} << e;
    const std::uint64_t half_ulp = e > 53 ? std::uint64_t{1} << (e - 54) : 0;
    for (std::uint64_t base : {p, p + (p >> 1), p + (p >> 3) * 5}) {
      for (std::uint64_t k = 0; k < 5; ++k) {
        for (std::uint64_t x : {base + half_ulp + k - 2, base + 3 * half_ulp + k - 2, base + k - 2, ~(base + k - 2)}) {
          w.push_back(x);
        }
      }
    }
  }
  return w;
}

}  // namespace

TEST_CASE("the vectorisable conversions give static_cast's bits, ties and extremes included") {
  for (const std::uint64_t u : edge_words()) {
    CAPTURE(u);
    CHECK(same_bits(unsigned_to_double(u), static_cast<double>(u)));
    CHECK(same_bits(signed_to_double(u), static_cast<double>(static_cast<std::int64_t>(u))));
  }
  std::mt19937_64 words(7);
  int differ = 0;
  for (int i = 0; i < 1000000; ++i) {
    const std::uint64_t u = words() >> (i % 13);  // every magnitude, not only the top one
    differ += !same_bits(unsigned_to_double(u), static_cast<double>(u));
    differ += !same_bits(signed_to_double(u), static_cast<double>(static_cast<std::int64_t>(u)));
  }
  CHECK(differ == 0);
}
