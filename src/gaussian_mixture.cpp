#include <tweedie/gaussian_mixture.hpp>

#include "json_input.hpp"
#include "mixture_kernel.hpp"
#include "numeric.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <numbers>
#include <numeric>
#include <span>
#include <sstream>
#include <vector>

namespace tweedie {
namespace {

// The mixture as a model. A labelled mixture holds the mixture of each class; rows are grouped
// by label and each group is evaluated by its class's mixture (the whole batch at once when every
// row shares one label). Gathering rows does not change their bits: each row goes through the
// same fixed tiles whatever its neighbours.
class MixtureScoreModel final : public ScoreModel {
 public:
  MixtureScoreModel(GaussianMixture g, const Sde& sde) : g_(std::move(g)), sde_(sde) {
    for (int y = 0; y < g_.classes(); ++y) by_class_.push_back(g_.conditional(y));
  }
  Prediction prediction() const override { return Prediction::score; }
  Eigen::Index dim() const override { return g_.dim(); }
  Conditioning conditioning() const override {
    if (g_.classes() == 0) return {};
    return {.classes = g_.classes(), .null_class = g_.classes()};
  }
  bool batch_invariant() const override { return true; }
  void evaluate(const ModelInput& in, MatrixRef out) const override {
    for_each_class(in, [&](const GaussianMixture& g, const ModelInput& rows, Rows idx) {
      if (idx.empty()) return g.score(sde_, rows.t, rows.x, out);
      Matrix part(rows.rows(), rows.x.cols());
      g.score(sde_, rows.t, rows.x, part);
      scatter(part, idx, out);
    });
  }
  bool has_divergence() const override { return true; }
  void score_divergence(const ModelInput& in, VectorRef out) const override {
    for_each_class(in, [&](const GaussianMixture& g, const ModelInput& rows, Rows idx) {
      if (idx.empty()) return g.score_divergence(sde_, rows.t, rows.x, out);
      Vector part(rows.rows());
      g.score_divergence(sde_, rows.t, rows.x, part);
      scatter(part, idx, out);
    });
  }
  void evaluate_with_divergence(const ModelInput& in, MatrixRef out, VectorRef divergence) const override {
    for_each_class(in, [&](const GaussianMixture& g, const ModelInput& rows, Rows idx) {
      if (idx.empty()) return g.score_and_divergence(sde_, rows.t, rows.x, out, divergence);
      Matrix part(rows.rows(), rows.x.cols());
      Vector div(rows.rows());
      g.score_and_divergence(sde_, rows.t, rows.x, part, div);
      scatter(part, idx, out);
      scatter(div, idx, divergence);
    });
  }
  bool has_jvp() const override { return true; }
  void jvp(const ModelInput& in, const ConstMatrixRef& v, MatrixRef out) const override {
    for_each_class(in, [&](const GaussianMixture& g, const ModelInput& rows, Rows idx) {
      if (idx.empty()) return g.score_jvp(sde_, rows.t, rows.x, v, out);
      Matrix part(rows.rows(), rows.x.cols());
      g.score_jvp(sde_, rows.t, rows.x, v(idx, Eigen::all), part);
      scatter(part, idx, out);
    });
  }

 private:
  using Rows = std::span<const Eigen::Index>;  // the rows of a group; empty: all rows, in order

  const GaussianMixture& mixture_of(int label) const {
    if (label == g_.classes()) return g_;  // the null class (also the only one when unlabelled)
    if (label < 0 || label > g_.classes()) {
      throw InvalidArgument(fmt::format("label {} is not a class of the mixture (0 .. {}, or {} for none)",
                                        label, g_.classes() - 1, g_.classes()));
    }
    return by_class_[static_cast<std::size_t>(label)];
  }

