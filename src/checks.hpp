// Input checks shared by the drivers (sampling, flows, likelihoods, bounds): finiteness of
// batches, the message that names a non-finite model output, and the checks of a data batch.
#pragma once

#include <tweedie/model.hpp>
#include <tweedie/sde.hpp>

#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace tweedie::detail {

/// Whether every entry is finite: x - x is 0 for finite x and NaN otherwise, and the sum
/// vectorises (Eigen's allFinite does not; it cost 17% of an Euler step at d = 64).
inline bool all_finite(const ConstMatrixRef& m) {
  return std::isfinite((m.array() - m.array()).sum());
}

/// The first non-finite entry of a matrix, as (row, column); (-1, -1) when all are finite.
std::pair<Eigen::Index, Eigen::Index> first_non_finite(const ConstMatrixRef& m);

/// "the model's noise output is nan in component 3" (or "..., as score, ..." when converted).
std::string non_finite_output(Prediction model_prediction, Prediction want, double value,
                              Eigen::Index component);

/// Throws InvalidArgument unless 0 < t_min < T (a data time strictly inside the family's domain).
void check_t_min(const Sde& sde, double t_min);

/// Throws InvalidArgument unless the n samples first_sample .. first_sample + n - 1 are indices of
/// one seed's streams (below max_samples): what every driver's first-sample offset must respect.
void check_sample_range(std::uint64_t first_sample, std::size_t n);

/// Checks a batch `x` named `what` ("data", "latents") in the messages: at least one column, the
/// model's dimension, at most max_samples rows, finite values (the first bad one named by row
/// and column). Throws InvalidArgument.
void check_batch(const ScoreModel& model, const ConstMatrixRef& x, std::string_view what);

/// Checks per-sample class labels for `model`: empty, or one per sample, each a class of the
/// model or its null class (the first bad one named by its global index first_sample + i). Labels
/// for an unconditional model, and no labels for a conditional model without a null class, are
/// refused. Throws InvalidArgument.
void check_labels(const ScoreModel& model, std::span<const int> labels, std::size_t n,
                  std::uint64_t first_sample = 0);

}  // namespace tweedie::detail
