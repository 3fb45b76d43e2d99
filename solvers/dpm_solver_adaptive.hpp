// Adaptive DPM-Solver-12 / DPM-Solver-23 (Lu et al. 2022, section 5 and the reference's
// dpm_solver_adaptive), with the step size controlled per sample.
#pragma once

#include "exponential.hpp"

namespace tweedie::solvers {

/// Each sample takes steps in lambda from grid.front() towards grid.back(): a lower-order and a
/// higher-order singlestep update share their model evaluations (DPM-Solver-1 / -2 with r1 = 1/2
/// for order 2; DPM-Solver-2 / -3 with r1 = 1/3, r2 = 2/3 for order 3), the error
/// E = RMS((x_high - x_low) / max(atol, rtol max(|x_low|, |x_prev|))) accepts the step iff
/// E <= 1, and h <- min(theta h E^(-1/order), lambda_end - lambda_s). The reference takes the
/// maximum of E over the batch (one step size for all samples); here every sample has its own,
/// so results do not depend on which samples share a chunk. A non-finite E rejects the step and
/// divides h by 5. A grid ending at sigma = 0 finishes with the first-order step onto it.
class DpmSolverAdaptive final : public Sampler {
 public:
  struct Options {
    int order = 3;
    double rtol = 0.05, atol = 0.0078, h_init = 0.05, theta = 0.9, t_err = 1e-5;
    std::size_t max_steps = 100000;
  };
  explicit DpmSolverAdaptive(Options options);
  const SamplerTraits& traits() const override { return traits_; }
  void run(ChunkContext& ctx, MatrixRef x) const override;

 private:
  Options options_;
  SamplerTraits traits_;
};

}  // namespace tweedie::solvers
