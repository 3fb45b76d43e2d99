// Counter-based noise: a pure function of (seed, sample, step, stage, stream, component).
#pragma once

#include <tweedie/types.hpp>

#include <array>
#include <cstdint>

namespace tweedie {

/// Version of the stream layout below. Any change to it changes the samples of every seed, and
/// bumps this number (with the golden values in the tests) in the same commit.
///
/// Layout, version 1: Philox4x32-10 (Random123) with
///   key     = {global sample index, seed}                (both 32 bits)
///   counter = {component / 2, step, stage, stream}       (32 bits each)
/// One block gives 4 words; words (0,1) and (2,3) form two 64-bit integers u0 = w0 | w1 << 32,
/// u1 = w2 | w3 << 32, and Random123's Box-Muller turns them into the normals of components
/// 2k and 2k+1. Uniforms (stream kinds that need them) take u0 of block k to r123::u01<double>;
/// rows of uniforms in [0, 1) (uniform_rows) take u0 and u1 of block k to components 2k and 2k+1
/// as their top 53 bits times 2^-53.
/// Nothing depends on the thread, the chunk or a floating-point time.
inline constexpr int rng_stream_version = 1;

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

/// The counter-based generator of the layout above.
class PhiloxNoise final : public NoiseSource {
 public:
  explicit PhiloxNoise(std::uint64_t seed);  ///< seed < 2^32
  void normal(std::uint64_t first_row, std::uint32_t step, std::uint32_t stage, NoiseStream stream,
              MatrixRef out) const override;
  /// out(i) = uniform in (0, 1] for sample first_row + i (component 0 of the given counter).
  void uniform(std::uint64_t first_row, std::uint32_t step, std::uint32_t stage, NoiseStream stream,
               VectorRef out) const;
  /// out.row(i) = uniforms in [0, 1) of sample first_row + i, one per component.
  void uniform_rows(std::uint64_t first_row, std::uint32_t step, std::uint32_t stage, NoiseStream stream,
                    MatrixRef out) const;
  std::uint32_t seed() const noexcept { return seed_; }

 private:
  std::uint32_t seed_;
};

/// Largest seed and sample count that the 32-bit key words can address.
inline constexpr std::uint64_t max_seed = 0xffffffffULL;
inline constexpr std::uint64_t max_samples = 0x100000000ULL;

}  // namespace tweedie
