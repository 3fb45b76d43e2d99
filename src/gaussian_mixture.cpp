#include <tweedie/gaussian_mixture.hpp>

#include "json_input.hpp"
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

using ColMatrix = Eigen::MatrixXd;

// Rows are evaluated in tiles of a fixed number of rows (zero-padded), so that every row goes
// through the same matrix-product code path whatever the chunk it belongs to: this is what makes
// the results bitwise independent of the chunk size. 24 is a multiple of Eigen's row blocking for
// SSE2, AVX and AVX-512 doubles (6, 12 and 24 rows).
constexpr Eigen::Index kTile = 24;

// The mixture's marginal at one time, as the tables of its matrix-product form. With
// P = 1 / (alpha^2 s^2 + sigma^2) and m = alpha mu (K x d), component k's log-density at x is
//   c_k - 1/2 x^2 . P_k + x . (m P)_k,  c_k = log w_k - 1/2 sum_j (log 2 pi V_kj + m_kj^2 P_kj),
// and the score is sum_k r_k (m P)_k - x * sum_k r_k P_k with responsibilities r = softmax.
struct MarginalTables {
  ColMatrix logit_weights;     // 2d x K: [-P^T / 2 ; (m P)^T], multiplies [x^2, x]
  ColMatrix score_weights;     // K x 2d: [m P, P], multiplied by r
  ColMatrix curvature_weights;  // 2d x K: [P^2^T ; -2 (m P^2)^T], for the divergence
  Eigen::RowVectorXd logit_offset;      // c_k
  Eigen::RowVectorXd curvature_offset;  // sum_j m^2 P^2 - sum_j P
};

// Everything evaluate_run computes into, allocated once per call of evaluate_all (one-row runs,
// as per-row times make, would otherwise allocate all of it for every row).
struct Scratch {
  MarginalTables tab;
  Eigen::ArrayXXd var, p, m, mp, p2;  // K x d, the tables' ingredients
  ColMatrix features, logits, resp, weighted, score, curvature, direction, projections, projected;
  Eigen::VectorXd top, total, score_v;
  Eigen::Index zeroed_from = 0;  // rows of `features` from here on are zero
};

void marginal_tables(const GaussianMixture& g, double a, double s, bool divergence, Scratch& scratch) {
  const Eigen::Index d = g.dim();
  Eigen::ArrayXXd &var = scratch.var, &p = scratch.p, &m = scratch.m, &mp = scratch.mp;
  var = (a * a) * g.stds().array().square() + s * s;
  p = var.inverse();
  m = a * g.means().array();
  mp = m * p;
  MarginalTables& tab = scratch.tab;
  tab.logit_weights.resize(2 * d, g.components());
  tab.logit_weights.topRows(d) = (-0.5 * p).matrix().transpose();
  tab.logit_weights.bottomRows(d) = mp.matrix().transpose();
  tab.score_weights.resize(g.components(), 2 * d);
  tab.score_weights.leftCols(d) = mp.matrix();
  tab.score_weights.rightCols(d) = p.matrix();
  tab.logit_offset = (g.weights().array().log() -
                      0.5 * ((detail::log_two_pi + var.log()).rowwise().sum() +
                             (m * mp).rowwise().sum()))
                         .matrix()
                         .transpose();
  if (divergence) {
    Eigen::ArrayXXd& p2 = scratch.p2;
    p2 = p.square();
    tab.curvature_weights.resize(2 * d, g.components());
    tab.curvature_weights.topRows(d) = p2.matrix().transpose();
    tab.curvature_weights.bottomRows(d) = (-2.0 * m * p2).matrix().transpose();
    tab.curvature_offset = ((m.square() * p2).rowwise().sum() - p.rowwise().sum()).matrix().transpose();
  }
}

struct Outputs {
  MatrixRef* score = nullptr;
  VectorRef* log_density = nullptr;
  VectorRef* divergence = nullptr;
  const ConstMatrixRef* direction = nullptr;  // v of the Hessian-vector product
  MatrixRef* jvp = nullptr;                   // H v
};

