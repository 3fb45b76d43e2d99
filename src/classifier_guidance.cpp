// Classifier guidance: the model's unconditional prediction plus scale times the input gradient
// of a noise-conditional classifier, added through the linear part of Tweedie's formula.
#include <tweedie/guidance.hpp>

#include "guidance_checks.hpp"

#include <fmt/format.h>

#include <vector>

namespace tweedie {

void NoisyClassifier::gradient_jvp(const ModelInput&, const ConstMatrixRef&, MatrixRef) const {
  throw InvalidArgument(fmt::format("the classifier {} provides no second derivatives", description()));
}

namespace {

// The rows of each label gathered, so that each class's mixture is evaluated on its rows only
// (the mixture's rows are bitwise independent of their neighbours, so gathering keeps that).
template <class PerClass>
void for_each_class(const ModelInput& in, int classes, PerClass per_class) {
  std::vector<std::vector<Eigen::Index>> rows(static_cast<std::size_t>(classes));
  for (Eigen::Index i = 0; i < in.rows(); ++i) {
    const int y = in.labels[static_cast<std::size_t>(i)];
    if (y < 0 || y >= classes) {
      throw InvalidArgument(fmt::format("classifier: row {} has label {}, not in 0 .. {}", i, y, classes - 1));
    }
    rows[static_cast<std::size_t>(y)].push_back(i);
  }
  for (int y = 0; y < classes; ++y) {
    if (!rows[static_cast<std::size_t>(y)].empty()) per_class(y, rows[static_cast<std::size_t>(y)]);
  }
}

void require_labels(const ModelInput& in, const std::string& what) {
  if (in.labels.size() != static_cast<std::size_t>(in.rows())) {
    throw InvalidArgument(fmt::format("{}: every row needs a class label ({} labels for {} rows)", what,
                                      in.labels.size(), in.rows()));
  }
}

// grad_x log p_t(y | x) = grad log p_t(x | y) - grad log p_t(x) (the class weight is constant).
class ExactClassifier final : public NoisyClassifier {
 public:
  ExactClassifier(const GaussianMixture& mixture, const Sde& sde) : mixture_(mixture), sde_(sde) {
    if (mixture.classes() == 0) throw InvalidArgument("exact classifier: the target mixture has no \"classes\"");
    for (int y = 0; y < mixture.classes(); ++y) conditionals_.push_back(mixture.conditional(y));
  }
  int classes() const override { return mixture_.classes(); }
  Eigen::Index dim() const override { return mixture_.dim(); }
  bool batch_invariant() const override { return true; }
  std::string description() const override {
    return fmt::format("the exact classifier of the target mixture ({} classes, closed form)", classes());
  }
  void log_prob_gradient(const ModelInput& in, MatrixRef out) const override {
    require_labels(in, "exact classifier");
    mixture_.score(sde_, in.t, in.x, out);
    per_class_minus(in, out, [&](int y, const std::vector<Eigen::Index>& rows, MatrixRef cls) {
      conditionals_[static_cast<std::size_t>(y)].score(sde_, in.t(rows), in.x(rows, Eigen::all), cls);
    });
  }
  bool has_gradient_jvp() const override { return true; }
  void gradient_jvp(const ModelInput& in, const ConstMatrixRef& v, MatrixRef out) const override {
    require_labels(in, "exact classifier");
    mixture_.score_jvp(sde_, in.t, in.x, v, out);
    per_class_minus(in, out, [&](int y, const std::vector<Eigen::Index>& rows, MatrixRef cls) {
      conditionals_[static_cast<std::size_t>(y)].score_jvp(sde_, in.t(rows), in.x(rows, Eigen::all),
                                                            v(rows, Eigen::all), cls);
    });
  }

