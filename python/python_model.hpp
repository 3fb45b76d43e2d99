// A Python callable as a score model: called on whole chunks, with the GIL taken only around the
// call, so that the samplers' own work on the other chunks runs in parallel.
#pragma once

#include <tweedie/model.hpp>
#include <tweedie/sde.hpp>

#include <pybind11/pybind11.h>

#include <memory>

namespace tweedie::python {

/// fn(x, t) -> (n, d) array-like (numpy, or anything np.asarray takes: a CPU torch tensor), or
/// fn(x, t, labels) for a conditional model. x (n, d) and t (n,) are read-only float64 views of
/// the library's own buffers (no copy), valid during the call only; labels is an int32 array
/// (the null class for unlabelled rows). The result is copied into the library's output.
/// `jvp`, when not None, is jvp(x, t, v) (jvp(x, t, v, labels) when conditional) -> (n, d): row i
/// is J_i v[i], J_i the Jacobian in x of fn's output at row i (in its own parameterisation), what
/// the exact divergence of log_likelihood takes the trace of (v the d basis vectors) and
/// Hutchinson's estimate uses on its probes.
class PythonModel final : public ScoreModel {
 public:
  PythonModel(pybind11::object fn, Prediction prediction, Eigen::Index dim, Conditioning conditioning,
              bool batch_invariant, std::shared_ptr<const Sde> sde, pybind11::object jvp = pybind11::none());
  ~PythonModel() override;  // drops fn with the GIL held (the last owner may be any thread)
  PythonModel(const PythonModel&) = delete;
  PythonModel& operator=(const PythonModel&) = delete;

  Prediction prediction() const override { return prediction_; }
  Eigen::Index dim() const override { return dim_; }
  Conditioning conditioning() const override { return conditioning_; }
  bool batch_invariant() const override { return batch_invariant_; }
  /// Throws InvalidArgument when fn's result is not (n, d); fn's own exception reaches the
  /// caller as it is.
  void evaluate(const ModelInput& in, MatrixRef out) const override;
  bool has_jvp() const override { return !jvp_.is_none(); }
  /// Calls `jvp` as evaluate calls fn (the same checks of its result); throws InvalidArgument
  /// naming the argument when the model was given none.
  void jvp(const ModelInput& in, const ConstMatrixRef& v, MatrixRef out) const override;
  /// The family the callable was trained with, when given (None: the driver's `sde`).
  const std::shared_ptr<const Sde>& sde() const { return sde_; }

 private:
  /// fn(x, t[, v][, labels]) with the GIL held, its result checked and copied into out.
  void call(const pybind11::object& fn, const char* name, const ModelInput& in, const ConstMatrixRef* v,
            MatrixRef out) const;
  pybind11::object fn_, jvp_;
  Prediction prediction_;
  Eigen::Index dim_;
  Conditioning conditioning_;
  bool batch_invariant_;
  std::shared_ptr<const Sde> sde_;
};

}  // namespace tweedie::python
