// Shared vocabulary: the batch layout and the library's exceptions.
#pragma once

#include <Eigen/Core>

#include <cstddef>
#include <stdexcept>
#include <string>

namespace tweedie {

/// A batch of states: one sample per row, row-major, so that its memory layout is the one of a
/// C-order numpy or torch array of shape [batch, dim].
using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatrixRef = Eigen::Ref<Matrix>;
using ConstMatrixRef = Eigen::Ref<const Matrix>;
/// One value per row of a batch (times, log-densities, divergences).
using Vector = Eigen::VectorXd;
using VectorRef = Eigen::Ref<Vector>;
using ConstVectorRef = Eigen::Ref<const Vector>;

/// Bad input: an option, a file or an argument that the library refuses. The message names it.
class InvalidArgument : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// A model output or a state that became NaN or infinite during a run.
class NonFiniteError : public std::runtime_error {
 public:
  NonFiniteError(std::size_t sample, std::size_t step, double t, std::string what);
  std::size_t sample() const noexcept { return sample_; }  ///< global index of the sample
  std::size_t step() const noexcept { return step_; }      ///< index of the step (0-based)
  double time() const noexcept { return t_; }              ///< time at which it was seen

 private:
  std::size_t sample_;
  std::size_t step_;
  double t_;
};

/// An adaptive solver that needed more steps for one sample than its cap allows.
class StepLimitError : public std::runtime_error {
 public:
  StepLimitError(std::size_t sample, double t, std::size_t steps);
  std::size_t sample() const noexcept { return sample_; }  ///< global index of the sample
  double time() const noexcept { return t_; }              ///< where it stopped

 private:
  std::size_t sample_;
  double t_;
};

/// A run stopped because its progress callback (Execution::progress) returned false; nothing
/// was returned or written.
class Cancelled : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace tweedie
