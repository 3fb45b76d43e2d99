#include "compare_truth.hpp"

#include <fmt/format.h>

#include <cmath>

namespace tweedie::cli {

GroundTruth::GroundTruth(const GaussianMixture& target, const Sde& sde) : target_(&target), sde_(&sde) {}

GroundTruth::GroundTruth(Matrix data, const Sde& sde) : sde_(&sde), data_(std::move(data)) {}

GroundTruth::Sets GroundTruth::sets(double t_end, const CompareSettings& s) const {
  const PhiloxNoise noise(s.seed, s.noise_stream);
  const auto n = static_cast<Eigen::Index>(s.count);
  if (target_) {
    return {target_->sample(*sde_, t_end, s.count, noise), target_->sample(*sde_, t_end, s.count, noise, s.count)};
  }
  // The samplers stop at t_end, where the model's distribution is the data's diffused to t_end
  // (for vp at its default t_end = 1e-3, sigma = 0.01): the same marginal noise a target's
  // exact samples take, so that both kinds of comparison measure against p_t_end.
  Matrix z(2 * n, data_.cols());
  noise.normal(0, 0, 0, NoiseStream::marginal, z);
  const Matrix diffused = sde_->alpha(t_end) * data_.topRows(2 * n) + sde_->sigma(t_end) * z;
  return {diffused.topRows(n), diffused.bottomRows(n)};
}

DistributionMetrics GroundTruth::measure(double t_end, const Matrix& x, const Matrix& partner,
                                         const CompareSettings& s) const {
  DistributionMetrics m;
  m.sw2 = sliced_wasserstein(x, partner, s.projections, s.seed, s.noise_stream);
  if (!target_) {
    m.mean_error = mean_error(x, sample_mean(partner));
    m.covariance_error = covariance_error(x, sample_covariance(partner));
    return m;
  }
  m.mean_error = mean_error(x, target_->mean(*sde_, t_end));
  m.covariance_error = covariance_error(x, target_->covariance(*sde_, t_end));
  Vector log_p(x.rows());
  target_->log_density(*sde_, Vector::Constant(x.rows(), t_end), x, log_p);
  m.nll = mean_se(-log_p);
  return m;
}

Matrix read_compare_data(const std::string& path, Eigen::Index dim, std::size_t count) {
  Matrix data = read_npy_matrix(path, "--data");
  if (data.cols() != dim) {
    throw InvalidArgument(
        fmt::format("--data {} has {} columns but the model's dimension is {}", path, data.cols(), dim));
  }
  if (static_cast<std::size_t>(data.rows()) < 2 * count) {
    throw InvalidArgument(fmt::format("--data {} has {} rows: -n {} needs {} (n to compare the samples with, n more "
                                      "for the noise floor); give more rows or a smaller -n",
                                      path, data.rows(), count, 2 * count));
  }
  for (Eigen::Index i = 0; i < data.rows(); ++i) {
    for (Eigen::Index j = 0; j < data.cols(); ++j) {
      if (!std::isfinite(data(i, j))) {
        throw InvalidArgument(fmt::format("--data {} has a non-finite value in row {}, column {}", path, i, j));
      }
    }
  }
  return data;
}

}  // namespace tweedie::cli
