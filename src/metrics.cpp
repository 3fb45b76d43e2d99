#include <tweedie/metrics.hpp>
#include <tweedie/random.hpp>

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

Eigen::RowVectorXd sample_mean(const ConstMatrixRef& x) { return x.colwise().mean(); }

Eigen::MatrixXd sample_covariance(const ConstMatrixRef& x) {
  const Matrix centred = x.rowwise() - sample_mean(x);
  return (centred.transpose() * centred) / static_cast<double>(std::max<Eigen::Index>(x.rows() - 1, 1));
}

}  // namespace tweedie
