// A model together with the family it is defined in (an exact mixture's score refers to its Sde),
// so that a driver given only the model samples in that family.
#pragma once

#include <tweedie/model.hpp>
#include <tweedie/sde.hpp>

#include <memory>
#include <string>

namespace tweedie::python {

/// Forwards every member to `inner`; keeps `sde` alive and names it as the model's family.
/// `needs_labels`, when not empty, is the message of a driver called without labels (a guided
/// model: the CLI refuses --guidance or --classifier without --class or --labels).
class FamilyModel final : public ScoreModel {
 public:
  FamilyModel(std::shared_ptr<const Sde> sde, std::shared_ptr<const ScoreModel> inner, std::string needs_labels = {})
      : sde_(std::move(sde)), inner_(std::move(inner)), needs_labels_(std::move(needs_labels)) {}
  const std::shared_ptr<const Sde>& sde() const { return sde_; }
  const std::shared_ptr<const ScoreModel>& inner() const { return inner_; }
  const std::string& needs_labels() const { return needs_labels_; }
  Prediction prediction() const override { return inner_->prediction(); }
  Eigen::Index dim() const override { return inner_->dim(); }
  Conditioning conditioning() const override { return inner_->conditioning(); }
  bool batch_invariant() const override { return inner_->batch_invariant(); }
  void evaluate(const ModelInput& in, MatrixRef out) const override { inner_->evaluate(in, out); }
  bool has_divergence() const override { return inner_->has_divergence(); }
  void score_divergence(const ModelInput& in, VectorRef out) const override { inner_->score_divergence(in, out); }
  void evaluate_with_divergence(const ModelInput& in, MatrixRef out, VectorRef divergence) const override {
    inner_->evaluate_with_divergence(in, out, divergence);
  }
  bool has_jvp() const override { return inner_->has_jvp(); }
  void jvp(const ModelInput& in, const ConstMatrixRef& v, MatrixRef out) const override { inner_->jvp(in, v, out); }
  bool has_vjp() const override { return inner_->has_vjp(); }
  void vjp(const ModelInput& in, const ConstMatrixRef& w, MatrixRef out) const override { inner_->vjp(in, w, out); }

 private:
  std::shared_ptr<const Sde> sde_;
  std::shared_ptr<const ScoreModel> inner_;
  std::string needs_labels_;
};

}  // namespace tweedie::python
