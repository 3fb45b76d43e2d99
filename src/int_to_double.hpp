// 64-bit integers to double in operations that vectorise on every x86-64: the packed 64-bit
// conversions are AVX-512DQ instructions, and without them the compiler converts one lane at a
// time, which made noise stream 2 three times slower on AVX2. The results are the correctly
// rounded conversions themselves (in the default rounding mode), so the bits are static_cast's.
#pragma once

#include <bit>
#include <cstdint>

namespace tweedie::detail {

/// The low 32 bits of u, exactly: read off the mantissa of 2^52 + lo.
inline double low_half(std::uint64_t u) {
  return std::bit_cast<double>((u & 0xFFFFFFFFu) | 0x4330000000000000u) - 0x1p52;
}

/// static_cast<double>(u) through the 32-bit halves: the high one is read exactly off the mantissa
/// of 2^84 + hi 2^32, and the two exact values add with one rounding, that of the conversion.
inline double unsigned_to_double_by_halves(std::uint64_t u) {
  const double lo = low_half(u);
  const double hi = std::bit_cast<double>((u >> 32) | 0x4530000000000000u) - 0x1p84;
  return hi + lo;
}

/// static_cast<double>(static_cast<std::int64_t>(u)) likewise, the high half biased by 2^31
/// (u + 2^63 as unsigned) so that it too is read as an unsigned number.
inline double signed_to_double_by_halves(std::uint64_t u) {
  const std::uint64_t biased = u ^ 0x8000000000000000u;
  const double lo = low_half(u);
  const double hi = std::bit_cast<double>((biased >> 32) | 0x4530000000000000u) - (0x1p84 + 0x1p63);
  return hi + lo;
}

#if defined(__AVX512DQ__)  // the conversions are single instructions there
inline double unsigned_to_double(std::uint64_t u) { return static_cast<double>(u); }
inline double signed_to_double(std::uint64_t u) { return static_cast<double>(static_cast<std::int64_t>(u)); }
#else
inline double unsigned_to_double(std::uint64_t u) { return unsigned_to_double_by_halves(u); }
inline double signed_to_double(std::uint64_t u) { return signed_to_double_by_halves(u); }
#endif

}  // namespace tweedie::detail
