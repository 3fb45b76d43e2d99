// Small numerically careful helpers shared by the core (internal).
#pragma once

#include <algorithm>
#include <cmath>
#include <numbers>

namespace tweedie::detail {

/// log(exp(a) + exp(b)) without overflow.
inline double logaddexp(double a, double b) {
  const double m = std::max(a, b);
  if (std::isinf(m)) return m;
  return m + std::log1p(std::exp(-std::abs(a - b)));
}

/// The phi functions of exponential integrators, phi_k(z) = sum_{j >= 0} z^j / (j + k)!:
/// phi_0 = e^z, phi_1 = (e^z - 1)/z, phi_{k+1}(z) = (phi_k(z) - 1/k!)/z, phi_k(0) = 1/k!.
/// phi_1 comes from expm1 (no cancellation at any z). For k >= 2 the recurrence cancels when
/// |z| is small (phi_2 = expm1(z)/z - 1 loses ~ eps/|z| relative), so below |z| = 2 the series is
/// summed instead (30 terms: the remainder is below 2^30/30! ~ 4e-24 of 1/k!); at |z| >= 2 each
/// step of the recurrence amplifies the relative error by phi_k/(|z| phi_{k+1}) < 2.
/// Accurate to a few ulps for k <= 4 at every z (tests/test_numeric.cpp).
inline double phi(int k, double z) {
  if (k == 0) return std::exp(z);
  if (k == 1) return z == 0.0 ? 1.0 : std::expm1(z) / z;
  double factorial = 1.0;  // k!
  for (int j = 2; j <= k; ++j) factorial *= j;
  if (std::abs(z) < 2.0) {
    double term = 1.0 / factorial, sum = term;
    for (int j = 1; j < 30; ++j) {
      term *= z / (j + k);
      sum += term;
    }
    return sum;
  }
  double p = std::expm1(z) / z, inverse_factorial = 1.0;  // phi_1, 1/1!
  for (int i = 1; i < k; ++i) {
    p = (p - inverse_factorial) / z;
    inverse_factorial /= (i + 1);
  }
  return p;
}

inline constexpr double log_two_pi = 1.8378770664093454835606594728112;  // log(2 pi)

}  // namespace tweedie::detail
