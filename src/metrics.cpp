#include <tweedie/metrics.hpp>
#include <tweedie/random.hpp>

#include <Eigen/Eigenvalues>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace tweedie {

double sliced_wasserstein(const ConstMatrixRef& a, const ConstMatrixRef& b, int projections,
                          std::uint64_t seed, int noise_stream) {
  if (a.rows() != b.rows() || a.cols() != b.cols() || a.rows() == 0) {
    throw InvalidArgument(fmt::format("sliced_wasserstein: sample sets of shapes {}x{} and {}x{} "
                                      "(they must be equal and non-empty)",
                                      a.rows(), a.cols(), b.rows(), b.cols()));
  }
  if (projections < 1) throw InvalidArgument("sliced_wasserstein: projections must be >= 1");
  Matrix directions(projections, a.cols());
  PhiloxNoise(seed, noise_stream).normal(0, 0, 0, NoiseStream::probe, directions);
  directions.rowwise().normalize();
  const Matrix pa = a * directions.transpose(), pb = b * directions.transpose();
  std::vector<double> u(static_cast<std::size_t>(a.rows())), v(u.size());
  double total = 0.0;
  for (int p = 0; p < projections; ++p) {
    for (Eigen::Index i = 0; i < a.rows(); ++i) {
      u[static_cast<std::size_t>(i)] = pa(i, p);
      v[static_cast<std::size_t>(i)] = pb(i, p);
    }
    std::sort(u.begin(), u.end());
    std::sort(v.begin(), v.end());
    double w2 = 0.0;
    for (std::size_t i = 0; i < u.size(); ++i) w2 += (u[i] - v[i]) * (u[i] - v[i]);
    total += w2 / static_cast<double>(u.size());
  }
  return std::sqrt(total / projections);
}

RowErrors ode_error(const ConstMatrixRef& samples, const ConstMatrixRef& reference) {
  if (samples.rows() != reference.rows() || samples.cols() != reference.cols() || samples.size() == 0) {
    throw InvalidArgument(fmt::format("ode_error: samples {}x{} and reference {}x{} (they must be equal and non-empty)",
                                      samples.rows(), samples.cols(), reference.rows(), reference.cols()));
  }
  Vector e = (samples - reference).rowwise().norm() / std::sqrt(static_cast<double>(samples.cols()));
  RowErrors r;
  r.mean = e.mean();
  r.max = e.maxCoeff();
  std::sort(e.begin(), e.end());
  const Eigen::Index n = e.size();
  r.median = n % 2 == 1 ? e(n / 2) : 0.5 * (e(n / 2 - 1) + e(n / 2));
  return r;
}

double mean_error(const ConstMatrixRef& x, const Eigen::RowVectorXd& mean) {
  if (x.rows() < 1 || mean.size() != x.cols()) {
    throw InvalidArgument(fmt::format("mean_error: {}x{} samples against a mean of size {}", x.rows(), x.cols(),
                                      mean.size()));
  }
  return (sample_mean(x) - mean).norm();
}

double covariance_error(const ConstMatrixRef& x, const Eigen::MatrixXd& covariance) {
  if (x.rows() < 2 || covariance.rows() != x.cols() || covariance.cols() != x.cols()) {
    throw InvalidArgument(fmt::format("covariance_error: {}x{} samples (two rows or more) against a {}x{} covariance",
                                      x.rows(), x.cols(), covariance.rows(), covariance.cols()));
  }
  return (sample_covariance(x) - covariance).norm();
}

Eigen::RowVectorXd sample_mean(const ConstMatrixRef& x) { return x.colwise().mean(); }

Eigen::MatrixXd sample_covariance(const ConstMatrixRef& x) {
  const Matrix centred = x.rowwise() - sample_mean(x);
  return (centred.transpose() * centred) / static_cast<double>(std::max<Eigen::Index>(x.rows() - 1, 1));
}

namespace {

// The principal square root of a symmetric positive semi-definite matrix (rounding's negative
// eigenvalues taken as 0).
Matrix psd_sqrt(const Matrix& c) {
  const Eigen::SelfAdjointEigenSolver<Matrix> eig(c);
  return eig.eigenvectors() * eig.eigenvalues().cwiseMax(0.0).cwiseSqrt().asDiagonal() *
         eig.eigenvectors().transpose();
}

}  // namespace

double frechet_distance(const ConstMatrixRef& a, const ConstMatrixRef& b) {
  if (a.cols() != b.cols() || a.rows() < 2 || b.rows() < 2) {
    throw InvalidArgument(fmt::format("frechet_distance: sample sets of shapes {}x{} and {}x{} "
                                      "(they need the same columns and two rows or more each)",
                                      a.rows(), a.cols(), b.rows(), b.cols()));
  }
  const Matrix ca = sample_covariance(a), cb = sample_covariance(b);
  const Matrix root_a = psd_sqrt(ca);
  const Matrix middle = root_a * cb * root_a;
  // tr((C_a^1/2 C_b C_a^1/2)^1/2): the sum of the square roots of its eigenvalues.
  const Eigen::SelfAdjointEigenSolver<Matrix> eig(0.5 * (middle + middle.transpose()), Eigen::EigenvaluesOnly);
  const double cross = eig.eigenvalues().cwiseMax(0.0).cwiseSqrt().sum();
  return (sample_mean(a) - sample_mean(b)).squaredNorm() + ca.trace() + cb.trace() - 2.0 * cross;
}

}  // namespace tweedie
