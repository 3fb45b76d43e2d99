// The comparison metrics (sliced W2, ODE error, moment errors, frechet_distance) against closed forms.
#include <tweedie/metrics.hpp>
#include <tweedie/random.hpp>

#include <Eigen/Cholesky>
#include <Eigen/QR>
#include <doctest/doctest.h>

#include <cmath>

using namespace tweedie;

namespace {

// n rows of N(0, I) from a fixed seed.
Matrix normal_rows(Eigen::Index n, Eigen::Index d, std::uint64_t seed) {
  Matrix z(n, d);
  PhiloxNoise(seed).normal(0, 0, 0, NoiseStream::probe, z);
  return z;
}

// A set whose sample mean is 0 and sample covariance I to rounding (whitened normals).
Matrix whitened_rows(Eigen::Index n, Eigen::Index d, std::uint64_t seed) {
  Matrix a = normal_rows(n, d, seed);
  a = a.rowwise() - sample_mean(a);
  const Eigen::LLT<Matrix> llt(sample_covariance(a));
  return a * llt.matrixU().solve(Matrix::Identity(d, d));
}

}  // namespace

TEST_CASE("sliced_wasserstein: 0 between a set and itself, the closed form of a mean shift") {
  const Eigen::Index n = 300, d = 5;
  const Matrix a = normal_rows(n, d, 11);
  CHECK(sliced_wasserstein(a, a, 64, 3) == 0.0);
  // b = a + delta: on every direction u the sorted projections differ by u . delta exactly, so
  // SW2^2 is the mean of (u . delta)^2 over the drawn directions, whose expectation over unit
  // directions uniform on the sphere is |delta|^2 / d (the Gaussians N(m, I) and N(m + delta, I)).
  // (u . e)^2 is Beta(1/2, (d - 1)/2): variance 2 (d - 1) / (d^2 (d + 2)), so the mean of P draws
  // has the standard error |delta|^2 sqrt(2 (d - 1) / (d^2 (d + 2) P)).
  const Eigen::RowVectorXd delta = (Eigen::RowVectorXd(d) << 1.0, -2.0, 0.5, 0.0, 3.0).finished();
  const Matrix b = a.rowwise() + delta;
  const int projections = 4000;
  const double want = delta.squaredNorm() / static_cast<double>(d);
  const double se = delta.squaredNorm() *
                    std::sqrt(2.0 * static_cast<double>(d - 1) / (static_cast<double>(d * d * (d + 2)) * projections));
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    const double sw2 = sliced_wasserstein(a, b, projections, seed);
    CHECK(std::abs(sw2 * sw2 - want) < 4.0 * se);
  }
  // Symmetric, and the same directions for the same seed.
  CHECK(sliced_wasserstein(a, b, 32, 5) == sliced_wasserstein(b, a, 32, 5));
  CHECK_THROWS_AS(sliced_wasserstein(a, b.topRows(10)), InvalidArgument);
  CHECK_THROWS_AS(sliced_wasserstein(a, b, 0), InvalidArgument);
}

TEST_CASE("ode_error: 0 against itself, the RMS per row summarised") {
  const Matrix ref = normal_rows(4, 3, 2);
  const RowErrors self = ode_error(ref, ref);
  CHECK(self.mean == 0.0);
  CHECK(self.median == 0.0);
  CHECK(self.max == 0.0);
  // Row i off by (i + 1) in every coordinate: RMS i + 1, so mean and median 2.5, max 4.
  Matrix x = ref;
  for (Eigen::Index i = 0; i < x.rows(); ++i) x.row(i).array() += static_cast<double>(i + 1);
  const RowErrors e = ode_error(x, ref);
  CHECK(e.mean == doctest::Approx(2.5).epsilon(1e-14));
  CHECK(e.median == doctest::Approx(2.5).epsilon(1e-14));
  CHECK(e.max == doctest::Approx(4.0).epsilon(1e-14));
  CHECK(ode_error(x.topRows(3), ref.topRows(3)).median == doctest::Approx(2.0).epsilon(1e-14));  // odd count
  CHECK_THROWS_AS(ode_error(x, ref.topRows(2)), InvalidArgument);
  CHECK_THROWS_AS(ode_error(x.leftCols(2), ref), InvalidArgument);
}

