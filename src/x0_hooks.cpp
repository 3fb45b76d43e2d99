// Hooks on the data prediction x0 and the decorator that applies one inside every model call.
#include <tweedie/x0_hooks.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace tweedie {
namespace {

class StaticClip final : public X0Hook {
 public:
  explicit StaticClip(double bound) : bound_(bound) {
    if (!(std::isfinite(bound) && bound > 0.0)) {
      throw InvalidArgument(fmt::format("static clipping: the bound must be finite and > 0, got {}", bound));
    }
  }
  std::string description() const override { return fmt::format("static clipping to [-{0:g}, {0:g}]", bound_); }
  void apply(const ModelInput&, MatrixRef x0) const override { x0 = x0.cwiseMax(-bound_).cwiseMin(bound_); }

 private:
  double bound_;
};

// torch.quantile's "linear" interpolation between neighbours in torch's arithmetic: ATen's
// vectorised lerp, the two-sided form with a fused multiply-add (the bits of torch 1.13 on
// x86-64, tests/data/thresholding).
double lerp(double start, double end, double weight) {
  return weight < 0.5 ? std::fma(weight, end - start, start) : std::fma(weight - 1.0, end - start, end);
}

class DynamicThreshold final : public X0Hook {
 public:
  DynamicThreshold(double ratio, double max_val) : ratio_(ratio), max_val_(max_val) {
    if (!(ratio >= 0.0 && ratio <= 1.0)) {
      throw InvalidArgument(fmt::format("dynamic thresholding: the ratio must be in [0, 1], got {}", ratio));
    }
    if (!(std::isfinite(max_val) && max_val > 0.0)) {
      throw InvalidArgument(fmt::format("dynamic thresholding: the max value must be finite and > 0, got {}", max_val));
    }
  }
  std::string description() const override {
    return fmt::format("dynamic thresholding (ratio {:g}, max {:g})", ratio_, max_val_);
  }
  void apply(const ModelInput&, MatrixRef x0) const override {
    std::vector<double> sorted(static_cast<std::size_t>(x0.cols()));
    const double rank = ratio_ * static_cast<double>(x0.cols() - 1);
    const auto below = static_cast<std::size_t>(std::floor(rank)), above = static_cast<std::size_t>(std::ceil(rank));
    for (Eigen::Index i = 0; i < x0.rows(); ++i) {
      if (!x0.row(i).allFinite()) continue;  // left for the drivers' finiteness check to report
      for (std::size_t j = 0; j < sorted.size(); ++j) sorted[j] = std::abs(x0(i, static_cast<Eigen::Index>(j)));
      std::sort(sorted.begin(), sorted.end());
      const double q = lerp(sorted[below], sorted[above], rank - std::floor(rank));
      const double s = std::max(q, max_val_);
      x0.row(i) = x0.row(i).cwiseMax(-s).cwiseMin(s) / s;
    }
  }

 private:
  double ratio_, max_val_;
};

class NearestEmbedding final : public X0Hook {
 public:
  explicit NearestEmbedding(Matrix table) : table_(std::move(table)) {
    if (table_.rows() < 1 || table_.cols() < 1) throw InvalidArgument("nearest-embedding rounding: the table is empty");
    if (!table_.allFinite()) throw InvalidArgument("nearest-embedding rounding: the table has a non-finite entry");
  }
  std::string description() const override {
    return fmt::format("nearest-embedding rounding ({} rows of width {})", table_.rows(), table_.cols());
  }
  Eigen::Index width() const { return table_.cols(); }
  void apply(const ModelInput&, MatrixRef x0) const override {
    const Eigen::Index e = width();
    if (x0.cols() % e != 0) {
      throw InvalidArgument(fmt::format("nearest-embedding rounding: dimension {} is not a multiple of the embedding "
                                        "width {}",
                                        x0.cols(), e));
    }
    for (Eigen::Index i = 0; i < x0.rows(); ++i) {
      for (Eigen::Index p = 0; p < x0.cols(); p += e) {
        // The squared distances themselves (not |x|^2 - 2 x.e + |e|^2, which cancels).
        Eigen::Index best = 0;
        double best_d2 = std::numeric_limits<double>::infinity();
        for (Eigen::Index k = 0; k < table_.rows(); ++k) {
          const double d2 = (x0.row(i).segment(p, e) - table_.row(k)).squaredNorm();
          if (d2 < best_d2) best_d2 = d2, best = k;
        }
        x0.row(i).segment(p, e) = table_.row(best);
      }
    }
  }

 private:
  Matrix table_;
};

class CallbackHook final : public X0Hook {
 public:
  CallbackHook(std::string description, X0Function fn, bool batch_invariant)
      : description_(std::move(description)), fn_(std::move(fn)), batch_invariant_(batch_invariant) {
    if (!fn_) throw InvalidArgument("x0_callback: the function is empty");
  }
  std::string description() const override { return description_; }
  bool batch_invariant() const override { return batch_invariant_; }
  void apply(const ModelInput& in, MatrixRef x0) const override { fn_(in, x0); }

 private:
  std::string description_;
  X0Function fn_;
  bool batch_invariant_;
};

class X0HookModel final : public ModelDecorator {
 public:
  X0HookModel(std::shared_ptr<const ScoreModel> model, std::shared_ptr<const X0Hook> hook, const Sde& sde)
      : ModelDecorator(std::move(model)), hook_(std::move(hook)), sde_(sde) {
    if (!hook_) throw InvalidArgument("apply_x0_hook: the hook is a null pointer");
    if (const auto* round = dynamic_cast<const NearestEmbedding*>(hook_.get());
        round && inner_->dim() != 0 && inner_->dim() % round->width() != 0) {
      throw InvalidArgument(fmt::format("nearest-embedding rounding: the model's dimension {} is not a multiple of "
                                        "the embedding width {}",
                                        inner_->dim(), round->width()));
    }
  }
  std::string description() const override { return hook_->description() + " of the data prediction"; }
  Prediction prediction() const override { return Prediction::data; }
  Conditioning conditioning() const override { return inner_->conditioning(); }
  bool batch_invariant() const override { return inner_->batch_invariant() && hook_->batch_invariant(); }
  void evaluate(const ModelInput& in, MatrixRef out) const override {
    evaluate_as(*inner_, sde_, Prediction::data, in, out);
    hook_->apply(in, out);
  }
  using ScoreModel::evaluate;

 private:
  std::shared_ptr<const X0Hook> hook_;
  const Sde& sde_;
};

}  // namespace

std::unique_ptr<X0Hook> static_clip(double bound) { return std::make_unique<StaticClip>(bound); }

std::unique_ptr<X0Hook> dynamic_threshold(double ratio, double max_val) {
  return std::make_unique<DynamicThreshold>(ratio, max_val);
}

std::unique_ptr<X0Hook> nearest_embedding(Matrix table) { return std::make_unique<NearestEmbedding>(std::move(table)); }

std::unique_ptr<X0Hook> x0_callback(std::string description, X0Function fn, bool batch_invariant) {
  return std::make_unique<CallbackHook>(std::move(description), std::move(fn), batch_invariant);
}

std::unique_ptr<ModelDecorator> apply_x0_hook(std::shared_ptr<const ScoreModel> model,
                                              std::shared_ptr<const X0Hook> hook, const Sde& sde) {
  return std::make_unique<X0HookModel>(std::move(model), std::move(hook), sde);
}

}  // namespace tweedie