// Evaluates the requested outputs for rows [begin, end) that share the time t.
void evaluate_run(const GaussianMixture& g, const Sde& sde, double t, const ConstMatrixRef& x,
                  Eigen::Index begin, Eigen::Index end, const Outputs& out, Scratch& scratch) {
  const Eigen::Index d = g.dim();
  const bool want_div = out.divergence != nullptr;
  const bool want_jvp = out.jvp != nullptr;
  marginal_tables(g, sde.alpha(t), sde.sigma(t), want_div, scratch);
  const MarginalTables& tab = scratch.tab;
  ColMatrix& features = scratch.features;  // [x^2, x], kTile x 2d
  ColMatrix &logits = scratch.logits, &resp = scratch.resp, &weighted = scratch.weighted;
  ColMatrix &score = scratch.score, &curvature = scratch.curvature, &direction = scratch.direction;
  ColMatrix &projections = scratch.projections, &projected = scratch.projected;
  Eigen::VectorXd &top = scratch.top, &total = scratch.total;
  for (Eigen::Index r0 = begin; r0 < end; r0 += kTile) {
    const Eigen::Index rows = std::min(kTile, end - r0);
    // Rows past `rows` must be zero: only those a longer tile left behind are cleared.
    if (scratch.zeroed_from > rows) features.middleRows(rows, scratch.zeroed_from - rows).setZero();
    scratch.zeroed_from = rows;
    features.topRightCorner(rows, d) = x.middleRows(r0, rows);
    features.topLeftCorner(rows, d) = features.topRightCorner(rows, d).array().square().matrix();
    logits.noalias() = features * tab.logit_weights;
    logits.rowwise() += tab.logit_offset;
    top = logits.rowwise().maxCoeff();
    logits.colwise() -= top;
    resp = logits.array().exp().matrix();  // in place first: Eigen vectorises this exp
    total = resp.rowwise().sum();
    resp.array().colwise() /= total.array();
    if (out.log_density) {
      out.log_density->segment(r0, rows) =
          top.head(rows).array() + total.head(rows).array().log();
    }
    if (!out.score && !want_div && !want_jvp) continue;
    weighted.noalias() = resp * tab.score_weights;
    score = weighted.leftCols(d) - (features.rightCols(d).array() * weighted.rightCols(d).array()).matrix();
    if (out.score) out.score->middleRows(r0, rows) = score.topRows(rows);
    if (want_div) {
      // div s = sum_k r_k (|s_k|^2 - sum_j P_kj) - |s|^2 with s_k = (m_k - x) P_k.
      curvature.noalias() = features * tab.curvature_weights;
      curvature.rowwise() += tab.curvature_offset;
      out.divergence->segment(r0, rows) =
          (resp.array() * curvature.array()).rowwise().sum().head(rows) -
          score.rowwise().squaredNorm().head(rows).array();
    }
    if (want_jvp) {
      // H v = sum_k r_k (s_k (s_k . v) - P_k v) - s (s . v). The projections s_k . v =
      // (m P)_k . v - P_k . (x v) are [2 x v, v] times the logit table [-P / 2 ; m P]^T, and
      // sum_k (r_k s_k . v) s_k is then the score's own product with r (s_k . v) for r.
      direction.setZero(kTile, 2 * d);
      direction.topRightCorner(rows, d) = out.direction->middleRows(r0, rows);
      direction.leftCols(d) = 2.0 * (features.rightCols(d).array() * direction.rightCols(d).array()).matrix();
      projections.noalias() = direction * tab.logit_weights;
      projections.array() *= resp.array();
      projected.noalias() = projections * tab.score_weights;
      const ColMatrix along = direction.rightCols(d);
      Eigen::VectorXd& score_v = scratch.score_v;
      score_v = (score.array() * along.array()).rowwise().sum();
      const ColMatrix hv =
          projected.leftCols(d) - (features.rightCols(d).array() * projected.rightCols(d).array()).matrix() -
          (weighted.rightCols(d).array() * along.array()).matrix() -
          (score.array().colwise() * score_v.array()).matrix();
      out.jvp->middleRows(r0, rows) = hv.topRows(rows);
    }
  }
}

// Runs `evaluate_run` over the maximal runs of rows that share their time.
void evaluate_all(const GaussianMixture& g, const Sde& sde, const ConstVectorRef& t,
                  const ConstMatrixRef& x, const Outputs& out) {
  if (x.cols() != g.dim()) {
    throw InvalidArgument(
        fmt::format("Gaussian mixture of dimension {} given rows of {} numbers", g.dim(), x.cols()));
  }
  if (t.size() != x.rows()) {
    throw InvalidArgument(fmt::format("{} times given for {} rows", t.size(), x.rows()));
  }
  Scratch scratch;
  const Eigen::Index d = g.dim();
  scratch.features.setZero(kTile, 2 * d);
  scratch.zeroed_from = 0;
  scratch.logits.resize(kTile, g.components());
  scratch.resp.resize(kTile, g.components());
  scratch.weighted.resize(kTile, 2 * d);
  for (Eigen::Index begin = 0; begin < x.rows();) {
    Eigen::Index end = begin + 1;
    while (end < x.rows() && t(end) == t(begin)) ++end;
    evaluate_run(g, sde, t(begin), x, begin, end, out, scratch);
    begin = end;
  }
}

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
  Outputs o;
  o.score = &out;
  evaluate_all(*this, sde, t, x, o);
}

void GaussianMixture::log_density(const Sde& sde, const ConstVectorRef& t, const ConstMatrixRef& x,
                                  VectorRef out) const {
  Outputs o;
  o.log_density = &out;
  evaluate_all(*this, sde, t, x, o);
}

void GaussianMixture::score_divergence(const Sde& sde, const ConstVectorRef& t,
                                       const ConstMatrixRef& x, VectorRef out) const {
  Outputs o;
  o.divergence = &out;
  evaluate_all(*this, sde, t, x, o);
}

void GaussianMixture::score_and_divergence(const Sde& sde, const ConstVectorRef& t,
                                           const ConstMatrixRef& x, MatrixRef score,
                                           VectorRef divergence) const {
  Outputs o;
  o.score = &score;
  o.divergence = &divergence;
  evaluate_all(*this, sde, t, x, o);
}

void GaussianMixture::score_jvp(const Sde& sde, const ConstVectorRef& t, const ConstMatrixRef& x,
                                const ConstMatrixRef& v, MatrixRef out) const {
  if (v.rows() != x.rows() || v.cols() != x.cols()) {
    throw InvalidArgument(fmt::format("the directions are {} x {} but the points {} x {}", v.rows(),
                                      v.cols(), x.rows(), x.cols()));
  }
  Outputs o;
  o.direction = &v;
  o.jvp = &out;
  evaluate_all(*this, sde, t, x, o);
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