TEST_CASE("mean_error and covariance_error: the distance of exact sample moments") {
  const Eigen::Index d = 3;
  const Matrix a = whitened_rows(200, d, 9);
  const Eigen::RowVectorXd m = (Eigen::RowVectorXd(d) << 0.3, -0.4, 1.2).finished();
  Matrix c(d, d);
  c << 2.0, 0.5, 0.0, 0.5, 1.0, 0.25, 0.0, 0.25, 0.5;
  CHECK(mean_error(a, m) == doctest::Approx(m.norm()).epsilon(1e-12));
  CHECK(mean_error(a.rowwise() + m, m) < 1e-12);
  CHECK(covariance_error(a, c) == doctest::Approx((Matrix::Identity(d, d) - c).norm()).epsilon(1e-12));
  CHECK(covariance_error(a, Matrix::Identity(d, d)) < 1e-12);
  CHECK_THROWS_AS(mean_error(a, Eigen::RowVectorXd::Zero(2)), InvalidArgument);
  CHECK_THROWS_AS(covariance_error(a.topRows(1), c), InvalidArgument);
  CHECK_THROWS_AS(covariance_error(a, Matrix::Identity(2, 2)), InvalidArgument);
}

TEST_CASE("frechet_distance: the closed form of commuting covariances and of a shift") {
  // Sets whose sample statistics are exact: b = a rotated, scaled and shifted. With C_b = Q S C_a
  // S Q^T the formula has no closed form in general, so take a whitened a (C_a = I exactly) and
  // b = a S + m: C_b = S^2, and FD = |m|^2 + sum (1 - s_k)^2.
  const Eigen::Index n = 400, d = 5;
  Matrix a = normal_rows(n, d, 3);
  a = a.rowwise() - sample_mean(a);
  const Eigen::LLT<Matrix> llt(sample_covariance(a));
  a = a * llt.matrixU().solve(Matrix::Identity(d, d));  // C_a = I to rounding
  REQUIRE((sample_covariance(a) - Matrix::Identity(d, d)).norm() < 1e-12);
  const Vector s = (Vector(d) << 0.5, 1.0, 2.0, 3.0, 0.1).finished();
  const Eigen::RowVectorXd m = (Eigen::RowVectorXd(d) << 1.0, -2.0, 0.0, 0.5, 0.25).finished();
  const Matrix b = (a * s.asDiagonal()).rowwise() + m;
  const double want = m.squaredNorm() + (s.array() - 1.0).square().sum();
  CHECK(frechet_distance(a, b) == doctest::Approx(want).epsilon(1e-12));
  CHECK(frechet_distance(b, a) == doctest::Approx(want).epsilon(1e-12));
  CHECK(std::abs(frechet_distance(a, a)) < 1e-12);
  // A rotation of b keeps C_b's spectrum: FD(a, b Q) = FD(a, b) when C_a = I and the means agree.
  const Matrix q = Eigen::HouseholderQR<Matrix>(normal_rows(d, d, 5)).householderQ();
  const Matrix centred_b = a * s.asDiagonal();
  CHECK(frechet_distance(a, centred_b * q) == doctest::Approx(frechet_distance(a, centred_b)).epsilon(1e-10));
}

TEST_CASE("frechet_distance: sets of different sizes, and refusals") {
  const Matrix a = normal_rows(300, 3, 7), b = normal_rows(500, 3, 8);
  CHECK(frechet_distance(a, b) >= 0.0);
  CHECK(frechet_distance(a, b) < 0.1);  // both N(0, I): the statistic's noise at these sizes
  CHECK_THROWS_AS(frechet_distance(a, normal_rows(10, 2, 1)), InvalidArgument);
  CHECK_THROWS_AS(frechet_distance(a.topRows(1), b), InvalidArgument);
}