 private:
  // out holds the whole mixture's value; each row becomes its class's value minus it.
  template <class ClassValue>
  void per_class_minus(const ModelInput& in, MatrixRef out, ClassValue value) const {
    for_each_class(in, classes(), [&](int y, const std::vector<Eigen::Index>& rows) {
      Matrix cls(static_cast<Eigen::Index>(rows.size()), in.x.cols());
      value(y, rows, cls);
      for (std::size_t k = 0; k < rows.size(); ++k) {
        out.row(rows[k]) = cls.row(static_cast<Eigen::Index>(k)) - out.row(rows[k]);
      }
    });
  }
  GaussianMixture mixture_;  // a copy: small, and the caller's may not outlive the classifier
  const Sde& sde_;
  std::vector<GaussianMixture> conditionals_;
};

// grad_x log softmax_y(logits) = J^T (e_y - softmax(logits)).
class FunctionClassifier final : public NoisyClassifier {
 public:
  FunctionClassifier(int classes, Eigen::Index dim, std::string description, LogitsFunction logits,
                     LogitsVjpFunction vjp, bool batch_invariant)
      : classes_(classes), dim_(dim), description_(std::move(description)), logits_(std::move(logits)),
        vjp_(std::move(vjp)), batch_invariant_(batch_invariant) {
    if (classes < 1) throw InvalidArgument(fmt::format("make_classifier: classes must be >= 1, got {}", classes));
    if (dim < 0) throw InvalidArgument(fmt::format("make_classifier: dim must be >= 0, got {}", dim));
    if (!logits_ || !vjp_) throw InvalidArgument("make_classifier: the logits function and its VJP must both be given");
  }
  int classes() const override { return classes_; }
  Eigen::Index dim() const override { return dim_; }
  bool batch_invariant() const override { return batch_invariant_; }
  std::string description() const override { return description_; }
  void log_prob_gradient(const ModelInput& in, MatrixRef out) const override {
    require_labels(in, description_);
    Matrix w(in.rows(), classes_);
    logits_(in, w);
    for (Eigen::Index i = 0; i < in.rows(); ++i) {
      const int y = in.labels[static_cast<std::size_t>(i)];
      if (y < 0 || y >= classes_) {
        throw InvalidArgument(fmt::format("{}: row {} has label {}, not in 0 .. {}", description_, i, y, classes_ - 1));
      }
      const double top = w.row(i).maxCoeff();  // softmax without overflow
      const Eigen::RowVectorXd e = (w.row(i).array() - top).exp().matrix();
      w.row(i) = -e / e.sum();
      w(i, y) += 1.0;
    }
    vjp_(in, w, out);
  }

 private:
  int classes_;
  Eigen::Index dim_;
  std::string description_;
  LogitsFunction logits_;
  LogitsVjpFunction vjp_;
  bool batch_invariant_;
};

class ClassifierGuidance final : public detail::GuidanceDecorator {
 public:
  ClassifierGuidance(std::shared_ptr<const ScoreModel> model, std::shared_ptr<const NoisyClassifier> classifier,
                     const Sde& sde, double scale)
      : GuidanceDecorator(std::move(model), "classifier guidance"), classifier_(std::move(classifier)), sde_(sde), scale_(scale) {
    if (!classifier_) throw InvalidArgument("classifier guidance: the classifier is a null pointer");
    detail::check_scale(scale, "classifier guidance");
    const Conditioning c = inner_->conditioning();
    if (c.conditional() && !c.has_null_class()) {
      throw InvalidArgument("classifier guidance needs an unconditional model or a conditional one with a null class");
    }
    if (inner_->dim() != 0 && classifier_->dim() != 0 && inner_->dim() != classifier_->dim()) {
      throw InvalidArgument(fmt::format("classifier guidance: the model has dimension {} but the classifier {}",
                                        inner_->dim(), classifier_->dim()));
    }
  }
  std::string description() const override {
    return fmt::format("classifier guidance (scale {:g}, {})", scale_, classifier_->description());
  }
  Prediction prediction() const override { return inner_->prediction(); }
  Conditioning conditioning() const override { return {classifier_->classes(), classifier_->classes()}; }
  bool batch_invariant() const override { return inner_->batch_invariant() && classifier_->batch_invariant(); }
  void evaluate(const ModelInput& in, MatrixRef out) const override {
    const std::vector<int> null = null_labels(in.rows());
    inner_->evaluate(ModelInput{in.t, in.x, in.samples, null}, out);
    add_guidance(in, out, [&](const ModelInput& guided, MatrixRef g) { classifier_->log_prob_gradient(guided, g); });
  }
  using ScoreModel::evaluate;
  bool has_jvp() const override { return inner_->has_jvp() && classifier_->has_gradient_jvp(); }
  void jvp(const ModelInput& in, const ConstMatrixRef& v, MatrixRef out) const override {
    const std::vector<int> null = null_labels(in.rows());
    inner_->jvp(ModelInput{in.t, in.x, in.samples, null}, v, out);
    add_guidance(in, out, [&](const ModelInput& guided, MatrixRef g) {
      classifier_->gradient_jvp(guided, guided_rows(in, v), g);
    });
  }

