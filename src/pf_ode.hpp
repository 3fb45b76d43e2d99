// The probability-flow ODE of one sample and the loop that integrates every sample alone: the
// machinery that encode, decode and log_likelihood share.
#pragma once

#include <tweedie/encode.hpp>
#include <tweedie/reverse.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>
#include <string_view>

namespace tweedie::detail {

/// Checks the options, t_min < T, a batch `x` (named `what` in the messages: at least one column,
/// the model's dimension, finite values, at most max_samples rows) and the labels. Throws
/// InvalidArgument.
void check_flow_inputs(const Sde& sde, const ScoreModel& model, const ConstMatrixRef& x,
                       const FlowOptions& options, std::string_view what);

/// The right-hand side of one sample's ODE. This base is the probability-flow ODE alone, on the
/// state z = x of d values: dx/dt = f(t) x - g(t)^2 s(x, t) / 2. log_likelihood extends it with
/// the log-density component.
class FlowSystem {
 public:
  /// `label`: the sample's class label, or -1 for none.
  FlowSystem(const Sde& sde, const ScoreModel& model, Eigen::Index dim, std::uint64_t sample, int label);
  virtual ~FlowSystem() = default;
  virtual void operator()(const Eigen::VectorXd& z, Eigen::VectorXd& dzdt, double t, std::size_t step);
  double nfe = 0.0;  ///< model rows evaluated so far (JVP and divergence rows included)

 protected:
  /// Resizes dzdt like z and writes the drift at (x = z.head(d), t) into dzdt.head(d); the score
  /// stays in `score_`. One model row. With `divergence`, the model's fused
  /// evaluate_with_divergence also gives the divergence of the score there (checked finite).
  void drift(const Eigen::VectorXd& z, Eigen::VectorXd& dzdt, double t, std::size_t step,
             double* divergence = nullptr);
  /// Throws NonFiniteError naming the sample, the step and t if `values` are not all finite;
  /// `what` names them ("the model's divergence").
  void check_finite(const ConstMatrixRef& values, std::string_view what, double t, std::size_t step) const;
  /// The model input of `x.rows()` rows of this sample (its index and label on every row).
  ModelInput input(const ConstVectorRef& t, const ConstMatrixRef& x);

  const Sde& sde_;
  const ScoreModel& model_;
  ReverseDynamics dynamics_;
  Eigen::Index dim_;
  std::uint64_t sample_;
  int label_;
  std::vector<std::uint64_t> samples_;  // sample_, once per row of the current call
  std::vector<int> labels_;             // label_, once per row (empty without a label)
  Vector time_;   // 1 value: the time of the current evaluation
  Matrix score_;  // 1 x d: the score at the current evaluation
};

/// The end state of every sample and what it cost.
struct FlowRun {
  Matrix state;  ///< n x (d + extra)
  Vector nfe, accepted_steps, rejected_steps;
};

/// Makes the system of sample `sample` whose label is `label` (-1: none).
using FlowSystemFactory = std::function<std::unique_ptr<FlowSystem>(std::uint64_t sample, int label)>;

/// Integrates each row i of `start` alone, as the state (start.row(i), `extra` zeros), from t0 to
/// t1 with solvers::integrate_dopri5 and the options' tolerances and step cap, under the system
/// make_system(i, options.labels[i] or -1), in parallel over the fixed chunks of options.execution. Each sample sees only
/// its own state and system, so its result is bitwise independent of the batch, the chunk size
/// and the thread count.
FlowRun integrate_rows(const ConstMatrixRef& start, Eigen::Index extra, double t0, double t1,
                       const FlowOptions& options, const FlowSystemFactory& make_system);

}  // namespace tweedie::detail
