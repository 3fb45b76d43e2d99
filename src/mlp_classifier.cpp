// A noise-conditional classifier run by the MlpModel runtime: its logits by the forward pass and
// the input gradient of log softmax_y by the network's reverse mode (make_classifier).
#include <tweedie/mlp_classifier.hpp>
#include <tweedie/safetensors.hpp>

#include "mlp_network.hpp"

#include <fmt/format.h>

namespace tweedie {

MlpClassifier::~MlpClassifier() = default;

std::unique_ptr<MlpClassifier> MlpClassifier::load(const std::string& path, MlpOptions options) {
  const SafetensorsFile file = SafetensorsFile::read(path);
  std::unique_ptr<MlpClassifier> c(new MlpClassifier());
  c->spec_ = detail::read_spec(file);
  if (!c->spec_.is_classifier()) {
    throw InvalidArgument(fmt::format("{}: a score network (its tweedie.mlp spec has no output.logits), not a "
                                      "classifier", path));
  }
  c->precision_ = options.precision;
  c->source_ = path;
  c->sde_ = make_sde(c->spec_.sde);
  c->network_ = detail::make_network(c->spec_, *c->sde_, file, options.precision);
  const MlpClassifier* self = c.get();
  c->softmax_ = make_classifier(
      c->classes(), c->dim(), c->description(),
      [self](const ModelInput& in, MatrixRef out) { self->logits(in, out); },
      [self](const ModelInput& in, const ConstMatrixRef& w, MatrixRef out) { self->logits_vjp(in, w, out); },
      /*batch_invariant=*/true);
  return c;
}

std::string MlpClassifier::description() const {
  return fmt::format("{}, evaluated in {} ({})", spec_.description(), to_string(precision_), source_);
}

void MlpClassifier::check(const ModelInput& in) const {
  if (in.x.cols() != spec_.dim) {
    throw InvalidArgument(fmt::format("{}: classifier of dimension {} given rows of {} numbers", source_, spec_.dim,
                                      in.x.cols()));
  }
  if (in.t.size() != in.rows()) {
    throw InvalidArgument(fmt::format("{}: classifier given {} times for {} rows", source_, in.t.size(), in.rows()));
  }
}

void MlpClassifier::logits(const ModelInput& in, MatrixRef out) const {
  check(in);
  if (out.rows() != in.rows() || out.cols() != spec_.logits) {
    throw InvalidArgument(fmt::format("{}: classifier logits of shape ({}, {}), expected ({}, {})", source_,
                                      out.rows(), out.cols(), in.rows(), spec_.logits));
  }
  network_->run(NetworkMode::evaluate, in, nullptr, out);
}

void MlpClassifier::logits_vjp(const ModelInput& in, const ConstMatrixRef& w, MatrixRef out) const {
  check(in);
  if (w.rows() != in.rows() || w.cols() != spec_.logits || out.rows() != in.rows() || out.cols() != spec_.dim) {
    throw InvalidArgument(fmt::format("{}: classifier VJP: the cotangent must be ({}, {}) and the output ({}, {})",
                                      source_, in.rows(), spec_.logits, in.rows(), spec_.dim));
  }
  network_->run(NetworkMode::vjp, in, &w, out);
}

void MlpClassifier::log_prob_gradient(const ModelInput& in, MatrixRef out) const {
  softmax_->log_prob_gradient(in, out);
}

}  // namespace tweedie
