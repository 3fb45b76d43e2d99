#include "checks.hpp"

#include <tweedie/random.hpp>

#include <fmt/format.h>

#include <cmath>

namespace tweedie::detail {

std::pair<Eigen::Index, Eigen::Index> first_non_finite(const ConstMatrixRef& m) {
  for (Eigen::Index i = 0; i < m.rows(); ++i) {
    for (Eigen::Index j = 0; j < m.cols(); ++j) {
      if (!std::isfinite(m(i, j))) return {i, j};
    }
  }
  return {-1, -1};
}

std::string non_finite_output(Prediction model_prediction, Prediction want, double value,
                              Eigen::Index component) {
  if (want == model_prediction) {
    return fmt::format("the model's {} output is {} in component {}", to_string(want), value, component);
  }
  return fmt::format("the model's {} output, as {}, is {} in component {}", to_string(model_prediction),
                     to_string(want), value, component);
}

void check_t_min(const Sde& sde, double t_min) {
  if (!(std::isfinite(t_min) && t_min > 0.0)) {
    throw InvalidArgument(fmt::format("t_min must be > 0, got {}", t_min));
  }
  if (!(t_min < sde.T())) {
    throw InvalidArgument(
        fmt::format("t_min = {} must be below T = {} of the {} family", t_min, sde.T(), sde.name()));
  }
}

void check_batch(const ScoreModel& model, const ConstMatrixRef& x, std::string_view what) {
  const Eigen::Index d = x.cols();
  if (d < 1) throw InvalidArgument(fmt::format("the {} have no columns", what));
  if (model.dim() != 0 && model.dim() != d) {
    throw InvalidArgument(fmt::format("the {} have dimension {} but the model {}", what, d, model.dim()));
  }
  if (static_cast<std::uint64_t>(x.rows()) > max_samples) {
    throw InvalidArgument(fmt::format("at most {} samples, got {}", max_samples, x.rows()));
  }
  if (!all_finite(x)) {
    const auto [i, j] = first_non_finite(x);
    throw InvalidArgument(fmt::format("the {} are {} at row {}, column {}", what, x(i, j), i, j));
  }
}

void check_sample_range(std::uint64_t first_sample, std::size_t n) {
  if (n > max_samples || first_sample > max_samples - n) {
    throw InvalidArgument(fmt::format("samples {} .. {} exceed the 2^32 indices of one seed", first_sample,
                                      first_sample + n - 1));
  }
}

void check_labels(const ScoreModel& model, std::span<const int> labels, std::size_t n,
                  std::uint64_t first_sample) {
  const Conditioning c = model.conditioning();
  if (labels.empty()) {
    if (c.conditional() && !c.has_null_class()) {
      throw InvalidArgument(fmt::format(
          "the model is conditional on {} classes and has no null class: give a label per sample", c.classes));
    }
    return;
  }
  if (!c.conditional()) throw InvalidArgument("labels were given but the model is not conditional");
  if (labels.size() != n) {
    throw InvalidArgument(fmt::format("{} labels given for {} samples", labels.size(), n));
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (c.accepts(labels[i])) continue;
    const std::string range =
        c.has_null_class() ? fmt::format("0 .. {}, or {} for none", c.classes - 1, c.null_class)
                           : fmt::format("0 .. {}", c.classes - 1);
    throw InvalidArgument(fmt::format("sample {}: label {} is not a class of the model ({})", first_sample + i,
                                      labels[i], range));
  }
}

}  // namespace tweedie::detail
