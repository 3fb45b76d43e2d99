// Distances between sample sets and exact distributions, for comparing samplers.
#pragma once

#include <tweedie/random.hpp>
#include <tweedie/types.hpp>

#include <cstdint>

namespace tweedie {

/// Sliced 2-Wasserstein distance between two equally sized sample sets: the root mean over
/// `projections` random unit directions (drawn from `seed` in noise layout version
/// `noise_stream`) of the squared W2 distance of the projected, sorted samples.
double sliced_wasserstein(const ConstMatrixRef& a, const ConstMatrixRef& b, int projections = 128,
                          std::uint64_t seed = 0, int noise_stream = rng_stream_version);

/// Sample mean (row vector) and unbiased sample covariance of the rows.
Eigen::RowVectorXd sample_mean(const ConstMatrixRef& x);
Eigen::MatrixXd sample_covariance(const ConstMatrixRef& x);

/// Frechet distance between the Gaussians fitted to two sample sets (sample means and unbiased
/// covariances; the squared 2-Wasserstein distance between those Gaussians, the statistic of
/// FID): |m_a - m_b|^2 + tr(C_a + C_b - 2 (C_a^1/2 C_b C_a^1/2)^1/2). The sets may differ in
/// size; each needs two rows or more and the same columns.
double frechet_distance(const ConstMatrixRef& a, const ConstMatrixRef& b);

}  // namespace tweedie
