// The built-in targets have the parameters docs/compare.md documents.
#include <tweedie/gaussian_mixture.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <string>

using namespace tweedie;

TEST_CASE("builtin targets: ring and ring2d are ring(), the others as documented") {
  const GaussianMixture ring = GaussianMixture::ring();
  for (const char* name : {"ring", "ring2d"}) {
    const GaussianMixture g = GaussianMixture::builtin(name);
    CHECK(g.means() == ring.means());
    CHECK(g.stds() == ring.stds());
    CHECK(g.weights() == ring.weights());
  }
  CHECK(ring.components() == 8);
  CHECK(ring.means().row(0).isApprox(Eigen::RowVector2d(2.0, 0.0)));

  // checker2d: 8 dark unit squares of the 4 x 4 board on [-2, 2]^2 ((i + j) even, counted from
  // the lower left), 4 equal components of std 0.2 per square at its quarters' centres.
  const GaussianMixture c = GaussianMixture::builtin("checker2d");
  REQUIRE(c.components() == 32);
  CHECK(c.dim() == 2);
  CHECK((c.stds().array() == 0.2).all());
  CHECK((c.weights().array() == 1.0 / 32).all());
  for (Eigen::Index k = 0; k < c.components(); ++k) {
    const double x = c.means()(k, 0), y = c.means()(k, 1);
    const int i = static_cast<int>(std::floor(x + 2.0)), j = static_cast<int>(std::floor(y + 2.0));
    CHECK((i + j) % 2 == 0);
    CHECK(std::abs(x + 2.0 - i - 0.5) == doctest::Approx(0.25));  // a quarter's centre
    CHECK(std::abs(y + 2.0 - j - 0.5) == doctest::Approx(0.25));
  }
  // Its mean is 0: the dark squares are symmetric under (x, y) -> (-x, -y), which maps square
  // (i, j) to (3 - i, 3 - j), of the same parity.
  CHECK((c.weights().transpose() * c.means()).norm() < 1e-14);

  for (const auto& [name, d] : {std::pair<std::string, Eigen::Index>{"mix16", 16}, {"mix64", 64}}) {
    const GaussianMixture m = GaussianMixture::builtin(name);
    CHECK(m.dim() == d);
    CHECK(m.components() == 6);
    CHECK((m.stds().array() >= 0.1).all());
    CHECK(m.weights().sum() == doctest::Approx(1.0));
    CHECK(m.weights().maxCoeff() > 1.2 * m.weights().minCoeff());  // unequal weights
  }
  // The same parameters on every call (a fixed seed and noise layout).
  CHECK(GaussianMixture::builtin("mix16").means() == GaussianMixture::builtin("mix16").means());
}

TEST_CASE("builtin targets: an unknown name is refused, naming the known ones") {
  CHECK(GaussianMixture::builtin_names().size() == 5);
  try {
    GaussianMixture::builtin("rnig");
    FAIL("no exception");
  } catch (const InvalidArgument& e) {
    CHECK(std::string(e.what()) ==
          "unknown built-in target 'builtin:rnig' (known: builtin:ring, builtin:ring2d, builtin:checker2d, "
          "builtin:mix16, builtin:mix64)");
  }
}
