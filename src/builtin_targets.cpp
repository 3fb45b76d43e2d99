// The built-in targets: mixtures with fixed parameters, so that a comparison needs no file.
#include <tweedie/gaussian_mixture.hpp>
#include <tweedie/random.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace tweedie {
namespace {

// 4 x 4 checkerboard on [-2, 2]^2: the unit squares (i, j) with i + j even, each approximated by
// 2 x 2 Gaussians at the centres of its quarters (std 0.2, about the quarter's half-width, so the
// square's density is close to flat).
GaussianMixture checkerboard() {
  constexpr int cells = 4, per_side = 2;
  constexpr double std = 0.2;
  Matrix means(cells * cells / 2 * per_side * per_side, 2);
  Eigen::Index k = 0;
  for (int i = 0; i < cells; ++i) {
    for (int j = 0; j < cells; ++j) {
      if ((i + j) % 2 != 0) continue;
      for (int a = 0; a < per_side; ++a) {
        for (int b = 0; b < per_side; ++b) {
          means(k, 0) = -2.0 + i + (a + 0.5) / per_side;
          means(k, 1) = -2.0 + j + (b + 0.5) / per_side;
          ++k;
        }
      }
    }
  }
  return GaussianMixture(Vector::Ones(k), std::move(means), Matrix::Constant(k, 2, std));
}

// Unequal weights and widths in d dimensions, drawn once from a fixed seed in a fixed noise
// layout (version 2), so the parameters never change with the library's default layout.
GaussianMixture random_mixture(Eigen::Index d) {
  constexpr Eigen::Index components = 6;
  Matrix means(components, d), stds(components, d), w(components, 1);
  const PhiloxNoise noise(2024, 2);
  noise.normal(0, 0, 0, NoiseStream::marginal, means);
  noise.normal(0, 1, 0, NoiseStream::marginal, stds);
  noise.normal(0, 2, 0, NoiseStream::marginal, w);
  return GaussianMixture(w.col(0).array().abs() + 0.2, 2.0 * means, stds.array().abs() * 0.3 + 0.1);
}

}  // namespace

std::vector<std::string> GaussianMixture::builtin_names() { return {"ring", "ring2d", "checker2d", "mix16", "mix64"}; }

GaussianMixture GaussianMixture::builtin(const std::string& name) {
  if (name == "ring" || name == "ring2d") return ring();
  if (name == "checker2d") return checkerboard();
  if (name == "mix16") return random_mixture(16);
  if (name == "mix64") return random_mixture(64);
  throw InvalidArgument(fmt::format("unknown built-in target 'builtin:{:.32}' (known: builtin:{})", name,
                                    fmt::join(builtin_names(), ", builtin:")));
}

}  // namespace tweedie
