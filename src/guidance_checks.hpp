// The checks that classifier-free and classifier guidance share.
#pragma once

#include <tweedie/decorator.hpp>
#include <tweedie/types.hpp>

#include <fmt/format.h>

#include <cmath>
#include <memory>

namespace tweedie::detail {

/// Throws InvalidArgument naming `what` ("classifier guidance") unless the scale is finite.
inline void check_scale(double scale, const char* what) {
  if (!std::isfinite(scale)) throw InvalidArgument(fmt::format("{}: the guidance scale must be finite, got {}", what, scale));
}

/// The base of the guidance decorators, which enforces one guidance per model: it refuses an
/// inner model whose stack already holds guidance (guidance.hpp says why).
class GuidanceDecorator : public ModelDecorator {
 public:
  /// `kind` names the guidance in messages: "classifier-free guidance" or "classifier guidance".
  GuidanceDecorator(std::shared_ptr<const ScoreModel> inner, const char* kind)
      : ModelDecorator(std::move(inner)), kind_(kind) {
    for (const ScoreModel* m = inner_.get(); m;) {
      if (const auto* guided = dynamic_cast<const GuidanceDecorator*>(m)) {
        throw InvalidArgument(fmt::format("{} cannot be stacked on {}: a model takes one guidance (choose "
                                          "classifier-free or classifier guidance)",
                                          kind_, guided->kind_));
      }
      const auto* decorator = dynamic_cast<const ModelDecorator*>(m);
      m = decorator ? &decorator->inner() : nullptr;
    }
  }

 private:
  const char* kind_;
};

}  // namespace tweedie::detail
