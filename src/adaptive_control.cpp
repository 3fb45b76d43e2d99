#include "adaptive_control.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace tweedie::detail {

StepSizeUnderflowError::StepSizeUnderflowError(std::size_t sample, double t, double dt)
    : StepLimitError(sample, t, 0),
      message_(fmt::format(
          "sample {} cannot advance from t = {}: its step size fell to {}, below the resolution "
          "of t, without meeting the tolerance (a tolerance below the rounding error of the "
          "state, or a model discontinuous in t or x; raise rtol/atol)",
          sample, t, dt)) {}

double min_step(double t) {
  const double a = std::fabs(t);
  return 10.0 * (std::nextafter(a, std::numeric_limits<double>::infinity()) - a);
}

void StepControl::check_cap(std::uint64_t sample, std::size_t max_steps) const {
  if (counts.accepted + counts.rejected >= max_steps) throw StepLimitError(sample, t, max_steps);
}

void StepControl::check_floor(std::uint64_t sample, double step) const {
  if (std::fabs(step) >= min_step(t)) return;
  if (last_non_finite) {
    throw NonFiniteError(sample, counts.accepted, t,
                         fmt::format("the error estimate or the proposed state of the adaptive step "
                                     "stayed non-finite down to step size {}",
                                     step));
  }
  throw StepSizeUnderflowError(sample, t, step);
}

double StepControl::next_step(double end, bool& lands) const {
  lands = end < t ? t + dt <= end : t + dt >= end;
  return lands ? end - t : dt;
}

double rms_error(const Eigen::Ref<const Eigen::RowVectorXd>& err,
                 const Eigen::Ref<const Eigen::RowVectorXd>& x_low,
                 const Eigen::Ref<const Eigen::RowVectorXd>& x_prev, double rtol, double atol) {
  const Eigen::Array<double, 1, Eigen::Dynamic> delta =
      (rtol * x_prev.cwiseAbs().cwiseMax(x_low.cwiseAbs())).cwiseMax(atol).array();
  return std::sqrt((err.array() / delta).square().sum() / static_cast<double>(err.size()));
}

double power_law_step(double h, double error, double safety, double exponent, double h_max) {
  return std::min(h_max, safety * h * std::pow(error, -exponent));
}

}  // namespace tweedie::detail
