// Model decorators: ScoreModels that wrap a ScoreModel (guidance, x0 hooks, imputation), so that
// every sampler, the likelihood and the ELBO use them unchanged.
#pragma once

#include <tweedie/model.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace tweedie {

/// A ScoreModel computed from another one (the `inner` model). A decorator declares only the
/// capabilities it preserves: a JVP or a divergence passes through a linear combination of
/// models, never through a clipping or a rounding. Decorators stack (guidance, then an x0 hook,
/// then imputation); `describe_stack` lists the stack.
class ModelDecorator : public ScoreModel {
 public:
  /// Throws InvalidArgument when `inner` is null.
  explicit ModelDecorator(std::shared_ptr<const ScoreModel> inner);
  const ScoreModel& inner() const { return *inner_; }
  /// One line: what the decorator does and with which parameters, e.g.
  /// "classifier-free guidance (scale 2, conditional and null-class rows in one call of 2n rows)".
  virtual std::string description() const = 0;
  Eigen::Index dim() const override { return inner_->dim(); }

 protected:
  std::shared_ptr<const ScoreModel> inner_;
};

/// "prediction noise, divergence no, JVP yes, VJP yes, batch-invariant yes": what a model offers.
std::string describe_capabilities(const ScoreModel& model);

/// The decorators of `model` from the outermost inwards, one line each ("description:
/// capabilities"); the base model itself is not listed (its caller knows what it is). Empty for a
/// model that is not a decorator.
std::vector<std::string> describe_stack(const ScoreModel& model);

/// The description of the decorator in `model`'s stack that drops a capability: the outermost one
/// that lacks it (`has` false) while its inner model has it; empty when no decorator drops it.
/// For error messages that name the decorator at fault.
std::string decorator_dropping(const ScoreModel& model, const std::function<bool(const ScoreModel&)>& has);

}  // namespace tweedie
