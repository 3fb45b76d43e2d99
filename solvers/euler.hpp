// Euler-Maruyama on the reverse SDE and Euler on the probability-flow ODE: one kernel.
#pragma once

#include <tweedie/sampler.hpp>

namespace tweedie::solvers {

/// x_{i+1} = x_i + drift(t_i, x_i) dt + [g(t_i) sqrt(|dt|) z_i] (ReverseDynamics),  dt = t_{i+1} - t_i < 0,
/// with c = 1 and noise for the reverse SDE (Euler-Maruyama, "em"), c = 1/2 and no noise for the
/// probability-flow ODE (Euler, "euler"). Strong and weak order 1 (the noise is additive).
class EulerKernel final : public Sampler {
 public:
  explicit EulerKernel(bool stochastic);
  const SamplerTraits& traits() const override { return traits_; }
  void run(ChunkContext& ctx, MatrixRef x) const override;

 private:
  bool stochastic_;
  SamplerTraits traits_;
};

}  // namespace tweedie::solvers
