// Classifier-free guidance: an affine combination of the conditional and unconditional
// predictions, in the model's own parameterisation (docs/guidance.md).
#include <tweedie/guidance.hpp>

#include "guidance_checks.hpp"

#include <fmt/format.h>

#include <vector>

namespace tweedie {
namespace {

using detail::check_scale;

// The rows of a call twice: rows 0 .. n-1 with the caller's labels, rows n .. 2n-1 with the null
// class, so that the conditional and unconditional predictions come from one model call.
struct DoubledInput {
  Vector t;
  Matrix x;
  std::vector<std::uint64_t> samples;
  std::vector<int> labels;
  DoubledInput(const ModelInput& in, int null_class) : t(2 * in.rows()), x(2 * in.rows(), in.x.cols()) {
    const Eigen::Index n = in.rows();
    t << in.t, in.t;
    x << in.x, in.x;
    if (!in.samples.empty()) {
      samples.assign(in.samples.begin(), in.samples.end());
      samples.insert(samples.end(), in.samples.begin(), in.samples.end());
    }
    labels.assign(in.labels.begin(), in.labels.end());
    labels.resize(static_cast<std::size_t>(2 * n), null_class);
  }
  ModelInput input() const { return ModelInput{t, x, samples, labels}; }
};

// out.row(i) = (1 - s) u.row(i) + s c.row(i), written so that s = 1 gives c and s = 0 gives u
// bitwise; a row whose label is the null class is u.
void combine(const ModelInput& in, int null_class, double s, const ConstMatrixRef& c, const ConstMatrixRef& u,
             MatrixRef out) {
  for (Eigen::Index i = 0; i < out.rows(); ++i) {
    if (in.label(i, null_class) == null_class || s == 0.0) {
      out.row(i) = u.row(i);
    } else if (s == 1.0) {
      out.row(i) = c.row(i);
    } else {
      out.row(i) = (1.0 - s) * u.row(i) + s * c.row(i);
    }
  }
}

void combine(const ModelInput& in, int null_class, double s, const ConstVectorRef& c, const ConstVectorRef& u,
             VectorRef out) {
  for (Eigen::Index i = 0; i < out.size(); ++i) {
    const bool null = in.label(i, null_class) == null_class;
    out(i) = null || s == 0.0 ? u(i) : s == 1.0 ? c(i) : (1.0 - s) * u(i) + s * c(i);
  }
}

// One conditional model with a null class: the conditional and null-class rows in one call.
class NullClassGuidance final : public detail::GuidanceDecorator {
 public:
  NullClassGuidance(std::shared_ptr<const ScoreModel> model, double scale)
      : GuidanceDecorator(std::move(model), "classifier-free guidance"), scale_(scale), null_(inner_->conditioning().null_class) {
    check_scale(scale, "classifier-free guidance");
    if (!inner_->conditioning().conditional() || !inner_->conditioning().has_null_class()) {
      throw InvalidArgument(
          "classifier-free guidance needs a conditional model with a null class (this model has none: give an "
          "unconditional model as the pair's second model)");
    }
  }
  std::string description() const override {
    return fmt::format("classifier-free guidance (scale {:g}, conditional and null-class rows in one call of 2n rows)",
                       scale_);
  }
  Prediction prediction() const override { return inner_->prediction(); }
  Conditioning conditioning() const override { return inner_->conditioning(); }
  bool batch_invariant() const override { return inner_->batch_invariant(); }
  void evaluate(const ModelInput& in, MatrixRef out) const override {
    if (in.labels.empty()) return inner_->evaluate(in, out);  // every row is the null class
    const DoubledInput twice(in, null_);
    Matrix both(twice.x.rows(), twice.x.cols());
    inner_->evaluate(twice.input(), both);
    combine(in, null_, scale_, both.topRows(in.rows()), both.bottomRows(in.rows()), out);
  }
  using ScoreModel::evaluate;
  bool has_divergence() const override { return inner_->has_divergence(); }
  // The score of the combination is the same combination of the scores (weights summing to 1),
  // so its divergence is the combination of the divergences.
  void score_divergence(const ModelInput& in, VectorRef out) const override {
    if (in.labels.empty()) return inner_->score_divergence(in, out);
    const DoubledInput twice(in, null_);
    Vector both(twice.x.rows());
    inner_->score_divergence(twice.input(), both);
    combine(in, null_, scale_, both.head(in.rows()), both.tail(in.rows()), out);
  }
  void evaluate_with_divergence(const ModelInput& in, MatrixRef out, VectorRef divergence) const override {
    if (in.labels.empty()) return inner_->evaluate_with_divergence(in, out, divergence);
    const DoubledInput twice(in, null_);
    Matrix both(twice.x.rows(), twice.x.cols());
    Vector div(twice.x.rows());
    inner_->evaluate_with_divergence(twice.input(), both, div);
    const Eigen::Index n = in.rows();
    combine(in, null_, scale_, both.topRows(n), both.bottomRows(n), out);
    combine(in, null_, scale_, div.head(n), div.tail(n), divergence);
  }
  bool has_jvp() const override { return inner_->has_jvp(); }
  void jvp(const ModelInput& in, const ConstMatrixRef& v, MatrixRef out) const override {
    product(in, v, out, [this](const ModelInput& i, const ConstMatrixRef& d, MatrixRef o) { inner_->jvp(i, d, o); });
  }
  bool has_vjp() const override { return inner_->has_vjp(); }
  void vjp(const ModelInput& in, const ConstMatrixRef& w, MatrixRef out) const override {
    product(in, w, out, [this](const ModelInput& i, const ConstMatrixRef& d, MatrixRef o) { inner_->vjp(i, d, o); });
  }

