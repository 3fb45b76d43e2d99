// Counter-based noise: Philox known answers, the normal transform, the stream layout.
#include "test_util.hpp"

#include <tweedie/random.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

using tweedie::Matrix;
using tweedie::NoiseStream;
using tweedie::PhiloxNoise;
using tweedie::test::bitwise_equal;

TEST_CASE("philox4x32_10 matches Random123's known-answer vectors") {
  // Random123 tests/kat_vectors, the three "philox4x32 10" lines (counter, key -> output).
  using Words = std::array<std::uint32_t, 4>;
  CHECK(tweedie::philox4x32_10({0, 0, 0, 0}, {0, 0}) ==
        Words{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8});
  CHECK(tweedie::philox4x32_10({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
                               {0xffffffff, 0xffffffff}) ==
        Words{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd});
  CHECK(tweedie::philox4x32_10({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
                               {0xa4093822, 0x299f31d0}) ==
        Words{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1});
}

TEST_CASE("normals pin noise layout versions 1 and 2 (golden values)") {
  // A regression test of the stream layouts: the first 4 normals of seed 7, row 0, step 0,
  // stage 0, stream prior, and 3 of another counter. They were derived independently of the
  // library from the layouts documented in random.hpp (tests/data/noise_golden.py: a separate
  // Philox4x32-10 that reproduces the known answers, key {row, seed}, counter {component/2, step,
  // stage, stream}, u01/uneg11 of the 64-bit words; version 1 with the C library's log, sin and
  // cos, version 2 with the polynomials spelled out in the header) and agree with the library to
  // the bit. A changed layout is a new version with its own values here; old ones stay.
  static_assert(tweedie::oldest_rng_stream_version == 1 && tweedie::rng_stream_version == 2);
  Matrix z(1, 4);
  PhiloxNoise(7, 1).normal(0, 0, 0, NoiseStream::prior, z);
  CHECK(z(0, 0) == 0x1.0b3cc1138ad8fp-1);   //  0.5219478927951274
  CHECK(z(0, 1) == -0x1.018dac400ff82p-1);  // -0.5030340030861995
  CHECK(z(0, 2) == -0x1.a4d8bc740eaf1p-2);  // -0.4109830327831068
  CHECK(z(0, 3) == -0x1.eaaaee1f96c5fp-1);  // -0.9583353437004795
  PhiloxNoise(7, 2).normal(0, 0, 0, NoiseStream::prior, z);
  CHECK(z(0, 0) == 0x1.0b3cc1138ad8fp-1);   //  0.5219478927951274
  CHECK(z(0, 1) == -0x1.018dac400ff83p-1);  // -0.5030340030861996
  CHECK(z(0, 2) == -0x1.a4d8bc740eaebp-2);  // -0.4109830327831065
  CHECK(z(0, 3) == -0x1.eaaaee1f96c60p-1);  // -0.9583353437004796
  Matrix w(1, 3);
  PhiloxNoise(0xfffffffe).normal(123456, 9, 2, NoiseStream::diffusion, w);  // the default: version 2
  CHECK(w(0, 0) == -0x1.fb2676f69fe49p+0);  // -1.9810556747542185
  CHECK(w(0, 1) == -0x1.0bec2c5addfefp+0);  // -1.046572467979782
  CHECK(w(0, 2) == -0x1.02585d7ac4c2fp+0);  // -1.0091608452537562
  CHECK(PhiloxNoise(1).stream_version() == tweedie::rng_stream_version);
}

TEST_CASE("normals of version 2 are those of version 1 to rounding") {
  // The same Philox words and the same Box-Muller, only log, sin and cos evaluated differently:
  // over 10^6 normals the two versions differ by a few units in the last place of |z| <= 6
  // (measured largest difference 1.8e-15), and never by more than 4e-15.
  Matrix z1(1000, 1000), z2(1000, 1000);
  PhiloxNoise(4242, 1).normal(0, 5, 0, NoiseStream::diffusion, z1);
  PhiloxNoise(4242, 2).normal(0, 5, 0, NoiseStream::diffusion, z2);
  CHECK((z2 - z1).cwiseAbs().maxCoeff() <= 4e-15);
  CHECK((z2.array() != z1.array()).any());  // a different stream, not the same bits
}

TEST_CASE("noise layout versions outside 1 .. 2 are refused") {
  CHECK_THROWS_WITH_AS(PhiloxNoise(1, 0), doctest::Contains("noise stream version 0 is not one of 1 .. 2"),
                       tweedie::InvalidArgument);
  CHECK_THROWS_WITH_AS(PhiloxNoise(1, 3), doctest::Contains("noise stream version 3"), tweedie::InvalidArgument);
}

namespace {

// 10^6 normals of layout `version`: 1000 rows (keys) x 1000 components (counters). Each
// statistic is checked within 4 standard errors of its N(0, 1) value: mean 1/sqrt(n), variance
// sqrt(2/n), skewness sqrt(6/n), excess kurtosis sqrt(24/n).
void check_standard_normal(int version) {
  CAPTURE(version);
  constexpr Eigen::Index rows = 1000, cols = 1000;
  const double n = static_cast<double>(rows * cols);
  Matrix z(rows, cols);
  PhiloxNoise(12345, version).normal(0, 3, 1, NoiseStream::diffusion, z);
  std::vector<double> v(z.data(), z.data() + z.size());
  double m1 = 0.0;
  for (double x : v) m1 += x;
  m1 /= n;
  double m2 = 0.0, m3 = 0.0, m4 = 0.0;
  for (double x : v) {
    const double d = x - m1, d2 = d * d;
    m2 += d2, m3 += d2 * d, m4 += d2 * d2;
  }
  m2 /= n, m3 /= n, m4 /= n;
  CHECK(std::fabs(m1) <= 4.0 / std::sqrt(n));
  CHECK(std::fabs(m2 - 1.0) <= 4.0 * std::sqrt(2.0 / n));
  CHECK(std::fabs(m3 / std::pow(m2, 1.5)) <= 4.0 * std::sqrt(6.0 / n));
  CHECK(std::fabs(m4 / (m2 * m2) - 3.0) <= 4.0 * std::sqrt(24.0 / n));

  // Kolmogorov-Smirnov against the normal CDF: under N(0, 1), sqrt(n) D_n tends to Kolmogorov's
  // distribution, whose 0.999 quantile is 1.949 (P(K > x) = 2 sum_k (-1)^(k-1) exp(-2 k^2 x^2)
  // = 0.001 at x = 1.949); at n = 10^6 the finite-n correction (about 0.12 / sqrt(n)) is negligible.
  std::sort(v.begin(), v.end());
  double d = 0.0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const double cdf = 0.5 * std::erfc(-v[i] / std::sqrt(2.0));
    d = std::max({d, cdf - static_cast<double>(i) / n, static_cast<double>(i + 1) / n - cdf});
  }
  CHECK(std::sqrt(n) * d < 1.95);

  // Tails: counts of |z| > 3 and |z| > 4 within 4 binomial standard deviations.
  for (double c : {3.0, 4.0}) {
    const double p = std::erfc(c / std::sqrt(2.0));
    const auto count = static_cast<double>(
        std::count_if(v.begin(), v.end(), [c](double x) { return std::fabs(x) > c; }));
    CAPTURE(c);
    CHECK(std::fabs(count - n * p) <= 4.0 * std::sqrt(n * p * (1.0 - p)));
  }
}

}  // namespace

TEST_CASE("normals have the moments, distribution and tails of N(0, 1) in both layouts") {
  check_standard_normal(1);
  check_standard_normal(2);
}

TEST_CASE("normals of a row do not depend on the batch it is drawn in") {
  const PhiloxNoise noise(99);
  Matrix batch(10, 5), alone(1, 5);
  noise.normal(0, 4, 2, NoiseStream::diffusion, batch);
  noise.normal(5, 4, 2, NoiseStream::diffusion, alone);
  CHECK(bitwise_equal(alone, batch.row(5)));
  Matrix tail(3, 5);
  noise.normal(7, 4, 2, NoiseStream::diffusion, tail);
  CHECK(bitwise_equal(tail, batch.bottomRows(3)));
}

TEST_CASE("normals of a row are the same in any block shape, position and stride (both layouts)") {
  // Version 2 draws the (row, block) pairs of a whole matrix in batches that cross rows: each
  // row must still get only its own counters. 129 columns: 65 blocks, more than one batch.
  for (int version : {1, 2}) {
    CAPTURE(version);
    const PhiloxNoise noise(31, version);
    Matrix batch(37, 129);
    noise.normal(1000, 2, 1, NoiseStream::diffusion, batch);
    for (Eigen::Index i : {0, 1, 17, 36}) {
      Matrix alone(1, 129);
      noise.normal(1000 + static_cast<std::uint64_t>(i), 2, 1, NoiseStream::diffusion, alone);
      CHECK(bitwise_equal(alone, batch.row(i)));
    }
    Matrix wide = Matrix::Zero(40, 140);  // a strided block of a larger matrix
    noise.normal(1005, 2, 1, NoiseStream::diffusion, wide.block(3, 5, 20, 129));
    CHECK(bitwise_equal(wide.block(3, 5, 20, 129), batch.middleRows(5, 20)));
    CHECK(wide.leftCols(5).isZero(0.0));
    CHECK(wide.rightCols(6).isZero(0.0));
    Matrix narrow(300, 2), narrow_alone(1, 2);  // one block per row: 64 rows per batch
    noise.normal(0, 0, 0, NoiseStream::prior, narrow);
    noise.normal(250, 0, 0, NoiseStream::prior, narrow_alone);
    CHECK(bitwise_equal(narrow_alone, narrow.row(250)));
  }
}

TEST_CASE("normals differ between seeds, streams, steps, stages and rows") {
  Matrix ref(4, 6);
  PhiloxNoise(1).normal(0, 0, 0, NoiseStream::prior, ref);
  auto all_differ = [&](const Matrix& other) { return (other.array() != ref.array()).all(); };
  Matrix z(4, 6);
  PhiloxNoise(2).normal(0, 0, 0, NoiseStream::prior, z);
  CHECK(all_differ(z));
  PhiloxNoise(1).normal(0, 0, 0, NoiseStream::diffusion, z);
  CHECK(all_differ(z));
  PhiloxNoise(1).normal(0, 1, 0, NoiseStream::prior, z);
  CHECK(all_differ(z));
  PhiloxNoise(1).normal(0, 0, 1, NoiseStream::prior, z);
  CHECK(all_differ(z));
  PhiloxNoise(1).normal(4, 0, 0, NoiseStream::prior, z);
  CHECK(all_differ(z));
  // Within a draw, rows and component pairs use distinct counters.
  CHECK((ref.row(0).array() != ref.row(1).array()).all());
  CHECK((ref.leftCols(2).array() != ref.middleCols(2, 2).array()).all());
}

TEST_CASE("normals in an odd dimension are the leading components of the even one") {
  // Components 2k and 2k+1 come from block k, so dimension 3 is dimension 4 without its last.
  const PhiloxNoise noise(5);
  Matrix odd(6, 3), even(6, 4), one(6, 1);
  noise.normal(10, 1, 0, NoiseStream::marginal, odd);
  noise.normal(10, 1, 0, NoiseStream::marginal, even);
  noise.normal(10, 1, 0, NoiseStream::marginal, one);
  CHECK(bitwise_equal(odd, even.leftCols(3)));
  CHECK(bitwise_equal(one, even.leftCols(1)));
  CHECK(odd.allFinite());
}

TEST_CASE("uniforms lie in (0, 1], follow the batch rule and have mean 1/2") {
  const PhiloxNoise noise(8);
  tweedie::Vector u(100000);
  noise.uniform(0, 0, 0, NoiseStream::component, u);
  CHECK(u.minCoeff() > 0.0);
  CHECK(u.maxCoeff() <= 1.0);
  // Mean within 4 SE (sd of U(0,1) = 1/sqrt(12)).
  CHECK(std::fabs(u.mean() - 0.5) <= 4.0 / std::sqrt(12.0 * static_cast<double>(u.size())));
  tweedie::Vector one(1);
  noise.uniform(777, 0, 0, NoiseStream::component, one);
  CHECK(one(0) == u(777));
}

TEST_CASE("uniform_rows follow the documented layout: words of block k to components 2k, 2k+1") {
  const PhiloxNoise noise(21);
  Matrix u(2, 5);
  noise.uniform_rows(40, 3, 2, NoiseStream::dequantize, u);
  for (std::uint32_t i = 0; i < 2; ++i) {
    for (std::uint32_t k = 0; k < 3; ++k) {
      const auto w = tweedie::philox4x32_10({k, 3u, 2u, 6u}, {40u + i, 21u});
      const std::uint64_t u0 = w[0] | (static_cast<std::uint64_t>(w[1]) << 32);
      const std::uint64_t u1 = w[2] | (static_cast<std::uint64_t>(w[3]) << 32);
      CHECK(u(i, 2 * k) == static_cast<double>(u0 >> 11) * 0x1.0p-53);
      if (2 * k + 1 < 5) CHECK(u(i, 2 * k + 1) == static_cast<double>(u1 >> 11) * 0x1.0p-53);
    }
  }
  CHECK(static_cast<std::uint32_t>(NoiseStream::dequantize) == 6u);  // appended: version 1 unchanged
}

TEST_CASE("seeds and sample indices beyond 32 bits are refused") {
  CHECK_NOTHROW(PhiloxNoise(tweedie::max_seed));
  CHECK_THROWS_WITH_AS(PhiloxNoise(tweedie::max_seed + 1), doctest::Contains("seed 4294967296"),
                       tweedie::InvalidArgument);
  const PhiloxNoise noise(0);
  Matrix z(2, 2);
  CHECK_NOTHROW(noise.normal(tweedie::max_samples - 2, 0, 0, NoiseStream::prior, z));
  CHECK_THROWS_AS(noise.normal(tweedie::max_samples - 1, 0, 0, NoiseStream::prior, z),
                  tweedie::InvalidArgument);
}

TEST_CASE("normals written into a view of a wider matrix are those of a matrix of their own") {
  // Layout version 2 stores a batch with one copy when the rows are consecutive in memory and d
  // is even, and run by run otherwise: both must give the same bits, across batches of blocks.
  const PhiloxNoise noise(31);
  for (const Eigen::Index d : {1, 2, 5, 6, 64, 67}) {
    CAPTURE(d);
    Matrix own(37, d), wide = Matrix::Constant(37, d + 3, 9.0);
    noise.normal(11, 2, 1, NoiseStream::diffusion, own);
    noise.normal(11, 2, 1, NoiseStream::diffusion, wide.middleCols(1, d));
    CHECK(bitwise_equal(own, wide.middleCols(1, d)));
    CHECK((wide.col(0).array() == 9.0).all());  // nothing written outside the view
    CHECK((wide.rightCols(2).array() == 9.0).all());
    for (Eigen::Index i : {0, 17, 36}) {  // and each row as if drawn alone
      Matrix alone(1, d);
      noise.normal(11 + static_cast<std::uint64_t>(i), 2, 1, NoiseStream::diffusion, alone);
      CHECK(bitwise_equal(alone, own.row(i)));
    }
  }
}
