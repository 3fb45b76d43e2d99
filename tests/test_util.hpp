// Helpers shared by the unit tests: the SDE families, ulp arithmetic, a portable seeded generator
// for random test inputs, and a temporary folder.
#pragma once

#include <tweedie/gaussian_mixture.hpp>
#include <tweedie/sde.hpp>
#include <tweedie/types.hpp>

#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <iterator>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace tweedie::test {

/// Every family with its default options, in the order of sde_names().
inline std::vector<std::unique_ptr<Sde>> all_families() {
  std::vector<std::unique_ptr<Sde>> out;
  for (const auto& name : sde_names()) {
    SdeSpec spec;
    spec.family = name;
    out.push_back(make_sde(spec));
  }
  return out;
}

inline std::unique_ptr<Sde> family(const std::string& name) {
  SdeSpec spec;
  spec.family = name;
  return make_sde(spec);
}

/// The spacing between |x| and the next larger double.
inline double ulp(double x) {
  x = std::fabs(x);
  return std::nextafter(x, std::numeric_limits<double>::infinity()) - x;
}

/// |value - reference| / |reference|. (doctest::Approx is relative to 1 + |value|, i.e.
/// absolute for small values; the tests use this instead.)
inline double rel_error(double value, double reference) {
  return std::fabs(value - reference) / std::fabs(reference);
}

/// Bitwise equality of two matrices (same shape, same bits; NaN never equal).
inline bool bitwise_equal(const Eigen::Ref<const Matrix>& a, const Eigen::Ref<const Matrix>& b) {
  if (a.rows() != b.rows() || a.cols() != b.cols()) return false;
  for (Eigen::Index i = 0; i < a.rows(); ++i) {
    for (Eigen::Index j = 0; j < a.cols(); ++j) {
      if (std::bit_cast<std::uint64_t>(a(i, j)) != std::bit_cast<std::uint64_t>(b(i, j))) {
        return false;
      }
    }
  }
  return true;
}

/// Random test inputs from std::mt19937_64, whose sequence the standard fixes; the conversion to
/// doubles is written here (std's distributions differ between libraries), so every platform
/// draws the same inputs.
class Inputs {
 public:
  explicit Inputs(std::uint64_t seed) : engine_(seed) {}
  double uniform(double lo, double hi) {
    const double u = static_cast<double>(engine_() >> 11) * 0x1.0p-53;  // [0, 1)
    return lo + (hi - lo) * u;
  }
  int integer(int lo, int hi) {  // [lo, hi]
    return lo + static_cast<int>(engine_() % static_cast<std::uint64_t>(hi - lo + 1));
  }
  Matrix uniform(Eigen::Index rows, Eigen::Index cols, double lo, double hi) {
    Matrix m(rows, cols);
    for (Eigen::Index i = 0; i < rows; ++i) {
      for (Eigen::Index j = 0; j < cols; ++j) m(i, j) = uniform(lo, hi);
    }
    return m;
  }
  /// A mixture of k components in dimension d: weights in [0.2, 1], means in [-2, 2], stds in
  /// [0.2, 1.2] (well inside the domain; the tests choose their own hard cases).
  GaussianMixture mixture(int k, int d) {
    Vector w(k);
    for (int i = 0; i < k; ++i) w(i) = uniform(0.2, 1.0);
    return GaussianMixture(w, uniform(k, d, -2.0, 2.0), uniform(k, d, 0.2, 1.2));
  }

 private:
  std::mt19937_64 engine_;
};

/// A fresh empty folder under the system's temporary folder, removed at the end of the scope.
class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    Inputs names(static_cast<std::uint64_t>(std::random_device{}()));
    path_ =
        std::filesystem::temp_directory_path() / ("tweedie-test-" + std::to_string(++counter) +
                                                  "-" + std::to_string(names.integer(0, 1 << 30)));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  /// How many entries the folder holds (to check that nothing was left behind).
  std::size_t files() const {
    return static_cast<std::size_t>(
        std::distance(std::filesystem::directory_iterator(path_), std::filesystem::directory_iterator()));
  }

 private:
  std::filesystem::path path_;
};

}  // namespace tweedie::test
