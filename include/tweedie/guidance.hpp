// Guided models: classifier-free guidance and classifier guidance as model decorators
// (docs/guidance.md has the formulas and the references).
#pragma once

#include <tweedie/decorator.hpp>
#include <tweedie/gaussian_mixture.hpp>
#include <tweedie/model.hpp>
#include <tweedie/sde.hpp>

#include <functional>
#include <memory>
#include <string>

namespace tweedie {

// One guidance per model: classifier_free_guidance and classifier_guidance refuse a model whose
// decorator stack (the model and the inner models of its decorators) already holds either, with
// InvalidArgument "<guidance> cannot be stacked on <guidance>: a model takes one guidance ...".
// Classifier guidance calls its model with the null class, so it would silently drop a
// classifier-free guidance under it; classifier-free guidance over classifier guidance is
// classifier guidance at the product of the scales; either of them twice is one at the product of
// the scales (or, classifier guidance, the outer one alone). The CLI's --guidance with --classifier
// is refused by this rule.

/// Classifier-free guidance over a conditional model with a null class (DPM-Solver's and
/// diffusers' convention, Ho & Salimans 2022 with w = scale - 1):
///   out = (1 - scale) out_null + scale out_y,
/// with out_y the model's prediction for the row's label y and out_null its prediction for the
/// null class; scale 1 is the conditional model (bitwise), 0 the unconditional one (bitwise),
/// > 1 guides. The combination is taken in the model's own parameterisation: eps, x0, v and the
/// score are affine in each other at fixed (x, t) with coefficients of t alone, and the weights
/// (1 - s, s) sum to 1, so combining and then converting equals converting and then combining.
/// The conditional and null-class rows go to the model in ONE call of 2n rows (row i and row
/// n + i). A row with the null class (or a call without labels) is the unconditional prediction.
/// Conditioning, prediction and dimension are the model's; the JVP, VJP and divergence are
/// forwarded when the model has them (a linear combination of its own), and batch invariance
/// too. Throws InvalidArgument when the model is not conditional with a null class, or the scale
/// is not finite.
std::unique_ptr<ModelDecorator> classifier_free_guidance(std::shared_ptr<const ScoreModel> model, double scale);

/// The same over a pair: a conditional model (classes, with or without a null class) and an
/// unconditional model of the same dimension; the unconditional prediction is converted to the
/// conditional model's parameterisation under `sde` (which must outlive the decorator) when they
/// differ. Two calls of n rows (two models cannot share a call). Rows without a label (or with
/// the conditional model's null class) get the unconditional prediction.
std::unique_ptr<ModelDecorator> classifier_free_guidance(std::shared_ptr<const ScoreModel> conditional,
                                                         std::shared_ptr<const ScoreModel> unconditional,
                                                         const Sde& sde, double scale);

/// A noise-conditional classifier p_t(y | x): what classifier guidance needs is the gradient in
/// x of its log-probability of the row's label. Same thread-safety contract as ScoreModel.
class NoisyClassifier {
 public:
  virtual ~NoisyClassifier() = default;
  /// Number of classes C (labels 0 .. C-1).
  virtual int classes() const = 0;
  /// Dimension of x, or 0 when any.
  virtual Eigen::Index dim() const = 0;
  /// Whether row i of every output is bitwise independent of the other rows of the call.
  virtual bool batch_invariant() const { return false; }
  /// One line, for `tweedie info` and messages.
  virtual std::string description() const = 0;
  /// out.row(i) = grad_x log p_t(y_i | x) at (x.row(i), t(i)) with y_i = in.labels[i] in [0, C).
  virtual void log_prob_gradient(const ModelInput& in, MatrixRef out) const = 0;
  /// Whether `gradient_jvp` is available (second derivatives).
  virtual bool has_gradient_jvp() const { return false; }
  /// out.row(i) = H_i v.row(i), H_i the Hessian in x of log p_t(y_i | x). Throws by default.
  virtual void gradient_jvp(const ModelInput& in, const ConstMatrixRef& v, MatrixRef out) const;
};

/// The exact classifier of a labelled mixture (copied) under `sde` (which must outlive it):
/// grad_x log p_t(y | x) = score of p_t(x | y) - score of p_t(x), in closed form, with its
/// Hessian-vector product (the difference of the two score JVPs). Batch-invariant.
/// Throws InvalidArgument when the mixture is unlabelled.
std::unique_ptr<NoisyClassifier> exact_classifier(const GaussianMixture& mixture, const Sde& sde);

/// A classifier from a callable of its logits and their vector-Jacobian product, e.g. a network
/// with reverse mode: logits(in, out) fills out (n x C) with the logits at each row;
/// logits_vjp(in, w, out) fills out (n x d) with J_i^T w.row(i) (w is n x C). The gradient is
/// J^T (e_y - softmax(logits)), the input gradient of log softmax_y.
using LogitsFunction = std::function<void(const ModelInput&, MatrixRef)>;
using LogitsVjpFunction = std::function<void(const ModelInput&, const ConstMatrixRef&, MatrixRef)>;
std::unique_ptr<NoisyClassifier> make_classifier(int classes, Eigen::Index dim, std::string description,
                                                 LogitsFunction logits, LogitsVjpFunction logits_vjp,
                                                 bool batch_invariant = false);

/// Classifier guidance (Dhariwal & Nichol 2021; DPM-Solver's classifier wrapper):
///   score = score_u + scale grad_x log p_t(y | x),   i.e.   eps = eps_u - scale sigma_t grad,
/// with score_u the model's prediction for the null class (the model unconditional, or
/// conditional with a null class: it is called with the null class). The term is added in the
/// model's own parameterisation through the linear part of Tweedie's formula (score -> eps:
/// -sigma; -> x0: sigma^2 / alpha; -> v: -sigma (alpha^2 + sigma^2) / alpha). Rows labelled
/// with the classifier's null class C (or a call without labels) are not guided. Conditioning:
/// C classes and null class C. The JVP is forwarded when the model has one and the classifier a
/// gradient JVP; no divergence (the library's likelihood then takes the trace of d JVPs) and no
/// VJP. `sde` must outlive the decorator. Throws InvalidArgument on a non-finite scale or a
/// dimension mismatch.
std::unique_ptr<ModelDecorator> classifier_guidance(std::shared_ptr<const ScoreModel> model,
                                                    std::shared_ptr<const NoisyClassifier> classifier,
                                                    const Sde& sde, double scale);

}  // namespace tweedie