  // Calls apply(mixture, rows, idx) for each label present, in increasing label order.
  template <class Apply>
  void for_each_class(const ModelInput& in, Apply&& apply) const {
    const int none = g_.classes();
    if (!in.labels.empty() && static_cast<Eigen::Index>(in.labels.size()) != in.rows()) {
      throw InvalidArgument(fmt::format("{} labels given for {} rows", in.labels.size(), in.rows()));
    }
    if (!in.labels.empty() && none == 0) {
      throw InvalidArgument("the mixture has no \"classes\": it takes no labels");
    }
    const bool one_label = in.labels.empty() ||
                           std::all_of(in.labels.begin(), in.labels.end(), [&](int y) { return y == in.labels[0]; });
    if (one_label) return apply(mixture_of(in.label(0, none)), in, Rows{});
    std::vector<int> present(in.labels.begin(), in.labels.end());
    std::sort(present.begin(), present.end());
    present.erase(std::unique(present.begin(), present.end()), present.end());
    std::vector<Eigen::Index> idx;
    for (int y : present) {
      const GaussianMixture& g = mixture_of(y);
      idx.clear();
      for (Eigen::Index i = 0; i < in.rows(); ++i) {
        if (in.labels[static_cast<std::size_t>(i)] == y) idx.push_back(i);
      }
      const Vector t = in.t(idx);
      const Matrix x = in.x(idx, Eigen::all);
      apply(g, ModelInput{t, x}, Rows(idx));
    }
  }

  template <class Part, class Out>
  static void scatter(const Part& part, Rows idx, Out& out) {
    for (std::size_t k = 0; k < idx.size(); ++k) {
      if constexpr (Part::ColsAtCompileTime == 1) {
        out(idx[k]) = part(static_cast<Eigen::Index>(k));
      } else {
        out.row(idx[k]) = part.row(static_cast<Eigen::Index>(k));
      }
    }
  }

