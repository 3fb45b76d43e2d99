// The probability-flow ODE of the rows of a chunk and the loop that integrates them together,
// each with its own steps: the machinery that encode, decode and log_likelihood share.
#pragma once

#include <tweedie/encode.hpp>
#include <tweedie/reverse.hpp>

#include "adaptive_rk.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>
#include <span>
#include <string_view>

namespace tweedie::detail {

/// Checks the options, t_min < T, a batch `x` (named `what` in the messages: at least one column,
/// the model's dimension, finite values, at most max_samples rows) and the labels. Throws
/// InvalidArgument.
void check_flow_inputs(const Sde& sde, const ScoreModel& model, const ConstMatrixRef& x,
                       const FlowOptions& options, std::string_view what);

/// The right-hand side of the flows on rows of one chunk. This base is the probability-flow ODE
/// alone, on the state z = x of d values per row: dx/dt = f(t) x - g(t)^2 s(x, t) / 2, one model
/// call per evaluation on all the rows given, each at its own time with its own sample index and
/// label. log_likelihood extends it with the log-density component. A row whose model output is
/// not finite fails alone (NonFiniteError naming its sample, its step and t).
class FlowSystem : public BatchRhs {
 public:
  /// The chunk's rows are the samples first_sample, first_sample + 1, ... (`rows` of them);
  /// `labels`: their class labels (empty: none).
  FlowSystem(const Sde& sde, const ScoreModel& model, Eigen::Index dim, std::uint64_t first_sample,
             Eigen::Index rows, std::span<const int> labels);
  void operator()(const ConstVectorRef& t, const ConstMatrixRef& z, MatrixRef dzdt,
                  std::span<const Eigen::Index> rows, std::span<const std::size_t> steps,
                  RowFailures& failures) override;
  Vector nfe;  ///< model rows evaluated so far per chunk row (JVP and divergence rows included)

 protected:
  /// Writes the drift at (x = z.leftCols(d), t) into dzdt.leftCols(d); the score stays in
  /// `score_` and the rows in `x_`. One model call. With `divergence`, the model's fused
  /// evaluate_with_divergence also gives the divergence of the score at each row (checked).
  void drift(const ConstVectorRef& t, const ConstMatrixRef& z, MatrixRef dzdt,
             std::span<const Eigen::Index> rows, std::span<const std::size_t> steps,
             RowFailures& failures, Vector* divergence = nullptr);
  /// Reports rows[k] as failed unless `values` (what row k computed) are all finite; `what`
  /// names them ("the model's divergence"). Returns whether they were.
  bool check_row(const ConstMatrixRef& values, std::string_view what, const ConstVectorRef& t,
                 std::span<const Eigen::Index> rows, std::span<const std::size_t> steps, Eigen::Index k,
                 RowFailures& failures) const;
  /// The model input of x, whose rows are the chunk rows `rows`, each repeated `repeat` times.
  ModelInput input(const ConstVectorRef& t, const ConstMatrixRef& x, std::span<const Eigen::Index> rows,
                   Eigen::Index repeat = 1);

  const Sde& sde_;
  const ScoreModel& model_;
  ReverseDynamics dynamics_;
  Eigen::Index dim_;
  std::uint64_t first_sample_;
  std::span<const int> labels_;
  std::vector<std::uint64_t> row_samples_;  // scratch: each model row's sample index
  std::vector<int> row_labels_;             // scratch: each model row's label
  Matrix x_;      // the rows of the current evaluation (contiguous)
  Matrix score_;  // the score at the current evaluation
};

/// The end state of every sample and what it cost. The state's first d columns and its extra
/// ones are held apart, so that a driver moves x out rather than copying it (the likelihood of
/// 10^5 x 64 points would hold three copies of the data otherwise).
struct FlowRun {
  Matrix x;      ///< n x d
  Matrix extra;  ///< n x extra
  Vector nfe, accepted_steps, rejected_steps;
};

/// Makes the system of the chunk whose rows are the samples first_sample, ... (`rows` of them)
/// with these labels (empty: none).
using FlowSystemFactory = std::function<std::unique_ptr<FlowSystem>(std::uint64_t first_sample,
                                                                    Eigen::Index rows,
                                                                    std::span<const int> labels)>;

/// Integrates every row i of `start`, as the state (start.row(i), `extra` zeros), from t0 to t1
/// with the batched dopri5 of detail::integrate_rk (each row its own steps and error control;
/// one model call per stage on the rows of a chunk still running) and the options' tolerances
/// and step cap, under the systems of make_system, in parallel over the fixed chunks of
/// options.execution. Each sample's arithmetic is its own, so for a model whose rows do not
/// interact its result is bitwise independent of the batch, the chunk size and the thread count
/// (and bitwise that of the sample integrated alone).
FlowRun integrate_rows(const ConstMatrixRef& start, Eigen::Index extra, double t0, double t1,
                       const FlowOptions& options, const FlowSystemFactory& make_system);

}  // namespace tweedie::detail
