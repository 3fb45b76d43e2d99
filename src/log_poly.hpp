// log(u) in plain IEEE double arithmetic without branches or library calls: the same bits on
// every instruction set and C library, and a loop of them vectorises. Noise stream 2's Box-Muller
// (random.cpp, pinned by golden values) and the mixture kernel's log-normalisers use it.
#pragma once

#include <bit>
#include <cstdint>

namespace tweedie::detail {

/// log(u) for a positive normal u: u = m 2^k with m in [sqrt(1/2), sqrt(2)), log m = 2 atanh(s),
/// s = (m - 1) / (m + 1), |s| <= 0.172; the series to s^23 leaves under 1e-17 relative, and
/// log(1) is exactly 0.
inline double log_poly(double u) {
  const auto bits = std::bit_cast<std::uint64_t>(u);
  // The exponent converts from 32 bits (exactly; a packed 64-bit conversion needs AVX-512DQ).
  const auto e = static_cast<double>(static_cast<std::int32_t>(bits >> 52) - 1023);
  const double m1 = std::bit_cast<double>((bits & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL);
  const bool big = m1 > 1.4142135623730951;
  // m = big ? m1 / 2 : m1 and k = big ? e + 1 : e, written so that no floating-point operation is
  // conditional (one could raise an exception, and the compiler then vectorises the loop only
  // with AVX-512's masked operations): halving m1 in [1, 2) lowers its exponent field by one,
  // and e + 0 is e.
  const double m = std::bit_cast<double>(std::bit_cast<std::uint64_t>(m1) - (big ? 0x0010000000000000ULL : 0));
  const double k = e + (big ? 1.0 : 0.0);
  const double s = (m - 1.0) / (m + 1.0), s2 = s * s;
  const double p =
      1.0 / 3 + s2 * (1.0 / 5 + s2 * (1.0 / 7 + s2 * (1.0 / 9 + s2 * (1.0 / 11 + s2 * (1.0 / 13 + s2 * (1.0 / 15 +
      s2 * (1.0 / 17 + s2 * (1.0 / 19 + s2 * (1.0 / 21 + s2 * (1.0 / 23))))))))));
  constexpr double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
  return k * ln2_hi + (2.0 * s + (2.0 * s * s2 * p + k * ln2_lo));
}

}  // namespace tweedie::detail
