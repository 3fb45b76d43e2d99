// DDIM (Song, Meng & Ermon 2021) for any family, written with alpha, sigma and lambda.
#pragma once

#include "exponential.hpp"

namespace tweedie::solvers {

/// From s to t with eps = the model's noise prediction and x0 = (x - sigma_s eps)/alpha_s:
///   x_t = alpha_t x0 + sqrt(sigma_t^2 - s_eta^2) eps + s_eta z,
///   s_eta = eta sigma_t sqrt(1 - exp(-2 h)),  h = lambda_t - lambda_s,
/// which is DDIM's sigma_eta = eta sqrt((1 - a_t)/(1 - a_s)) sqrt(1 - a_s/a_t) (a = alpha^2) for
/// VP, and the posterior standard deviation of x_t given (x_s, x0) for every family at eta = 1.
/// At eta = 0 it is DPM-Solver-1; the step onto sigma = 0 returns alpha_t x0.
class Ddim final : public Sampler {
 public:
  explicit Ddim(double eta);
  const SamplerTraits& traits() const override { return traits_; }
  void run(ChunkContext& ctx, MatrixRef x) const override;

 private:
  double eta_;
  SamplerTraits traits_;
};

}  // namespace tweedie::solvers
