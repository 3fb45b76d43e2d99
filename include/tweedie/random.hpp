// Counter-based noise: a pure function of (seed, sample, step, stage, stream, component).
#pragma once

#include <tweedie/types.hpp>

#include <array>
#include <cstdint>

namespace tweedie {

/// Versions of the stream layout below. Any change to a layout changes the samples of every
/// seed, so a changed layout gets a new number (with golden values in the tests) and the old ones
/// stay selectable, so that results drawn with them can be reproduced.
///
/// Both versions use Philox4x32-10 (Random123) with
///   key     = {global sample index, seed}                (both 32 bits)
///   counter = {component / 2, step, stage, stream}       (32 bits each)
/// One block gives 4 words w0..w3; they form two 64-bit integers u0 = w0 | w1 << 32 and
/// u1 = w2 | w3 << 32, which become the normals of components 2k (x) and 2k + 1 (y) of block k
/// (an odd last component drops y), with
///   v0 = int64(u0) 2^-63 + 2^-64 in [-1, 1]    (r123::uneg11<double>)
///   v1 = u1 2^-64 + 2^-65 in (0, 1]            (r123::u01<double>)
///   x = sqrt(-2 log v1) sin(pi v0),  y = sqrt(-2 log v1) cos(pi v0).
/// Version 1 evaluates log, sin and cos with the C library (Random123's boxmuller: its bits can
/// differ between C library releases). Version 2 (the default) evaluates them with the branch-free
/// polynomials of random.cpp and log_poly.hpp in plain IEEE double arithmetic, which the
/// compiler vectorises (about 5x faster): log v1 = k ln 2 + 2 atanh(s) with v1 = m 2^k, m in [sqrt(1/2), sqrt(2)),
/// s = (m - 1) / (m + 1) and the atanh series to s^23; sin and cos of pi v0 by the quadrant
/// q = round(2 v0) and Taylor polynomials (to a^17, a^18) of a = pi (v0 - q / 2) in [-pi/4, pi/4].
/// Its normals are within 2e-15 of version 1's, and its bits do not depend on the C library or
/// the instruction set.
/// Uniforms (stream kinds that need them) are the same in both versions: uniform takes u0 of
/// block 0 to r123::u01<double>; rows of uniforms in [0, 1) (uniform_rows) take u0 and u1 of
/// block k to components 2k and 2k+1 as their top 53 bits times 2^-53.
/// Nothing depends on the thread, the chunk or a floating-point time.
inline constexpr int rng_stream_version = 2;       ///< the default (newest) layout
inline constexpr int oldest_rng_stream_version = 1;  ///< the oldest layout still selectable

/// Throws InvalidArgument unless oldest_rng_stream_version <= version <= rng_stream_version.
void check_stream_version(int version);

/// Named streams, so that two uses of noise at the same step never share numbers.
enum class NoiseStream : std::uint32_t {
  prior = 0,       ///< the initial state at T
  diffusion = 1,   ///< the Brownian increments of a reverse SDE
  corrector = 2,   ///< Langevin correctors
  component = 3,   ///< component choice when sampling a mixture
  marginal = 4,    ///< exact samples of p_t
  probe = 5,       ///< Hutchinson probes
  dequantize = 6,  ///< uniform dequantisation of quantised data (data_encoding.hpp)
  elbo = 7,        ///< Monte Carlo draws (t, eps) of the variational bound (elbo.hpp)
  observe = 8,     ///< the noise of the observed coordinates under imputation (imputation.hpp)
};

/// The raw Philox4x32-10 block (exposed for known-answer tests).
std::array<std::uint32_t, 4> philox4x32_10(std::array<std::uint32_t, 4> counter,
                                           std::array<std::uint32_t, 2> key);

/// Where noise comes from. The default is PhiloxNoise; tests substitute other sources (for
/// instance a Brownian path shared between nested grids). Implementations must be pure
/// functions of their arguments: they are called concurrently.
class NoiseSource {
 public:
  virtual ~NoiseSource() = default;
  /// out.row(i) = standard normals of sample first_row + i at (step, stage, stream).
  virtual void normal(std::uint64_t first_row, std::uint32_t step, std::uint32_t stage,
                      NoiseStream stream, MatrixRef out) const = 0;
};

/// The counter-based generator of the layout above, in layout version `stream_version`.
class PhiloxNoise final : public NoiseSource {
 public:
  /// seed < 2^32; throws InvalidArgument on a bad seed or layout version.
  explicit PhiloxNoise(std::uint64_t seed, int stream_version = rng_stream_version);
  void normal(std::uint64_t first_row, std::uint32_t step, std::uint32_t stage, NoiseStream stream,
              MatrixRef out) const override;
  /// out(i) = uniform in (0, 1] for sample first_row + i (component 0 of the given counter).
  void uniform(std::uint64_t first_row, std::uint32_t step, std::uint32_t stage, NoiseStream stream,
               VectorRef out) const;
  /// out.row(i) = uniforms in [0, 1) of sample first_row + i, one per component.
  void uniform_rows(std::uint64_t first_row, std::uint32_t step, std::uint32_t stage, NoiseStream stream,
                    MatrixRef out) const;
  std::uint32_t seed() const noexcept { return seed_; }
  int stream_version() const noexcept { return version_; }

 private:
  std::uint32_t seed_;
  int version_;
};

/// Largest seed and sample count that the 32-bit key words can address.
inline constexpr std::uint64_t max_seed = 0xffffffffULL;
inline constexpr std::uint64_t max_samples = 0x100000000ULL;

}  // namespace tweedie
