// The probability-flow ODE of one sample and the per-sample integration loop (see pf_ode.hpp).
#include "pf_ode.hpp"

#include <tweedie/random.hpp>

#include "checks.hpp"
#include "odeint.hpp"

#include <fmt/format.h>

#include <cmath>

namespace tweedie::detail {

void check_flow_inputs(const Sde& sde, const ScoreModel& model, const ConstMatrixRef& x,
                       const FlowOptions& options, std::string_view what) {
  options.validate();
  check_t_min(sde, options.t_min);
  check_batch(model, x, what);
  check_labels(model, options.labels, static_cast<std::size_t>(x.rows()));
}

FlowSystem::FlowSystem(const Sde& sde, const ScoreModel& model, Eigen::Index dim, std::uint64_t sample,
                       int label)
    : sde_(sde), model_(model), dynamics_(ReverseDynamics::probability_flow(sde)), dim_(dim),
      sample_(sample), label_(label), time_(1), score_(1, dim) {}

ModelInput FlowSystem::input(const ConstVectorRef& t, const ConstMatrixRef& x) {
  const auto n = static_cast<std::size_t>(x.rows());
  samples_.assign(n, sample_);
  if (label_ >= 0) labels_.assign(n, label_);
  return {t, x, samples_, labels_};
}

void FlowSystem::operator()(const Eigen::VectorXd& z, Eigen::VectorXd& dzdt, double t, std::size_t step) {
  drift(z, dzdt, t, step);
}

void FlowSystem::drift(const Eigen::VectorXd& z, Eigen::VectorXd& dzdt, double t, std::size_t step,
                       double* divergence) {
  const Eigen::Map<const Matrix> x(z.data(), 1, dim_);
  time_(0) = t;
  if (divergence) {
    Vector div(1);
    model_.evaluate_with_divergence(input(time_, x), score_, div);
    convert_prediction(sde_, model_.prediction(), Prediction::score, time_, x, score_, score_);
    check_finite(div, "the model's divergence", t, step);
    *divergence = div(0);
  } else {
    evaluate_as(model_, sde_, Prediction::score, input(time_, x), score_);
  }
  nfe += 1.0;
  // Checked here rather than left to the step controller, which would reject the step and shrink
  // it down to the step-size floor before reporting a non-finite proposal.
  if (!all_finite(score_)) {
    const auto [i, j] = first_non_finite(score_);
    throw NonFiniteError(sample_, step, t,
                         non_finite_output(model_.prediction(), Prediction::score, score_(i, j), j));
  }
  dzdt.resize(z.size());
  Eigen::Map<Matrix> out(dzdt.data(), 1, dim_);
  dynamics_.drift(t, x, score_, out);
}

void FlowSystem::check_finite(const ConstMatrixRef& values, std::string_view what, double t,
                              std::size_t step) const {
  if (all_finite(values)) return;
  const auto [i, j] = first_non_finite(values);
  throw NonFiniteError(sample_, step, t,
                       values.size() == 1 ? fmt::format("{} is {}", what, values(i, j))
                                          : fmt::format("{} is {} in component {}", what, values(i, j), j));
}

FlowRun integrate_rows(const ConstMatrixRef& start, Eigen::Index extra, double t0, double t1,
                       const FlowOptions& options, const FlowSystemFactory& make_system) {
  const Eigen::Index n = start.rows(), d = start.cols();
  FlowRun r;
  r.state.resize(n, d + extra);
  r.nfe.resize(n);
  r.accepted_steps.resize(n);
  r.rejected_steps.resize(n);
  solvers::AdaptiveTolerances tol;
  tol.rtol = options.rtol;
  tol.atol = options.atol;
  tol.max_steps = options.max_steps;
  for_each_chunk(static_cast<std::size_t>(n), options.execution, [&](std::size_t begin, std::size_t end) {
    Eigen::VectorXd z(d + extra);
    for (std::size_t s = begin; s < end; ++s) {
      const auto i = static_cast<Eigen::Index>(s);
      const std::unique_ptr<FlowSystem> system =
          make_system(s, options.labels.empty() ? -1 : options.labels[s]);
      const solvers::OdeFunction rhs = [&system](const Eigen::VectorXd& state, Eigen::VectorXd& dzdt,
                                                 double t, std::size_t step) { (*system)(state, dzdt, t, step); };
      z.head(d) = start.row(i).transpose();
      z.tail(extra).setZero();
      const auto counts = solvers::integrate_dopri5(rhs, z, t0, t1, tol, s);
      r.state.row(i) = z.transpose();
      r.nfe(i) = system->nfe;
      r.accepted_steps(i) = static_cast<double>(counts.accepted);
      r.rejected_steps(i) = static_cast<double>(counts.rejected);
    }
  });
  return r;
}

}  // namespace tweedie::detail
