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

/// How far each row of `samples` is from the same row of `reference` (the solution from the
/// same initial point): the per-row RMS over coordinates ||a_i - b_i|| / sqrt(d), summarised.
/// The median is robust to the few rows a coarse solver sends into a neighbouring mode.
struct RowErrors {
  double mean = 0.0, median = 0.0, max = 0.0;
};
/// Throws InvalidArgument unless the shapes are equal and non-empty.
RowErrors ode_error(const ConstMatrixRef& samples, const ConstMatrixRef& reference);

/// ||sample mean of x - mean||_2 (mean: 1 x d).
double mean_error(const ConstMatrixRef& x, const Eigen::RowVectorXd& mean);
/// ||unbiased sample covariance of x - covariance||_F (covariance: d x d; x needs two rows).
double covariance_error(const ConstMatrixRef& x, const Eigen::MatrixXd& covariance);

/// Sample mean (row vector) and unbiased sample covariance of the rows.
Eigen::RowVectorXd sample_mean(const ConstMatrixRef& x);
Eigen::MatrixXd sample_covariance(const ConstMatrixRef& x);

/// Frechet distance between the Gaussians fitted to two sample sets (sample means and unbiased
/// covariances; the squared 2-Wasserstein distance between those Gaussians, the statistic of
/// FID): |m_a - m_b|^2 + tr(C_a + C_b - 2 (C_a^1/2 C_b C_a^1/2)^1/2). The sets may differ in
/// size; each needs two rows or more and the same columns.
double frechet_distance(const ConstMatrixRef& a, const ConstMatrixRef& b);

}  // namespace tweedie
