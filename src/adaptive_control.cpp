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

void StepControl::check_cap(std::uint64_t sample, std::size_t max_steps, double time) const {
  if (counts.accepted + counts.rejected >= max_steps) throw StepLimitError(sample, time, max_steps);
}

void StepControl::check_floor(std::uint64_t sample, double step, double time) const {
  if (std::fabs(step) >= min_step(t)) return;
  if (last_non_finite) {
    throw NonFiniteError(sample, counts.accepted, time,
                         fmt::format("the error estimate or the proposed state of the adaptive step "
                                     "stayed non-finite down to step size {}",
                                     step));
  }
  throw StepSizeUnderflowError(sample, time, step);
}

double StepControl::next_step(double end, bool& lands) const {
  lands = end < t ? t + dt <= end : t + dt >= end;
  return lands ? end - t : dt;
}

double rms_error(const Eigen::Ref<const Eigen::RowVectorXd>& err,
                 const Eigen::Ref<const Eigen::RowVectorXd>& x_low,
                 const Eigen::Ref<const Eigen::RowVectorXd>& x_prev, double rtol, double atol) {
  // Summed left to right (the order of the per-sample loops this replaced: their rows were
  // strided and so not vectorised), so that the norm does not depend on the width's packets.
  double sum = 0.0;
  for (Eigen::Index j = 0; j < err.size(); ++j) {
    const double delta = std::max(rtol * std::max(std::fabs(x_prev(j)), std::fabs(x_low(j))), atol);
    const double q = err(j) / delta;
    sum = j == 0 ? q * q : sum + q * q;
  }
  return std::sqrt(sum / static_cast<double>(err.size()));
}

std::vector<Eigen::Index> kept_positions(const RowFailures& failures, std::span<const Eigen::Index> rows) {
  std::vector<Eigen::Index> keep;
  keep.reserve(rows.size());
  for (std::size_t k = 0; k < rows.size(); ++k) {
    if (failures.keeps(rows[k])) keep.push_back(static_cast<Eigen::Index>(k));
  }
  return keep;
}

double power_law_step(double h, double error, double safety, double exponent, double h_max) {
  return std::min(h_max, safety * h * std::pow(error, -exponent));
}

}  // namespace tweedie::detail
