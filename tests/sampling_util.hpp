// Helpers shared by the sampler tests: problems with closed-form answers, slopes, noise paths.
#pragma once

#include <tweedie/tweedie.hpp>

#include <cmath>
#include <vector>

namespace tweedie::test {

/// Least-squares slope of log(error) against log(step size) (step size ~ 1/N).
inline double convergence_order(const std::vector<int>& steps, const std::vector<double>& errors) {
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  const auto n = static_cast<double>(steps.size());
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const double x = -std::log(static_cast<double>(steps[i])), y = std::log(errors[i]);
    sx += x, sy += y, sxx += x * x, sxy += x * y;
  }
  return (n * sxy - sx * sy) / (n * sxx - sx * sx);
}

/// Brownian increments shared by nested uniform grids: step i of a grid with N steps uses the
/// normalised sum of the `fine / N` finest increments it covers, so every level sees one path.
class NestedBrownianNoise final : public NoiseSource {
 public:
  NestedBrownianNoise(std::uint64_t seed, int fine_steps, int steps)
      : base_(seed), per_step_(fine_steps / steps) {}
  void normal(std::uint64_t first_row, std::uint32_t step, std::uint32_t stage, NoiseStream stream,
              MatrixRef out) const override {
    Matrix z(out.rows(), out.cols());
    out.setZero();
    for (int k = 0; k < per_step_; ++k) {
      base_.normal(first_row, step * static_cast<std::uint32_t>(per_step_) + static_cast<std::uint32_t>(k),
                   stage, stream, z);
      out += z;
    }
    out /= std::sqrt(static_cast<double>(per_step_));
  }

 private:
  PhiloxNoise base_;
  int per_step_;
};

/// One Gaussian N(mu, diag(s^2)): its probability-flow ODE maps x_T to
/// x_t = alpha_t mu + (x_T - alpha_T mu) sqrt(v_t / v_T) with v = alpha^2 s^2 + sigma^2.
inline Matrix exact_flow(const GaussianMixture& g, const Sde& sde, double t_from, double t_to,
                         const ConstMatrixRef& x) {
  const double a0 = sde.alpha(t_from), s0 = sde.sigma(t_from);
  const double a1 = sde.alpha(t_to), s1 = sde.sigma(t_to);
  Matrix out(x.rows(), x.cols());
  for (Eigen::Index j = 0; j < x.cols(); ++j) {
    const double mu = g.means()(0, j), sd = g.stds()(0, j);
    const double ratio = std::sqrt((a1 * a1 * sd * sd + s1 * s1) / (a0 * a0 * sd * sd + s0 * s0));
    out.col(j) = (a1 * mu + (x.col(j).array() - a0 * mu) * ratio).matrix();
  }
  return out;
}

inline GaussianMixture single_gaussian(std::vector<double> mean, std::vector<double> std) {
  const auto d = static_cast<Eigen::Index>(mean.size());
  return GaussianMixture(Vector::Ones(1), Eigen::Map<Matrix>(mean.data(), 1, d),
                         Eigen::Map<Matrix>(std.data(), 1, d));
}

/// A random mixture in dimension d with k components (deterministic from seed).
inline GaussianMixture random_mixture(Eigen::Index d, Eigen::Index k, std::uint64_t seed) {
  PhiloxNoise noise(seed);
  Matrix means(k, d), stds(k, d), w(k, 1);
  noise.normal(0, 0, 0, NoiseStream::marginal, means);
  noise.normal(0, 1, 0, NoiseStream::marginal, stds);
  noise.normal(0, 2, 0, NoiseStream::marginal, w);
  return GaussianMixture(w.col(0).array().abs() + 0.2, means * 2.0, stds.array().abs() * 0.4 + 0.1);
}

}  // namespace tweedie::test
