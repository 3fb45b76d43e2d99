// What the digits examples share: the digits classifier of
// models/digits_classifier.safetensors (accuracy and the features of a Frechet distance), and an
// image grid of 8x8 digits written as PNG by libpng.
#pragma once

#include <tweedie/tweedie.hpp>
#include <tweedie/safetensors.hpp>

#include <fmt/format.h>
#include <png.h>

#include "example_support.hpp"

#include <algorithm>
#include <numeric>
#include <cmath>
#include <string>
#include <vector>

namespace digits_example {

using tweedie::Matrix;

/// examples/train/classifier.py's network: features = silu(W2 silu(W1 x + b1) + b2) (256),
/// logits = W3 features + b3 (10), on clean images in [-1, 1].
class DigitsClassifier {
 public:
  explicit DigitsClassifier(const std::string& path) {
    const auto file = tweedie::SafetensorsFile::read(path);
    layers_ = {dense(file, "body.0", 256, 64), dense(file, "body.2", 256, 256), dense(file, "head", 10, 256)};
  }
  /// The 256 penultimate activations of each row of x (n x 64).
  Matrix features(const Matrix& x) const { return silu(apply(layers_[1], silu(apply(layers_[0], x)))); }
  /// The logits (n x 10).
  Matrix logits(const Matrix& x) const { return apply(layers_[2], features(x)); }
  /// The most likely class of each row.
  std::vector<int> predict(const Matrix& x) const {
    const Matrix l = logits(x);
    std::vector<int> out(static_cast<std::size_t>(l.rows()));
    for (Eigen::Index i = 0; i < l.rows(); ++i) l.row(i).maxCoeff(&out[static_cast<std::size_t>(i)]);
    return out;
  }
  /// The share of rows classified as `labels`.
  double accuracy(const Matrix& x, const std::vector<int>& labels) const {
    const std::vector<int> p = predict(x);
    return static_cast<double>(std::inner_product(p.begin(), p.end(), labels.begin(), 0, std::plus<>(),
                                                  std::equal_to<>())) / static_cast<double>(p.size());
  }

 private:
  struct Dense {
    Matrix weight;  // [out, in], torch's layout
    Eigen::RowVectorXd bias;
  };
  static Dense dense(const tweedie::SafetensorsFile& file, const std::string& name, Eigen::Index out,
                     Eigen::Index in) {
    const auto& w = file.tensor(name + ".weight");
    const auto& b = file.tensor(name + ".bias");
    if (w.shape != std::vector<std::int64_t>{out, in} || b.shape != std::vector<std::int64_t>{out}) {
      throw tweedie::InvalidArgument(fmt::format("{}: {} must be [{}, {}] with a bias [{}]", file.source(), name, out,
                                                 in, out));
    }
    return {Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(w.values.data(), out, in),
            Eigen::Map<const Eigen::RowVectorXd>(b.values.data(), out)};
  }
  static Matrix apply(const Dense& d, const Matrix& x) {
    return (x * d.weight.transpose()).rowwise() + d.bias;
  }
  static Matrix silu(Matrix h) { return h.array() / (1.0 + (-h.array()).exp()); }
  std::vector<Dense> layers_;
};

/// Writes rows x cols tiles of 8x8 digits (tiles[r][c], each a row of 64 pixels in [-1, 1], ink
/// dark on white) as an 8-bit grey PNG, each pixel `zoom` x `zoom`, `gap` white pixels apart.
inline void write_digit_grid(const std::string& path, const std::vector<std::vector<Eigen::RowVectorXd>>& tiles,
                             int zoom = 4, int gap = 2) {
  const int rows = static_cast<int>(tiles.size());
  const int cols = rows == 0 ? 0 : static_cast<int>(tiles[0].size());
  const int cell = 8 * zoom + gap;
  const int width = cols * cell + gap, height = rows * cell + gap;
  std::vector<png_byte> pixels(static_cast<std::size_t>(width) * static_cast<std::size_t>(height), 255);
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      const Eigen::RowVectorXd& img = tiles[static_cast<std::size_t>(r)][static_cast<std::size_t>(c)];
      for (int p = 0; p < 64; ++p) {
        const double ink = std::clamp((img(p) + 1.0) / 2.0, 0.0, 1.0);
        const auto value = static_cast<png_byte>(std::lround(255.0 * (1.0 - ink)));
        for (int dy = 0; dy < zoom; ++dy) {
          for (int dx = 0; dx < zoom; ++dx) {
            const int y = gap + r * cell + (p / 8) * zoom + dy, x = gap + c * cell + (p % 8) * zoom + dx;
            pixels[static_cast<std::size_t>(y) * static_cast<std::size_t>(width) + static_cast<std::size_t>(x)] = value;
          }
        }
      }
    }
  }
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(width);
  image.height = static_cast<png_uint_32>(height);
  image.format = PNG_FORMAT_GRAY;
  if (png_image_write_to_file(&image, path.c_str(), 0, pixels.data(), width, nullptr) == 0) {
    throw tweedie::InvalidArgument(fmt::format("{}: cannot write the PNG: {}", path, image.message));
  }
}

}  // namespace digits_example
