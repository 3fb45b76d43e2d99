// UniPC: the unified predictor (UniP) and corrector (UniC), variants bh1 and bh2, orders 1-3,
// data prediction, multistep (Zhao et al. 2023; reference wl-zhao/UniPC uni_pc.py).
#pragma once

#include "exponential.hpp"

#include <array>

namespace tweedie::solvers {

/// The coefficients of one UniPC step of `order` p from the last p model values to t:
/// rks (lambda offsets of the history over h, last 1), B(h), and the weights rho of UniP
/// (p - 1 of them) and UniC (p of them).
struct UniPcCoefficients {
  int order = 1;
  std::array<double, 3> rks{}, rho_p{}, rho_c{};
  double h_phi_1 = 0.0, b_h = 0.0;
};
UniPcCoefficients unipc_coefficients(int order, bool bh2, std::span<const ModelValue> history,
                                     const SchedulePoint& t);

class UniPc final : public Sampler {
 public:
  struct Options {
    int order = 3;
    bool bh2 = false;  ///< B(h) = expm1(hh) (bh2) instead of hh (bh1)
    bool lower_order_final = true;
  };
  explicit UniPc(Options options);
  const SamplerTraits& traits() const override { return traits_; }
  void run(ChunkContext& ctx, MatrixRef x) const override;

 private:
  Options options_;
  SamplerTraits traits_;
};

}  // namespace tweedie::solvers
