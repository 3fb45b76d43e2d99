// detail::log_poly, the branch-free log of noise stream 2 and of the mixture kernel, against
// long double logs over the whole range of normal doubles.
#include "log_poly.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>

using tweedie::detail::log_poly;

TEST_CASE("log_poly is log to within 2 ulps over the normal doubles, and exactly 0 at 1") {
  CHECK(log_poly(1.0) == 0.0);
  CHECK(log_poly(2.0) == std::log(2.0));
  // Mantissas swept across [1, 2) (the switch at sqrt(2) included) at exponents from the
  // smallest normal to the largest; the error in units in the last place of the exact log.
  double worst = 0.0;
  for (int e : {-1022, -600, -65, -1, 0, 1, 64, 600, 1023}) {
    for (int i = 0; i < 4096; ++i) {
      const double u = std::ldexp(1.0 + (i + 0.5) / 4096.0, e);
      const long double exact = std::log(static_cast<long double>(u));
      const auto rounded = static_cast<double>(exact);
      const double ulp = std::fabs(std::nextafter(rounded, 2.0 * rounded) - rounded);
      worst = std::max(worst, static_cast<double>(std::fabs(static_cast<long double>(log_poly(u)) - exact)) / ulp);
    }
  }
  CAPTURE(worst);
  CHECK(worst <= 2.0);
}
