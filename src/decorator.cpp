#include <tweedie/decorator.hpp>

#include <fmt/format.h>

namespace tweedie {

ModelDecorator::ModelDecorator(std::shared_ptr<const ScoreModel> inner) : inner_(std::move(inner)) {
  if (!inner_) throw InvalidArgument("a model decorator needs a model to wrap (got a null pointer)");
}

std::string describe_capabilities(const ScoreModel& m) {
  auto yes = [](bool b) { return b ? "yes" : "no"; };
  return fmt::format("prediction {}, divergence {}, JVP {}, VJP {}, batch-invariant {}", to_string(m.prediction()),
                     yes(m.has_divergence()), yes(m.has_jvp()), yes(m.has_vjp()), yes(m.batch_invariant()));
}

std::vector<std::string> describe_stack(const ScoreModel& model) {
  std::vector<std::string> lines;
  for (const ScoreModel* m = &model; const auto* d = dynamic_cast<const ModelDecorator*>(m); m = &d->inner()) {
    lines.push_back(fmt::format("{}: {}", d->description(), describe_capabilities(*d)));
  }
  return lines;
}

std::string decorator_dropping(const ScoreModel& model, const std::function<bool(const ScoreModel&)>& has) {
  for (const ScoreModel* m = &model; const auto* d = dynamic_cast<const ModelDecorator*>(m); m = &d->inner()) {
    if (!has(*d) && has(d->inner())) return d->description();
  }
  return {};
}

}  // namespace tweedie
