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

inline constexpr double log_two_pi = 1.8378770664093454835606594728112;  // log(2 pi)

}  // namespace tweedie::detail
