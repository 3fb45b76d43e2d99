#include "labels.hpp"

#include <tweedie/npy.hpp>

#include <fmt/format.h>

#include <cmath>
#include <limits>

namespace tweedie::cli {

void LabelOptions::add_to(CLI::App& app) {
  auto* cls = app.add_option("--class", label, "class label of every sample (conditional models)");
  app.add_option("--labels", path, "class label of each sample (.npy of n integers)")->excludes(cls);
}

std::vector<int> LabelOptions::labels(std::size_t n) const {
  if (label) return std::vector<int>(n, *label);
  if (path.empty()) return {};
  const std::vector<double> values = read_npy_vector(path, "--labels");
  if (values.size() != n) {
    throw InvalidArgument(fmt::format("--labels has {} labels for {} samples", values.size(), n));
  }
  std::vector<int> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double v = values[i];
    if (!(std::isfinite(v) && v == std::floor(v) && std::abs(v) <= std::numeric_limits<int>::max())) {
      throw InvalidArgument(fmt::format("--labels: entry {} = {} is not an integer label", i, v));
    }
    out[i] = static_cast<int>(v);
  }
  return out;
}

}  // namespace tweedie::cli