 private:
  // J v and J^T w of a fixed combination are the same combination of the inner products.
  template <class Product>
  void product(const ModelInput& in, const ConstMatrixRef& dir, MatrixRef out, Product inner_product) const {
    if (in.labels.empty()) return inner_product(in, dir, out);
    const DoubledInput twice(in, null_);
    Matrix dirs(twice.x.rows(), dir.cols());
    dirs << dir, dir;
    Matrix both(twice.x.rows(), twice.x.cols());
    inner_product(twice.input(), dirs, both);
    combine(in, null_, scale_, both.topRows(in.rows()), both.bottomRows(in.rows()), out);
  }
  double scale_;
  int null_;
};

// A conditional and an unconditional model: two calls, the unconditional output converted to
// the conditional model's parameterisation.
class PairGuidance final : public detail::GuidanceDecorator {
 public:
  PairGuidance(std::shared_ptr<const ScoreModel> conditional, std::shared_ptr<const ScoreModel> unconditional,
               const Sde& sde, double scale)
      : GuidanceDecorator(std::move(conditional), "classifier-free guidance"), unconditional_(std::move(unconditional)), sde_(sde), scale_(scale) {
    check_scale(scale, "classifier-free guidance");
    if (!unconditional_) throw InvalidArgument("classifier-free guidance: the unconditional model is a null pointer");
    const Conditioning c = inner_->conditioning();
    if (!c.conditional()) throw InvalidArgument("classifier-free guidance: the first model of the pair is not conditional");
    if (unconditional_->conditioning().conditional()) {
      throw InvalidArgument("classifier-free guidance: the second model of the pair must be unconditional");
    }
    if (inner_->dim() != 0 && unconditional_->dim() != 0 && inner_->dim() != unconditional_->dim()) {
      throw InvalidArgument(fmt::format("classifier-free guidance: the conditional model has dimension {} but the "
                                        "unconditional one {}",
                                        inner_->dim(), unconditional_->dim()));
    }
    null_ = c.has_null_class() ? c.null_class : c.classes;
  }
  std::string description() const override {
    return fmt::format("classifier-free guidance (scale {:g}, a conditional and an unconditional model, two calls)",
                       scale_);
  }
  Prediction prediction() const override { return inner_->prediction(); }
  Conditioning conditioning() const override { return {inner_->conditioning().classes, null_}; }
  bool batch_invariant() const override { return inner_->batch_invariant() && unconditional_->batch_invariant(); }
  void evaluate(const ModelInput& in, MatrixRef out) const override {
    Matrix u(in.rows(), in.x.cols());
    evaluate_as(*unconditional_, sde_, prediction(), ModelInput{in.t, in.x, in.samples}, u);
    if (in.labels.empty()) {
      out = u;
      return;
    }
    const std::vector<int> labels = conditional_labels(in);
    Matrix c(in.rows(), in.x.cols());
    inner_->evaluate(ModelInput{in.t, in.x, in.samples, labels}, c);
    combine(in, null_, scale_, c, u, out);
  }
  using ScoreModel::evaluate;
  bool has_divergence() const override { return inner_->has_divergence() && unconditional_->has_divergence(); }
  void score_divergence(const ModelInput& in, VectorRef out) const override {
    Vector u(in.rows());
    unconditional_->score_divergence(ModelInput{in.t, in.x, in.samples}, u);
    if (in.labels.empty()) {
      out = u;
      return;
    }
    const std::vector<int> labels = conditional_labels(in);
    Vector c(in.rows());
    inner_->score_divergence(ModelInput{in.t, in.x, in.samples, labels}, c);
    combine(in, null_, scale_, c, u, out);
  }
  bool has_jvp() const override { return inner_->has_jvp() && unconditional_->has_jvp(); }
  void jvp(const ModelInput& in, const ConstMatrixRef& v, MatrixRef out) const override {
    product(in, v, out, [](const ScoreModel& m, const ModelInput& i, const ConstMatrixRef& d, MatrixRef o) {
      m.jvp(i, d, o);
    });
  }
  bool has_vjp() const override { return inner_->has_vjp() && unconditional_->has_vjp(); }
  void vjp(const ModelInput& in, const ConstMatrixRef& w, MatrixRef out) const override {
    product(in, w, out, [](const ScoreModel& m, const ModelInput& i, const ConstMatrixRef& d, MatrixRef o) {
      m.vjp(i, d, o);
    });
  }

