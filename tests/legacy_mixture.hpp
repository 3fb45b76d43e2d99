// The exact mixture's former evaluation kernel (src/gaussian_mixture.cpp up to commit c067086:
// 24-row tiles through matrix products, per-time tables per run of equal times), kept verbatim
// as the model of test_adaptive_golden.cpp. Its records (tests/data/adaptive_golden.txt) were made
// by the per-sample integrator with this kernel, and adaptive step sequences depend on the
// model's last bits (an ulp in the score moves the step sizes by ~1e-9 relative, and adaptive-sde's
// accept/reject decisions with them), so the comparison of the batched integrator with the
// per-sample one needs the model they were recorded with. Like the library's tile kernel, its
// bits are those of a build without FMA (the dev preset), where the records were made.
#pragma once

#include <tweedie/gaussian_mixture.hpp>
#include <tweedie/model.hpp>

#include <algorithm>
#include <cmath>
#include <memory>

namespace tweedie::test::legacy {

using ColMatrix = Eigen::MatrixXd;
inline constexpr double kLogTwoPi = 1.8378770664093454835606594728112;

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

inline void marginal_tables(const GaussianMixture& g, double a, double s, bool divergence, Scratch& scratch) {
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
                      0.5 * ((kLogTwoPi + var.log()).rowwise().sum() +
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
inline void evaluate_run(const GaussianMixture& g, const Sde& sde, double t, const ConstMatrixRef& x,
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
inline void evaluate_all(const GaussianMixture& g, const Sde& sde, const ConstVectorRef& t,
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


/// The unlabelled mixture as a ScoreModel through the former kernel (score, fused divergence, JVP).
class MixtureModel final : public ScoreModel {
 public:
  MixtureModel(const GaussianMixture& g, const Sde& sde) : g_(g), sde_(sde) {}
  Prediction prediction() const override { return Prediction::score; }
  Eigen::Index dim() const override { return g_.dim(); }
  bool batch_invariant() const override { return true; }
  void evaluate(const ModelInput& in, MatrixRef out) const override {
    Outputs o;
    o.score = &out;
    evaluate_all(g_, sde_, in.t, in.x, o);
  }
  bool has_divergence() const override { return true; }
  void score_divergence(const ModelInput& in, VectorRef out) const override {
    Outputs o;
    o.divergence = &out;
    evaluate_all(g_, sde_, in.t, in.x, o);
  }
  void evaluate_with_divergence(const ModelInput& in, MatrixRef out, VectorRef divergence) const override {
    Outputs o;
    o.score = &out;
    o.divergence = &divergence;
    evaluate_all(g_, sde_, in.t, in.x, o);
  }
  bool has_jvp() const override { return true; }
  void jvp(const ModelInput& in, const ConstMatrixRef& v, MatrixRef out) const override {
    Outputs o;
    o.direction = &v;
    o.jvp = &out;
    evaluate_all(g_, sde_, in.t, in.x, o);
  }

 private:
  const GaussianMixture& g_;
  const Sde& sde_;
};

inline void score(const GaussianMixture& g, const Sde& sde, const ConstVectorRef& t, const ConstMatrixRef& x,
                  MatrixRef out) {
  Outputs o;
  o.score = &out;
  evaluate_all(g, sde, t, x, o);
}

}  // namespace tweedie::test::legacy
