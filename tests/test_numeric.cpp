// detail::phi, the one implementation of the exponential integrators' phi functions, against an
// independent long double evaluation across |z| from 1e-8 to 10, both signs.
#include "numeric.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <cmath>
#include <limits>

using tweedie::detail::phi;

namespace {

/// phi_k(z) in long double (64-bit mantissa): for |z| >= 1 the closed form
/// (e^z - sum_{j<k} z^j/j!) / z^k (its cancellation loses at most a few bits there), below it the
/// series with 60 terms (alternating at z < 0, with an amplification below e^2).
long double phi_reference(int k, long double z) {
  long double factorial = 1.0L;
  for (int j = 2; j <= k; ++j) factorial *= j;
  if (std::fabs(z) >= 1.0L) {
    long double partial = 0.0L, term = 1.0L;
    for (int j = 0; j < k; ++j) {
      partial += term;
      term *= z / (j + 1);
    }
    return (std::expm1(z) + 1.0L - partial) / std::pow(z, k);
  }
  long double term = 1.0L / factorial, sum = term;
  for (int j = 1; j < 60; ++j) {
    term *= z / (j + k);
    sum += term;
  }
  return sum;
}

}  // namespace

TEST_CASE("phi_k agrees with long double evaluations to a few ulps for |z| in [1e-8, 10]") {
  constexpr double eps = std::numeric_limits<double>::epsilon();
  for (int k = 1; k <= 4; ++k) {
    double worst = 0.0;
    for (int e = -32; e <= 4; ++e) {  // |z| = 10^(e / 4): 1e-8 .. 10
      for (const double sign : {1.0, -1.0}) {
        const double z = sign * std::pow(10.0, e / 4.0);
        const long double ref = phi_reference(k, z);
        const double rel = static_cast<double>(std::fabs((phi(k, z) - ref) / ref));
        worst = std::max(worst, rel);
        CAPTURE(k);
        CAPTURE(z);
        CHECK(rel <= 8 * eps);
      }
    }
    for (const double z : {2.0, -2.0, std::nextafter(2.0, 0.0), std::nextafter(-2.0, 0.0), 1.0, -1.0}) {
      const long double ref = phi_reference(k, z);
      CHECK(static_cast<double>(std::fabs((phi(k, z) - ref) / ref)) <= 8 * eps);
    }
    MESSAGE(fmt::format("phi_{}: largest relative error {:.2g} ulp", k, worst / eps));
  }
}

TEST_CASE("phi_k has its closed forms at 0, for k = 0 and at z = +-1") {
  CHECK(phi(0, 0.7) == std::exp(0.7));
  CHECK(phi(1, 0.0) == 1.0);
  CHECK(phi(2, 0.0) == 0.5);
  CHECK(phi(3, 0.0) == doctest::Approx(1.0 / 6.0).epsilon(1e-16));
  const double e = std::exp(1.0);
  CHECK(phi(2, 1.0) == doctest::Approx(e - 2.0).epsilon(4e-16));
  CHECK(phi(2, -1.0) == doctest::Approx(1.0 / e).epsilon(4e-16));           // e^-1 - 1 + 1
  CHECK(phi(3, 1.0) == doctest::Approx(e - 2.5).epsilon(4e-16));
  CHECK(phi(3, -1.0) == doctest::Approx(0.5 - 1.0 / e).epsilon(4e-16));     // -(e^-1 - 1 + 1 - 1/2)
}

TEST_CASE("z phi_2(z) keeps its accuracy where the closed form expm1(z)/z - 1 cancels") {
  // ExpStep's phi2 coefficient: at hh = 1e-8 the closed form has lost half its digits.
  const double z = 1e-8;
  const double exact = z * (0.5 + z / 6.0);  // z phi_2(z) to O(z^3)
  CHECK(std::fabs(z * phi(2, z) - exact) <= 2e-16 * exact);
  CHECK(std::fabs((std::expm1(z) / z - 1.0) - exact) > 1e-9 * exact);
}
