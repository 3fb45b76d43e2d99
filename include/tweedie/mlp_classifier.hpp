// MlpClassifier: a noise-conditional classifier p_t(y | x_t) run by the MlpModel runtime, for
// classifier guidance (docs/guidance.md, docs/models.md "classifier head").
#pragma once

#include <tweedie/guidance.hpp>
#include <tweedie/mlp_model.hpp>

#include <memory>
#include <string>

namespace tweedie {

/// A tweedie.mlp network with a classifier head ("output": {"logits": K}): logits(x, t) are the
/// K logits of p_t(y | x) and log_prob_gradient is grad_x log softmax_y(logits) =
/// J^T (e_y - softmax(logits)), J the logits' Jacobian in x by reverse mode through the layers
/// (exact, not differences). The time input is the spec's, under the family it was trained with
/// (sde()): pair it with a score model of the same family. Same tiles, thread-safety and
/// bitwise batch invariance as MlpModel. Labels are the classes 0..K-1 whose gradient is asked.
class MlpClassifier final : public NoisyClassifier {
 public:
  /// Loads like MlpModel::load; a score network (no output.logits) is refused with
  /// InvalidArgument naming the file, as are missing, unused or misshapen tensors.
  static std::unique_ptr<MlpClassifier> load(const std::string& path, MlpOptions options = {});
  ~MlpClassifier() override;

  const MlpSpec& spec() const { return spec_; }
  const Sde& sde() const { return *sde_; }

  int classes() const override { return static_cast<int>(spec_.logits); }
  Eigen::Index dim() const override { return spec_.dim; }
  bool batch_invariant() const override { return true; }
  /// spec().description(), the precision and the file.
  std::string description() const override;
  /// out (n x K) = the logits at (x.row(i), t(i)); labels are ignored.
  void logits(const ModelInput& in, MatrixRef out) const;
  /// out (n x D) = J_i^T w.row(i), w n x K: the vector-Jacobian product of the logits.
  void logits_vjp(const ModelInput& in, const ConstMatrixRef& w, MatrixRef out) const;
  void log_prob_gradient(const ModelInput& in, MatrixRef out) const override;

 private:
  MlpClassifier() = default;
  void check(const ModelInput& in) const;
  MlpSpec spec_;
  Precision precision_ = Precision::float64;
  std::string source_;
  std::unique_ptr<Sde> sde_;
  std::unique_ptr<MlpModel::Network> network_;
  std::unique_ptr<NoisyClassifier> softmax_;  // make_classifier over logits and logits_vjp
};

}  // namespace tweedie
