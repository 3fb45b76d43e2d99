// Shared by the adaptive solvers' batch tests (test_adaptive_golden.cpp, test_adaptive_batch.cpp).
#pragma once

#include <tweedie/gaussian_mixture.hpp>

namespace tweedie::test {

/// A 2-d mixture with far-apart modes of very different widths: rows heading to different modes
/// take very different numbers of adaptive steps.
inline GaussianMixture far_modes() {
  Vector w(3);
  w << 0.5, 0.3, 0.2;
  Matrix mu(3, 2), sd(3, 2);
  mu << -4.0, 0.0, 0.0, 3.0, 6.0, -1.0;
  sd << 0.1, 0.1, 0.5, 0.5, 0.05, 0.2;
  return {w, mu, sd};
}

}  // namespace tweedie::test
