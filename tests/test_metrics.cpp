// frechet_distance against closed forms.
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

}  // namespace

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