  GaussianMixture g_;
  std::vector<GaussianMixture> by_class_;
  const Sde& sde_;
};

// ---- JSON --------------------------------------------------------------------------------

[[noreturn]] void bad(const std::string& source, const std::string& what) {
  throw InvalidArgument(fmt::format("{}: {}", source, what));
}

double number_at(const nlohmann::json& v, const std::string& source, const std::string& where) {
  if (!v.is_number()) bad(source, fmt::format("{} is not a number", where));
  const double x = v.get<double>();
  if (!std::isfinite(x)) bad(source, fmt::format("{} is not finite", where));
  return x;
}

Matrix table_at(const nlohmann::json& doc, const std::string& key, const std::string& source) {
  if (!doc.contains(key)) bad(source, fmt::format("missing key \"{}\"", key));
  const auto& rows = doc.at(key);
  if (!rows.is_array() || rows.empty()) {
    bad(source, fmt::format("\"{}\" must be a non-empty array of rows", key));
  }
  Matrix out;
  for (std::size_t k = 0; k < rows.size(); ++k) {
    const auto& row = rows[k];
    if (!row.is_array() || row.empty()) {
      bad(source, fmt::format("{}[{}] must be a non-empty array of numbers", key, k));
    }
    if (k == 0) out.resize(static_cast<Eigen::Index>(rows.size()), static_cast<Eigen::Index>(row.size()));
    if (static_cast<Eigen::Index>(row.size()) != out.cols()) {
      bad(source, fmt::format("{}[{}] has {} numbers, but {}[0] has {} (ragged rows)", key, k,
                              row.size(), key, out.cols()));
    }
    for (std::size_t j = 0; j < row.size(); ++j) {
      out(static_cast<Eigen::Index>(k), static_cast<Eigen::Index>(j)) =
          number_at(row[j], source, fmt::format("{}[{}][{}]", key, k, j));
    }
  }
  return out;
}

}  // namespace

GaussianMixture::GaussianMixture(Vector weights, Matrix means, Matrix stds)
    : weights_(std::move(weights)), means_(std::move(means)), stds_(std::move(stds)) {
  const auto k = means_.rows();
  if (k == 0 || means_.cols() == 0) throw InvalidArgument("Gaussian mixture: no components");
  if (weights_.size() != k) {
    throw InvalidArgument(
        fmt::format("Gaussian mixture: {} weights for {} means", weights_.size(), k));
  }
  if (stds_.rows() != k || stds_.cols() != means_.cols()) {
    throw InvalidArgument(fmt::format("Gaussian mixture: stds are {} x {} but means are {} x {}",
                                      stds_.rows(), stds_.cols(), k, means_.cols()));
  }
  for (Eigen::Index i = 0; i < k; ++i) {
    if (!(std::isfinite(weights_(i)) && weights_(i) > 0.0)) {
      throw InvalidArgument(fmt::format("Gaussian mixture: weights[{}] = {} is not positive", i,
                                        weights_(i)));
    }
    for (Eigen::Index j = 0; j < stds_.cols(); ++j) {
      if (!(std::isfinite(stds_(i, j)) && stds_(i, j) >= 0.0)) {
        throw InvalidArgument(fmt::format("Gaussian mixture: stds[{}][{}] = {} is negative", i, j,
                                          stds_(i, j)));
      }
      if (!std::isfinite(means_(i, j))) {
        throw InvalidArgument(fmt::format("Gaussian mixture: means[{}][{}] is not finite", i, j));
      }
    }
  }
  weights_ /= weights_.sum();
}

GaussianMixture::GaussianMixture(Vector weights, Matrix means, Matrix stds, std::vector<int> classes)
    : GaussianMixture(std::move(weights), std::move(means), std::move(stds)) {
  if (static_cast<Eigen::Index>(classes.size()) != components()) {
    throw InvalidArgument(fmt::format("Gaussian mixture: {} class labels for {} components",
                                      classes.size(), components()));
  }
  const int count = classes.empty() ? 0 : *std::max_element(classes.begin(), classes.end()) + 1;
  std::vector<bool> used(static_cast<std::size_t>(std::max(count, 0)), false);
  for (std::size_t k = 0; k < classes.size(); ++k) {
    if (classes[k] < 0) {
      throw InvalidArgument(fmt::format("Gaussian mixture: classes[{}] = {} is negative", k, classes[k]));
    }
    used[static_cast<std::size_t>(classes[k])] = true;
  }
  for (int y = 0; y < count; ++y) {
    if (!used[static_cast<std::size_t>(y)]) {
      throw InvalidArgument(fmt::format(
          "Gaussian mixture: no component has class {} (labels must be 0 .. {} with every label used)", y,
          count - 1));
    }
  }
  classes_ = std::move(classes);
}

GaussianMixture GaussianMixture::conditional(int y) const {
  if (classes_.empty()) throw InvalidArgument("Gaussian mixture: the mixture has no classes");
  if (y < 0 || y >= classes()) {
    throw InvalidArgument(fmt::format("Gaussian mixture: class {} is not in 0 .. {}", y, classes() - 1));
  }
  std::vector<Eigen::Index> members;
  for (std::size_t k = 0; k < classes_.size(); ++k) {
    if (classes_[k] == y) members.push_back(static_cast<Eigen::Index>(k));
  }
  return GaussianMixture(weights_(members), means_(members, Eigen::all), stds_(members, Eigen::all));
}

void GaussianMixture::class_log_posterior(const Sde& sde, const ConstVectorRef& t, const ConstMatrixRef& x,
                                          MatrixRef out) const {
  if (classes_.empty()) throw InvalidArgument("Gaussian mixture: the mixture has no classes");
  if (out.rows() != x.rows() || out.cols() != classes()) {
    throw InvalidArgument(fmt::format("class_log_posterior: out is {} x {}, expected {} x {}", out.rows(),
                                      out.cols(), x.rows(), classes()));
  }
  Vector total(x.rows()), part(x.rows());
  log_density(sde, t, x, total);
  for (int y = 0; y < classes(); ++y) {
    // log sum_{k in y} w_k N_k = log W_y + log p_t(x | y), with W_y the class's total weight.
    double weight = 0.0;
    for (std::size_t k = 0; k < classes_.size(); ++k) {
      if (classes_[k] == y) weight += weights_(static_cast<Eigen::Index>(k));
    }
    conditional(y).log_density(sde, t, x, part);
    out.col(y) = (std::log(weight) + part.array() - total.array()).matrix();
  }
}

GaussianMixture GaussianMixture::from_json(const std::string& text, const std::string& source) {
  nlohmann::json doc;
  try {
    doc = detail::parse_json_object(text, source, detail::target_keys(), detail::target_max_depth);
  } catch (const nlohmann::json::parse_error& e) {
    bad(source, fmt::format("not valid JSON ({})", e.what()));
  }
  if (!doc.is_object()) bad(source, "the target must be a JSON object");
  if (!doc.contains("weights")) bad(source, "missing key \"weights\"");
  const auto& w = doc.at("weights");
  if (!w.is_array() || w.empty()) bad(source, "\"weights\" must be a non-empty array of numbers");
  Vector weights(static_cast<Eigen::Index>(w.size()));
  for (std::size_t k = 0; k < w.size(); ++k) {
    weights(static_cast<Eigen::Index>(k)) = number_at(w[k], source, fmt::format("weights[{}]", k));
    if (weights(static_cast<Eigen::Index>(k)) <= 0.0) {
      bad(source, fmt::format("weights[{}] = {} is not positive", k, w[k].get<double>()));
    }
  }
  Matrix means = table_at(doc, "means", source);
  Matrix stds = table_at(doc, "stds", source);
  if (means.rows() != weights.size()) {
    bad(source, fmt::format("\"means\" has {} rows but \"weights\" has {} entries", means.rows(),
                            weights.size()));
  }
  if (stds.rows() != means.rows() || stds.cols() != means.cols()) {
    bad(source, fmt::format("\"stds\" is {} x {} but \"means\" is {} x {} (dimension mismatch)",
                            stds.rows(), stds.cols(), means.rows(), means.cols()));
  }
  for (Eigen::Index k = 0; k < stds.rows(); ++k) {
    for (Eigen::Index j = 0; j < stds.cols(); ++j) {
      if (stds(k, j) < 0.0) bad(source, fmt::format("stds[{}][{}] = {} is negative", k, j, stds(k, j)));
    }
  }
  auto check_count = [&](const char* key, Eigen::Index expected) {
    if (!doc.contains(key)) return;
    const auto& v = doc.at(key);
    if (!v.is_number_integer() || v.get<long long>() != expected) {
      bad(source, fmt::format("\"{}\" is {} but the tables give {}", key, detail::describe_json(v), expected));
    }
  };
  check_count("dim", means.cols());
  check_count("n_components", means.rows());
  if (!doc.contains("classes")) return GaussianMixture(std::move(weights), std::move(means), std::move(stds));
  const auto& c = doc.at("classes");
  if (!c.is_array() || static_cast<Eigen::Index>(c.size()) != means.rows()) {
    bad(source, fmt::format("\"classes\" must be an array of {} integer labels, one per component",
                            means.rows()));
  }
  std::vector<int> classes;
  for (std::size_t k = 0; k < c.size(); ++k) {
    if (!c[k].is_number_integer() || c[k].get<long long>() < 0 || c[k].get<long long>() >= means.rows()) {
      bad(source, fmt::format("classes[{}] must be an integer label in 0 .. {}", k, means.rows() - 1));
    }
    classes.push_back(static_cast<int>(c[k].get<long long>()));
  }
  try {
    return GaussianMixture(std::move(weights), std::move(means), std::move(stds), std::move(classes));
  } catch (const InvalidArgument& e) {
    bad(source, e.what());
  }
}

GaussianMixture GaussianMixture::load(const std::string& path) {
  return from_json(detail::read_text_file(path, detail::target_max_bytes, "target file"), path);
}

GaussianMixture GaussianMixture::ring(int k, double radius, double std) {
  if (k < 1) throw InvalidArgument("ring: at least one component");
  Matrix means(k, 2);
  for (int i = 0; i < k; ++i) {
    const double angle = 2.0 * std::numbers::pi * i / k;
    means(i, 0) = radius * std::cos(angle);
    means(i, 1) = radius * std::sin(angle);
  }
  return GaussianMixture(Vector::Ones(k), std::move(means), Matrix::Constant(k, 2, std));
}

void GaussianMixture::score(const Sde& sde, const ConstVectorRef& t, const ConstMatrixRef& x,
                            MatrixRef out) const {
  detail::MixtureOutputs o;
  o.score = &out;
  detail::evaluate_mixture(*this, sde, t, x, o);
}

void GaussianMixture::log_density(const Sde& sde, const ConstVectorRef& t, const ConstMatrixRef& x,
                                  VectorRef out) const {
  detail::MixtureOutputs o;
  o.log_density = &out;
  detail::evaluate_mixture(*this, sde, t, x, o);
}

void GaussianMixture::score_divergence(const Sde& sde, const ConstVectorRef& t,
                                       const ConstMatrixRef& x, VectorRef out) const {
  detail::MixtureOutputs o;
  o.divergence = &out;
  detail::evaluate_mixture(*this, sde, t, x, o);
}

void GaussianMixture::score_and_divergence(const Sde& sde, const ConstVectorRef& t,
                                           const ConstMatrixRef& x, MatrixRef score,
                                           VectorRef divergence) const {
  detail::MixtureOutputs o;
  o.score = &score;
  o.divergence = &divergence;
  detail::evaluate_mixture(*this, sde, t, x, o);
}

void GaussianMixture::score_jvp(const Sde& sde, const ConstVectorRef& t, const ConstMatrixRef& x,
                                const ConstMatrixRef& v, MatrixRef out) const {
  if (v.rows() != x.rows() || v.cols() != x.cols()) {
    throw InvalidArgument(fmt::format("the directions are {} x {} but the points {} x {}", v.rows(),
                                      v.cols(), x.rows(), x.cols()));
  }
  detail::MixtureOutputs o;
  o.direction = &v;
  o.jvp = &out;
  detail::evaluate_mixture(*this, sde, t, x, o);
}

Matrix GaussianMixture::sample(const Sde& sde, double t, std::size_t n, const PhiloxNoise& noise,
                               std::uint64_t first_row) const {
  const auto rows = static_cast<Eigen::Index>(n);
  Vector u(rows);
  noise.uniform(first_row, 0, 0, NoiseStream::component, u);
  Matrix z(rows, dim());
  noise.normal(first_row, 0, 0, NoiseStream::marginal, z);
  const double a = sde.alpha(t), s = sde.sigma(t);
  Vector cumulative(components());
  std::partial_sum(weights_.begin(), weights_.end(), cumulative.begin());
  for (Eigen::Index i = 0; i < rows; ++i) {
    const double target = u(i) * cumulative(components() - 1);
    Eigen::Index k = 0;
    while (k + 1 < components() && cumulative(k) < target) ++k;
    const Eigen::ArrayXd std_t = ((a * a) * stds_.row(k).array().square() + s * s).sqrt().transpose();
    z.row(i) = (a * means_.row(k).array() + std_t.transpose() * z.row(i).array()).matrix();
  }
  return z;
}

Eigen::RowVectorXd GaussianMixture::mean(const Sde& sde, double t) const {
  return sde.alpha(t) * (weights_.transpose() * means_);
}

Eigen::MatrixXd GaussianMixture::covariance(const Sde& sde, double t) const {
  const double a = sde.alpha(t), s = sde.sigma(t);
  const Eigen::RowVectorXd mu = mean(sde, t);
  Eigen::MatrixXd cov = Eigen::MatrixXd::Identity(dim(), dim()) * (s * s);
  for (Eigen::Index k = 0; k < components(); ++k) {
    const Eigen::RowVectorXd dk = a * means_.row(k) - mu;
    cov += weights_(k) * (dk.transpose() * dk);
    cov.diagonal() += weights_(k) * (a * a) * stds_.row(k).array().square().matrix().transpose();
  }
  return cov;
}

std::unique_ptr<ScoreModel> exact_model(const GaussianMixture& mixture, const Sde& sde) {
  return std::make_unique<MixtureScoreModel>(mixture, sde);
}

}  // namespace tweedie
