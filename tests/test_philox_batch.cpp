// detail::philox4x32_10_blocks (noise stream 2's Philox, one block per vector lane) against
// Random123's r123::Philox4x32_R<10> on random counters and keys, for counts of blocks that fill
// the lanes of SSE2, AVX2 and AVX-512 and leave tails. A build compiles one of those paths (the
// dev and CI builds: SSE2); the others were checked by building this file with
// -march=x86-64-v3 and -march=native (Random123's known answers: test_random.cpp).
#include "philox_batch.hpp"

#include <Random123/philox.h>

#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <vector>

using tweedie::detail::philox4x32_10_blocks;

TEST_CASE("philox4x32_10_blocks gives Random123's words for every block and lane") {
  std::mt19937 engine(11);
  r123::Philox4x32_R<10> rng;
  for (const long n : {1L, 3L, 4L, 7L, 8L, 15L, 16L, 17L, 64L, 100L}) {
    CAPTURE(n);
    std::vector<std::uint32_t> c0(n), k0(n), w0(n), w1(n), w2(n), w3(n);
    for (long k = 0; k < n; ++k) c0[k] = engine(), k0[k] = engine();
    const std::uint32_t c1 = engine(), c2 = engine(), c3 = engine(), k1 = engine();
    philox4x32_10_blocks(c0.data(), c1, c2, c3, k0.data(), k1, w0.data(), w1.data(), w2.data(), w3.data(), n);
    for (long k = 0; k < n; ++k) {
      CAPTURE(k);
      const auto w = rng({{c0[k], c1, c2, c3}}, {{k0[k], k1}});
      CHECK(w0[k] == w[0]);
      CHECK(w1[k] == w[1]);
      CHECK(w2[k] == w[2]);
      CHECK(w3[k] == w[3]);
    }
  }
}
