// The probability-flow ODE of the rows of a chunk and their batched integration (see pf_ode.hpp).
#include "pf_ode.hpp"

#include <tweedie/random.hpp>

#include "checks.hpp"

#include <fmt/format.h>

#include <cmath>

namespace tweedie::detail {

void check_flow_inputs(const Sde& sde, const ScoreModel& model, const ConstMatrixRef& x,
                       const FlowOptions& options, std::string_view what) {
  options.validate();
  check_t_min(sde, options.t_min);
  check_batch(model, x, what);
  check_sample_range(options.first_sample, static_cast<std::size_t>(x.rows()));
  check_labels(model, options.labels, static_cast<std::size_t>(x.rows()), options.first_sample);
}

FlowSystem::FlowSystem(const Sde& sde, const ScoreModel& model, Eigen::Index dim,
                       std::uint64_t first_sample, Eigen::Index rows, std::span<const int> labels)
    : nfe(Vector::Zero(rows)), sde_(sde), model_(model), dynamics_(ReverseDynamics::probability_flow(sde)),
      dim_(dim), first_sample_(first_sample), labels_(labels) {}

ModelInput FlowSystem::input(const ConstVectorRef& t, const ConstMatrixRef& x,
                             std::span<const Eigen::Index> rows, Eigen::Index repeat) {
  row_samples_.clear();
  row_labels_.clear();
  for (const Eigen::Index r : rows) {
    for (Eigen::Index j = 0; j < repeat; ++j) {
      row_samples_.push_back(first_sample_ + static_cast<std::uint64_t>(r));
      if (!labels_.empty()) row_labels_.push_back(labels_[static_cast<std::size_t>(r)]);
    }
  }
  return {t, x, row_samples_, row_labels_};
}

void FlowSystem::operator()(const ConstVectorRef& t, const ConstMatrixRef& z, MatrixRef dzdt,
                            std::span<const Eigen::Index> rows, std::span<const std::size_t> steps,
                            RowFailures& failures) {
  drift(t, z, dzdt, rows, steps, failures);
}

void FlowSystem::drift(const ConstVectorRef& t, const ConstMatrixRef& z, MatrixRef dzdt,
                       std::span<const Eigen::Index> rows, std::span<const std::size_t> steps,
                       RowFailures& failures, Vector* divergence) {
  const Eigen::Index m = z.rows();
  x_ = z.leftCols(dim_);
  score_.resize(m, dim_);
  if (divergence) {
    divergence->resize(m);
    model_.evaluate_with_divergence(input(t, x_, rows), score_, *divergence);
    convert_prediction(sde_, model_.prediction(), Prediction::score, t, x_, score_, score_);
  } else {
    evaluate_as(model_, sde_, Prediction::score, input(t, x_, rows), score_);
  }
  for (Eigen::Index k = 0; k < m; ++k) nfe(rows[static_cast<std::size_t>(k)]) += 1.0;
  // One vectorised check of the call; the rows are searched only when it fails. (Checked here
  // rather than left to the step controller, which would reject the step and shrink it down to
  // the step-size floor before reporting a non-finite proposal.)
  if (!all_finite(score_) || (divergence && !all_finite(*divergence))) {
    for (Eigen::Index k = 0; k < m; ++k) {
      if (divergence && !check_row(divergence->segment(k, 1), "the model's divergence", t, rows, steps, k, failures)) {
        continue;
      }
      if (all_finite(score_.row(k))) continue;
      const auto j = first_non_finite(score_.row(k)).second;
      const auto i = static_cast<std::size_t>(k);
      failures.fail(rows[i], std::make_exception_ptr(NonFiniteError(
                                 first_sample_ + static_cast<std::uint64_t>(rows[i]), steps[i], t(k),
                                 non_finite_output(model_.prediction(), Prediction::score, score_(k, j), j))));
    }
  }
  dynamics_.drift(t, x_, score_, dzdt.leftCols(dim_));
}

bool FlowSystem::check_row(const ConstMatrixRef& values, std::string_view what, const ConstVectorRef& t,
                           std::span<const Eigen::Index> rows, std::span<const std::size_t> steps,
                           Eigen::Index k, RowFailures& failures) const {
  if (all_finite(values)) return true;
  const auto [i, j] = first_non_finite(values);
  const auto r = static_cast<std::size_t>(k);
  failures.fail(rows[r], std::make_exception_ptr(NonFiniteError(
                             first_sample_ + static_cast<std::uint64_t>(rows[r]), steps[r], t(k),
                             values.size() == 1 ? fmt::format("{} is {}", what, values(i, j))
                                                : fmt::format("{} is {} in component {}", what, values(i, j), j))));
  return false;
}

FlowRun integrate_rows(const ConstMatrixRef& start, Eigen::Index extra, double t0, double t1,
                       const FlowOptions& options, const FlowSystemFactory& make_system) {
  const Eigen::Index n = start.rows(), d = start.cols();
  FlowRun r;
  r.x.resize(n, d);
  r.extra.resize(n, extra);
  r.nfe.resize(n);
  r.accepted_steps.resize(n);
  r.rejected_steps.resize(n);
  AdaptiveTolerances tol;
  tol.rtol = options.rtol;
  tol.atol = options.atol;
  tol.max_steps = options.max_steps;
  for_each_chunk(static_cast<std::size_t>(n), options.execution, [&](std::size_t begin, std::size_t end) {
    const auto b = static_cast<Eigen::Index>(begin), m = static_cast<Eigen::Index>(end - begin);
    const std::span<const int> labels =
        options.labels.empty() ? std::span<const int>() : std::span<const int>(options.labels).subspan(begin, end - begin);
    const std::uint64_t first = options.first_sample + begin;
    const std::unique_ptr<FlowSystem> system = make_system(first, m, labels);
    Matrix z(m, d + extra);
    z.leftCols(d) = start.middleRows(b, m);
    z.rightCols(extra).setZero();
    const auto counts = integrate_rk(RkPair::dopri5, *system, z, t0, t1, tol, first);
    r.x.middleRows(b, m) = z.leftCols(d);
    r.extra.middleRows(b, m) = z.rightCols(extra);
    r.nfe.segment(b, m) = system->nfe;
    for (Eigen::Index i = 0; i < m; ++i) {
      r.accepted_steps(b + i) = static_cast<double>(counts[static_cast<std::size_t>(i)].accepted);
      r.rejected_steps(b + i) = static_cast<double>(counts[static_cast<std::size_t>(i)].rejected);
    }
  });
  return r;
}

}  // namespace tweedie::detail