 private:
  // The conditional model's labels: a null-class row gets class 0 when that model has no null
  // class (its output is not used: combine takes the unconditional one).
  std::vector<int> conditional_labels(const ModelInput& in) const {
    std::vector<int> labels(in.labels.begin(), in.labels.end());
    if (!inner_->conditioning().has_null_class()) {
      for (int& y : labels) y = y == null_ ? 0 : y;
    }
    return labels;
  }
  // Every conversion is out = A(t) x + B(t) prediction (model.cpp), so the unconditional
  // model's J v and J^T w convert like the pair (direction, product), as score_jvp does.
  template <class Product>
  void product(const ModelInput& in, const ConstMatrixRef& dir, MatrixRef out, Product model_product) const {
    Matrix u(in.rows(), in.x.cols());
    model_product(*unconditional_, ModelInput{in.t, in.x, in.samples}, dir, u);
    convert_prediction(sde_, unconditional_->prediction(), prediction(), in.t, dir, u, u);
    if (in.labels.empty()) {
      out = u;
      return;
    }
    const std::vector<int> labels = conditional_labels(in);
    Matrix c(in.rows(), in.x.cols());
    model_product(*inner_, ModelInput{in.t, in.x, in.samples, labels}, dir, c);
    combine(in, null_, scale_, c, u, out);
  }
  std::shared_ptr<const ScoreModel> unconditional_;
  const Sde& sde_;
  double scale_;
  int null_ = 0;
};

}  // namespace

std::unique_ptr<ModelDecorator> classifier_free_guidance(std::shared_ptr<const ScoreModel> model, double scale) {
  return std::make_unique<NullClassGuidance>(std::move(model), scale);
}

std::unique_ptr<ModelDecorator> classifier_free_guidance(std::shared_ptr<const ScoreModel> conditional,
                                                         std::shared_ptr<const ScoreModel> unconditional,
                                                         const Sde& sde, double scale) {
  return std::make_unique<PairGuidance>(std::move(conditional), std::move(unconditional), sde, scale);
}

}  // namespace tweedie
