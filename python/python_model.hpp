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
class PythonModel final : public ScoreModel {
 public:
  PythonModel(pybind11::object fn, Prediction prediction, Eigen::Index dim, Conditioning conditioning,
              bool batch_invariant, std::shared_ptr<const Sde> sde);
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
  /// The family the callable was trained with, when given (None: the driver's `sde`).
  const std::shared_ptr<const Sde>& sde() const { return sde_; }

 private:
  pybind11::object fn_;
  Prediction prediction_;
  Eigen::Index dim_;
  Conditioning conditioning_;
  bool batch_invariant_;
  std::shared_ptr<const Sde> sde_;
};

}  // namespace tweedie::python
