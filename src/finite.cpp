#include "finite.hpp"

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

}  // namespace tweedie::detail