 private:
  // The inner model's null class for every row (empty for an unconditional model).
  std::vector<int> null_labels(Eigen::Index n) const {
    const Conditioning c = inner_->conditioning();
    return c.conditional() ? std::vector<int>(static_cast<std::size_t>(n), c.null_class) : std::vector<int>{};
  }
  bool guided(const ModelInput& in, Eigen::Index i) const {
    return in.label(i, classifier_->classes()) != classifier_->classes();
  }
  std::vector<Eigen::Index> guided_index(const ModelInput& in) const {
    std::vector<Eigen::Index> rows;
    for (Eigen::Index i = 0; i < in.rows(); ++i) {
      if (guided(in, i)) rows.push_back(i);
    }
    return rows;
  }
  Matrix guided_rows(const ModelInput& in, const ConstMatrixRef& m) const { return m(guided_index(in), Eigen::all); }
  // out += scale L(g) on the guided rows, with g = gradient(rows) and L the linear part of the
  // conversion score -> prediction(): the conversion of (0, g), since every conversion is
  // A(t) x + B(t) prediction.
  template <class Gradient>
  void add_guidance(const ModelInput& in, MatrixRef out, Gradient gradient) const {
    const std::vector<Eigen::Index> rows = guided_index(in);
    if (rows.empty() || scale_ == 0.0) return;
    const Vector t = in.t(rows);
    const Matrix x = in.x(rows, Eigen::all);
    std::vector<std::uint64_t> samples;
    std::vector<int> labels;
    for (const Eigen::Index i : rows) {
      if (!in.samples.empty()) samples.push_back(in.samples[static_cast<std::size_t>(i)]);
      labels.push_back(in.labels[static_cast<std::size_t>(i)]);
    }
    Matrix g(x.rows(), x.cols());
    gradient(ModelInput{t, x, samples, labels}, g);
    g *= scale_;
    convert_prediction(sde_, Prediction::score, prediction(), t, Matrix::Zero(x.rows(), x.cols()), g, g);
    for (std::size_t k = 0; k < rows.size(); ++k) out.row(rows[k]) += g.row(static_cast<Eigen::Index>(k));
  }
  std::shared_ptr<const NoisyClassifier> classifier_;
  const Sde& sde_;
  double scale_;
};

}  // namespace

std::unique_ptr<NoisyClassifier> exact_classifier(const GaussianMixture& mixture, const Sde& sde) {
  return std::make_unique<ExactClassifier>(mixture, sde);
}

std::unique_ptr<NoisyClassifier> make_classifier(int classes, Eigen::Index dim, std::string description,
                                                 LogitsFunction logits, LogitsVjpFunction logits_vjp,
                                                 bool batch_invariant) {
  return std::make_unique<FunctionClassifier>(classes, dim, std::move(description), std::move(logits),
                                              std::move(logits_vjp), batch_invariant);
}

std::unique_ptr<ModelDecorator> classifier_guidance(std::shared_ptr<const ScoreModel> model,
                                                    std::shared_ptr<const NoisyClassifier> classifier,
                                                    const Sde& sde, double scale) {
  return std::make_unique<ClassifierGuidance>(std::move(model), std::move(classifier), sde, scale);
}

}  // namespace tweedie
