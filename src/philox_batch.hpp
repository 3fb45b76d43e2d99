// Philox4x32-10 (Salmon et al., SC'11; Random123's r123::Philox4x32_R<10>) on many blocks at
// once, one block per 32-bit vector lane: noise stream 2's words. Integer arithmetic is exact, so
// the words are Random123's on every instruction set; the lanes only make them cheaper. GCC
// vectorises Random123's scalar rounds itself, but with full 64 x 64-bit multiplies (vpmullq) and
// shuffles for what is a 32 x 32 -> 64-bit product of every other lane (pmuludq): 1.2x faster
// normals at d = 64 with AVX-512 (docs/benchmarks.md).
#pragma once

#include <Random123/philox.h>

#include <cstdint>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

namespace tweedie::detail {
// The code below differs with the instruction set: an inline namespace per set gives each its own
// names, so translation units built for different sets cannot clash.
#if defined(__AVX512F__)
inline namespace philox_avx512 {
#elif defined(__AVX2__)
inline namespace philox_avx2 {
#elif defined(__SSE2__)
inline namespace philox_sse2 {
#else
inline namespace philox_scalar {
#endif

inline constexpr std::uint32_t philox_m0 = PHILOX_M4x32_0, philox_m1 = PHILOX_M4x32_1;  // the round multipliers
inline constexpr std::uint32_t philox_w0 = PHILOX_W32_0, philox_w1 = PHILOX_W32_1;      // the key's Weyl steps

namespace philox_simd {
#if defined(__AVX512F__)
using V = __m512i;
inline constexpr int lanes = 16;
inline V load(const std::uint32_t* p) { return _mm512_loadu_si512(p); }
inline void store(std::uint32_t* p, V v) { _mm512_storeu_si512(p, v); }
inline V set1(std::uint32_t x) { return _mm512_set1_epi32(static_cast<int>(x)); }
inline V add(V a, V b) { return _mm512_add_epi32(a, b); }
inline V xor3(V a, V b, V c) { return _mm512_ternarylogic_epi32(a, b, c, 0x96); }
inline V mul_even(V a, V b) { return _mm512_mul_epu32(a, b); }
inline V srli64(V a) { return _mm512_srli_epi64(a, 32); }
inline V slli64(V a) { return _mm512_slli_epi64(a, 32); }
inline V odd_from(V even_lanes, V odd_lanes) { return _mm512_mask_blend_epi32(0xAAAA, even_lanes, odd_lanes); }
#elif defined(__AVX2__)
using V = __m256i;
inline constexpr int lanes = 8;
inline V load(const std::uint32_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
inline void store(std::uint32_t* p, V v) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v); }
inline V set1(std::uint32_t x) { return _mm256_set1_epi32(static_cast<int>(x)); }
inline V add(V a, V b) { return _mm256_add_epi32(a, b); }
inline V xor3(V a, V b, V c) { return _mm256_xor_si256(_mm256_xor_si256(a, b), c); }
inline V mul_even(V a, V b) { return _mm256_mul_epu32(a, b); }
inline V srli64(V a) { return _mm256_srli_epi64(a, 32); }
inline V slli64(V a) { return _mm256_slli_epi64(a, 32); }
inline V odd_from(V even_lanes, V odd_lanes) { return _mm256_blend_epi32(even_lanes, odd_lanes, 0xAA); }
#elif defined(__SSE2__)
using V = __m128i;
inline constexpr int lanes = 4;
inline V load(const std::uint32_t* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }
inline void store(std::uint32_t* p, V v) { _mm_storeu_si128(reinterpret_cast<__m128i*>(p), v); }
inline V set1(std::uint32_t x) { return _mm_set1_epi32(static_cast<int>(x)); }
inline V add(V a, V b) { return _mm_add_epi32(a, b); }
inline V xor3(V a, V b, V c) { return _mm_xor_si128(_mm_xor_si128(a, b), c); }
inline V mul_even(V a, V b) { return _mm_mul_epu32(a, b); }
inline V srli64(V a) { return _mm_srli_epi64(a, 32); }
inline V slli64(V a) { return _mm_slli_epi64(a, 32); }
inline V odd_from(V even_lanes, V odd_lanes) {  // SSE2 has no 32-bit blend: mask and combine
  const V odd_mask = _mm_set_epi32(-1, 0, -1, 0);
  return _mm_or_si128(_mm_andnot_si128(odd_mask, even_lanes), _mm_and_si128(odd_mask, odd_lanes));
}
#endif

#if defined(__SSE2__)
/// hi and lo words of m * a in every 32-bit lane: the even lanes' 64-bit products, then the odd
/// lanes' (shifted down into the even positions), interleaved back.
inline void mulhilo(V m, V a, V& hi, V& lo) {
  const V even = mul_even(a, m), odd = mul_even(srli64(a), m);
  lo = odd_from(even, slli64(odd));
  hi = odd_from(srli64(even), odd);
}
#endif
}  // namespace philox_simd

/// The words of n blocks with counters (c0[k], c1, c2, c3) and keys (k0[k], k1), block k's into
/// w0[k], w1[k], w2[k], w3[k].
inline void philox4x32_10_blocks(const std::uint32_t* c0, std::uint32_t c1, std::uint32_t c2, std::uint32_t c3,
                                 const std::uint32_t* k0, std::uint32_t k1, std::uint32_t* w0, std::uint32_t* w1,
                                 std::uint32_t* w2, std::uint32_t* w3, long n) {
  long k = 0;
#if defined(__SSE2__)
  namespace s = philox_simd;
  const s::V m0 = s::set1(philox_m0), m1 = s::set1(philox_m1);
  const s::V step0 = s::set1(philox_w0), step1 = s::set1(philox_w1);
  for (; k + s::lanes <= n; k += s::lanes) {
    s::V x0 = s::load(c0 + k), x1 = s::set1(c1), x2 = s::set1(c2), x3 = s::set1(c3);
    s::V key0 = s::load(k0 + k), key1 = s::set1(k1);
    for (int round = 0; round < 10; ++round) {
      if (round > 0) key0 = s::add(key0, step0), key1 = s::add(key1, step1);
      s::V hi0, lo0, hi1, lo1;
      s::mulhilo(m0, x0, hi0, lo0);
      s::mulhilo(m1, x2, hi1, lo1);
      x0 = s::xor3(hi1, x1, key0);
      x1 = lo1;
      x2 = s::xor3(hi0, x3, key1);
      x3 = lo0;
    }
    s::store(w0 + k, x0);
    s::store(w1 + k, x1);
    s::store(w2 + k, x2);
    s::store(w3 + k, x3);
  }
#endif
  const r123::Philox4x32_R<10> rng;  // the blocks that do not fill the lanes
  for (; k < n; ++k) {
    const auto w = rng({{c0[k], c1, c2, c3}}, {{k0[k], k1}});
    w0[k] = w[0], w1[k] = w[1], w2[k] = w[2], w3[k] = w[3];
  }
}

}  // inline namespace of the instruction set
}  // namespace tweedie::detail
