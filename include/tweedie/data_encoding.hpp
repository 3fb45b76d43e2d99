// How the user's data become the model's data (scale, shift, quantisation, dequantisation), and
// bits per dimension of the user's data.
#pragma once

#include <tweedie/parallel.hpp>
#include <tweedie/types.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace tweedie {

/// How quantised data are made continuous.
enum class Dequantization {
  none,     ///< the data are already continuous values y in [0, 1) (dequantised by the caller)
  uniform,  ///< the data are integers k; y = (k + u) / 2^bits with u ~ U[0, 1) per entry
};
std::string_view to_string(Dequantization q);
Dequantization dequantization_from_string(std::string_view name);

/// Largest number of bits per value of quantised data.
inline constexpr int max_data_bits = 16;

/// The relation between the user's data y and the model's data x:
///   x = data_scale * y + data_shift   (data_scale > 0),
/// so log p_y(y) = log p_x(x) + d ln(data_scale); the shift does not change densities.
/// bits = 0 declares continuous data y. bits = b in 1..16 declares data quantised to 2^b levels
/// per dimension, either given as integers k in {0 .. 2^b - 1} and dequantised here
/// (Dequantization::uniform), or already dequantised to y in [0, 1) (Dequantization::none);
/// bits per dimension then count b more bits (see bits_per_dim).
struct DataEncoding {
  double data_scale = 1.0;  ///< dx/dy, e.g. 2 with data_shift -1 for y in [0, 1) to x in [-1, 1)
  double data_shift = 0.0;
  int bits = 0;             ///< 0 = continuous data; 1 .. max_data_bits = quantised data
  Dequantization dequantize = Dequantization::none;
  void validate() const;    ///< throws InvalidArgument naming the bad field
};

/// A one-line description, e.g. "8-bit integers k, y = (k + u) / 256 with u ~ U[0, 1); x = 2 y - 1".
std::string to_string(const DataEncoding& encoding);

/// The model's data x of the user's data y (rows are samples). Checks every entry first and
/// throws InvalidArgument naming the first bad one (row and column, from 0, in row-major order):
/// non-finite values; with uniform dequantisation, values that are not integers in
/// {0 .. 2^bits - 1}; with bits and no dequantisation, values outside [0, 1).
/// The dequantisation noise u of row i is drawn from the sample's own stream:
/// PhiloxNoise(seed).uniform_rows at sample first_sample + i, step 0, stage 0,
/// NoiseStream::dequantize, so x does not depend on the execution (threads, chunks) and a batch
/// may be split across calls with first_sample.
Matrix to_model_data(const ConstMatrixRef& data, const DataEncoding& encoding, std::uint64_t seed,
                     const Execution& execution = {}, std::uint64_t first_sample = 0);

/// Bits per dimension of the user's data from log p_x(x) in nats of the model's data x:
///   bpd = -(log p_x(x) + d ln(data_scale)) / (d ln 2) + bits.
/// The first term is -log2 p_y(y) / d. With quantised data (bits = b > 0) value k's bin has
/// width 2^-b in y, so P(k) = 2^-b E_u[p_y((k + u) / 2^b)] and, by Jensen,
/// -log2 P(k) / d <= E_u[-log2 p_y(y)] / d + b: the result is an (unbiased, single-draw) estimate
/// of that upper bound, in bits per b-bit value. For 8-bit data this is score_sde's offset
/// 7 - inverse_scaler(-1): 7 for data centred to [-1, 1) (data_scale 2), 8 for [0, 1).
/// The offset is never applied to data not declared quantised (bits = 0).
double bits_per_dim(double log_likelihood_nats, Eigen::Index dim, const DataEncoding& encoding);

}  // namespace tweedie
