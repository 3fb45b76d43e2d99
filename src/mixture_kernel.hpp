// The exact Gaussian mixture's evaluation kernel (internal): score, log-density, divergence of the
// score and Hessian-vector products, each row at its own time, eight rows at a time.
#pragma once

#include <tweedie/gaussian_mixture.hpp>

namespace tweedie::detail {

/// What to compute; null members are not computed. `direction` (v) goes with `jvp` (H v).
struct MixtureOutputs {
  MatrixRef* score = nullptr;
  VectorRef* log_density = nullptr;
  VectorRef* divergence = nullptr;
  const ConstMatrixRef* direction = nullptr;
  MatrixRef* jvp = nullptr;
};

/// Evaluates the requested outputs of p_t at (t(i), x.row(i)) for every row. Rows go through the
/// kernel eight at a time, one per vector lane, each lane with the arithmetic a row alone would get
/// (a block whose rows share one time reuses that time's tables, built with the same operations),
/// so the results are bitwise independent of chunking, batch position and how the times are shared.
void evaluate_mixture(const GaussianMixture& g, const Sde& sde, const ConstVectorRef& t,
                      const ConstMatrixRef& x, const MixtureOutputs& out);

}  // namespace tweedie::detail
