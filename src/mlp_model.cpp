#include <tweedie/mlp_model.hpp>
#include <tweedie/safetensors.hpp>

#include "mlp_network.hpp"

#include <fmt/format.h>

namespace tweedie {

MlpModel::~MlpModel() = default;

std::unique_ptr<MlpModel> MlpModel::load(const std::string& path, MlpOptions options) {
  const SafetensorsFile file = SafetensorsFile::read(path);
  std::unique_ptr<MlpModel> model(new MlpModel());
  model->spec_ = detail::read_spec(file);
  if (model->spec_.is_classifier()) {
    throw InvalidArgument(fmt::format("{}: a classifier of {} classes (output.logits), not a score network: use it "
                                      "for classifier guidance (--classifier)", path, model->spec_.logits));
  }
  model->precision_ = options.precision;
  model->sde_ = make_sde(model->spec_.sde);
  model->network_ = detail::make_network(model->spec_, *model->sde_, file, options.precision);
  return model;
}

std::string MlpModel::description() const {
  return fmt::format("{}, evaluated in {}", spec_.description(), to_string(precision_));
}

void MlpModel::check(const ModelInput& in, Eigen::Index cols, std::string_view what) const {
  if (in.x.cols() != spec_.dim) {
    throw InvalidArgument(fmt::format("network of dimension {} given rows of {} numbers", spec_.dim, in.x.cols()));
  }
  if (in.t.size() != in.rows()) {
    throw InvalidArgument(fmt::format("network given {} times for {} rows", in.t.size(), in.rows()));
  }
  if (cols >= 0 && cols != spec_.dim) {
    throw InvalidArgument(fmt::format("network {} of {} columns, expected {}", what, cols, spec_.dim));
  }
  const Conditioning& c = spec_.conditioning;
  if (!c.conditional()) return;
  if (in.labels.empty()) {
    if (c.has_null_class()) return;  // every row is the null class
    throw InvalidArgument("conditional network without a null class given no labels");
  }
  if (static_cast<Eigen::Index>(in.labels.size()) != in.rows()) {
    throw InvalidArgument(fmt::format("conditional network given {} labels for {} rows", in.labels.size(), in.rows()));
  }
  for (std::size_t i = 0; i < in.labels.size(); ++i) {
    if (!c.accepts(in.labels[i])) {
      throw InvalidArgument(fmt::format("row {}: label {} is outside the network's classes 0..{}{}", i, in.labels[i],
                                        c.classes - 1,
                                        c.has_null_class() ? fmt::format(" and null class {}", c.null_class) : ""));
    }
  }
}

void MlpModel::evaluate(const ModelInput& in, MatrixRef out) const {
  check(in, -1, "");
  if (out.rows() != in.rows() || out.cols() != spec_.dim) {
    throw InvalidArgument(fmt::format("network output of shape ({}, {}), expected ({}, {})", out.rows(), out.cols(),
                                      in.rows(), spec_.dim));
  }
  network_->run(NetworkMode::evaluate, in, nullptr, out);
}

void MlpModel::jvp(const ModelInput& in, const ConstMatrixRef& v, MatrixRef out) const {
  check(in, v.cols(), "direction");
  if (v.rows() != in.rows() || out.rows() != in.rows() || out.cols() != spec_.dim) {
    throw InvalidArgument("network JVP: the direction and the output must have the shape of x");
  }
  network_->run(NetworkMode::jvp, in, &v, out);
}

void MlpModel::vjp(const ModelInput& in, const ConstMatrixRef& w, MatrixRef out) const {
  check(in, w.cols(), "cotangent");
  if (w.rows() != in.rows() || out.rows() != in.rows() || out.cols() != spec_.dim) {
    throw InvalidArgument("network VJP: the cotangent and the output must have the shape of x");
  }
  network_->run(NetworkMode::vjp, in, &w, out);
}

}  // namespace tweedie
