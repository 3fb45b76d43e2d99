// The replacement method of score_sde at the model seam (imputation.hpp explains the choice).
#include <tweedie/imputation.hpp>

#include <fmt/format.h>

#include <bit>
#include <cmath>

namespace tweedie {

void Observation::validate(Eigen::Index dim) const {
  for (auto [m, name] : {std::pair{&values, "the observed values"}, {&mask, "the mask"}}) {
    if (m->rows() < 1 || m->cols() < 1) throw InvalidArgument(fmt::format("imputation: {} are empty", name));
    if (dim != 0 && m->cols() != dim) {
      throw InvalidArgument(fmt::format("imputation: {} have {} columns but the model's dimension is {}", name,
                                        m->cols(), dim));
    }
  }
  if (values.cols() != mask.cols()) {
    throw InvalidArgument(fmt::format("imputation: the observed values have {} columns but the mask {}", values.cols(),
                                      mask.cols()));
  }
  if (values.rows() > 1 && mask.rows() > 1 && values.rows() != mask.rows()) {
    throw InvalidArgument(fmt::format("imputation: the observed values have {} rows but the mask {} (give 1 or the "
                                      "same number)",
                                      values.rows(), mask.rows()));
  }
  for (Eigen::Index i = 0; i < std::max(values.rows(), mask.rows()); ++i) {
    for (Eigen::Index j = 0; j < mask.cols(); ++j) {
      const double m = mask(mask.rows() == 1 ? 0 : i, j);
      if (m != 0.0 && m != 1.0) {
        throw InvalidArgument(fmt::format("imputation: the mask's entry ({}, {}) is {}, not 0 or 1", i, j, m));
      }
      const double v = values(values.rows() == 1 ? 0 : i, j);
      if (m == 1.0 && !std::isfinite(v)) {
        throw InvalidArgument(fmt::format("imputation: the observed value ({}, {}) is {}", i, j, v));
      }
    }
  }
}

Imputation::Imputation(std::shared_ptr<const ScoreModel> model, const Sde& sde, Observation observation,
                       std::uint64_t seed, int noise_stream)
    : ModelDecorator(std::move(model)), sde_(sde), observation_(std::move(observation)), noise_(seed, noise_stream) {
  observation_.validate(inner_->dim());
}

std::string Imputation::description() const {
  return fmt::format("imputation by replacement ({} observation row{})", observation_rows(),
                     observation_rows() == 1 ? " shared by every sample" : "s, one per sample");
}

Eigen::Index Imputation::observation_row(std::uint64_t sample) const {
  const Eigen::Index rows = std::max(observation_.values.rows(), observation_.mask.rows());
  if (rows == 1) return 0;
  if (sample >= static_cast<std::uint64_t>(rows)) {
    throw InvalidArgument(fmt::format("imputation: sample {} has no observation (the observation has {} rows)",
                                      sample, rows));
  }
  return static_cast<Eigen::Index>(sample);
}

namespace {

// Row r of a tensor of 1 (shared) or n rows.
Eigen::Ref<const Eigen::RowVectorXd> row_of(const Matrix& m, Eigen::Index r) { return m.row(m.rows() == 1 ? 0 : r); }

}  // namespace

std::vector<Eigen::Index> Imputation::observation_rows_of(const ModelInput& in) const {
  if (in.samples.size() != static_cast<std::size_t>(in.rows())) {
    throw InvalidArgument("imputation: the rows carry no sample indices (call it through a driver, or give "
                          "ModelInput::samples)");
  }
  std::vector<Eigen::Index> rows(in.samples.size());
  for (std::size_t i = 0; i < rows.size(); ++i) rows[i] = observation_row(in.samples[i]);
  return rows;
}

Matrix Imputation::replaced_input(const ModelInput& in, const std::vector<Eigen::Index>& rows) const {
  Matrix replaced = in.x, z(1, in.x.cols());
  for (Eigen::Index i = 0; i < in.rows(); ++i) {
    // a fresh z at every time the model is evaluated at (score_sde's fresh draw per update),
    // keyed by the bits of t: the same for every thread count and chunk
    const auto bits = std::bit_cast<std::uint64_t>(in.t(i));
    noise_.normal(in.samples[static_cast<std::size_t>(i)], static_cast<std::uint32_t>(bits ^ (bits >> 32)), 0,
                  NoiseStream::observe, z);
    const double a = sde_.alpha(in.t(i)), s = sde_.sigma(in.t(i));
    const Eigen::Index r = rows[static_cast<std::size_t>(i)];
    const auto y = row_of(observation_.values, r), mask = row_of(observation_.mask, r);
    for (Eigen::Index j = 0; j < in.x.cols(); ++j) {
      if (mask(j) == 1.0) replaced(i, j) = a * y(j) + s * z(0, j);
    }
  }
  return replaced;
}

void Imputation::copy_coordinates(const std::vector<Eigen::Index>& rows, bool observed, const ConstMatrixRef& from,
                                  MatrixRef to) const {
  for (Eigen::Index i = 0; i < to.rows(); ++i) {
    const auto mask = row_of(observation_.mask, rows[static_cast<std::size_t>(i)]);
    for (Eigen::Index j = 0; j < to.cols(); ++j) {
      if ((mask(j) == 1.0) == observed) to(i, j) = from(i, j);
    }
  }
}

void Imputation::evaluate(const ModelInput& in, MatrixRef out) const {
  const std::vector<Eigen::Index> rows = observation_rows_of(in);
  const Matrix replaced = replaced_input(in, rows);
  inner_->evaluate(ModelInput{in.t, replaced, in.samples, in.labels}, out);
  // On the observed coordinates, the exact conditional prediction x0 = y at the state's own x.
  Matrix exact = Matrix::Zero(in.rows(), in.x.cols());
  for (Eigen::Index i = 0; i < in.rows(); ++i) {
    const Eigen::Index r = rows[static_cast<std::size_t>(i)];
    const auto y = row_of(observation_.values, r), mask = row_of(observation_.mask, r);
    for (Eigen::Index j = 0; j < in.x.cols(); ++j) {
      if (mask(j) == 1.0) exact(i, j) = y(j);
    }
  }
  convert_prediction(sde_, Prediction::data, prediction(), in.t, in.x, exact, exact);
  copy_coordinates(rows, true, exact, out);
}

void Imputation::jvp(const ModelInput& in, const ConstMatrixRef& v, MatrixRef out) const {
  // The replaced input does not depend on x at the observed coordinates: the inner JVP along v
  // with those directions zeroed. The observed outputs are A(t) x + B(t) y, whose JVP is A(t) v,
  // the conversion of (v, 0).
  const std::vector<Eigen::Index> rows = observation_rows_of(in);
  const Matrix replaced = replaced_input(in, rows);
  Matrix free_v = Matrix::Zero(v.rows(), v.cols());
  copy_coordinates(rows, false, v, free_v);
  inner_->jvp(ModelInput{in.t, replaced, in.samples, in.labels}, free_v, out);
  Matrix observed(in.rows(), in.x.cols());
  convert_prediction(sde_, Prediction::data, prediction(), in.t, v, Matrix::Zero(in.rows(), in.x.cols()), observed);
  copy_coordinates(rows, true, observed, out);
}

void Imputation::restore_observed(std::uint64_t first_sample, MatrixRef x) const {
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    const Eigen::Index r = observation_row(first_sample + static_cast<std::uint64_t>(i));
    const auto y = row_of(observation_.values, r), mask = row_of(observation_.mask, r);
    for (Eigen::Index j = 0; j < x.cols(); ++j) {
      if (mask(j) == 1.0) x(i, j) = y(j);
    }
  }
}

}  // namespace tweedie
