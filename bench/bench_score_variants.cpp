// Prototypes of GaussianMixture::score's former kernel (24-row tiles through matrix products,
// one set of per-time tables per run of equal times), measured against the library's per-row
// kernel (src/mixture_kernel.cpp; evidence for docs/benchmarks.md, nothing here is used by the
// library). Same inputs as bench_score: 10^4 exact samples of p_t (VP, t = 0.5), 256 rows a
// call, one thread.
//
//   library   tweedie::GaussianMixture::score as built
//   copy      a verbatim copy of the former library's evaluate_run (score only, up to commit
//             c067086): the tile kernel the per-row kernel replaced
//   vexp      copy, but the softmax is written `logits.colwise() -= top; exp in place`: Eigen
//             does not vectorise exp() over the broadcast `(logits.colwise() - top)`, so the
//             library calls glibc's scalar exp K times per row
//   lean      vexp, plus scratch allocated once per call instead of per 24-row tile, the score
//             written straight into `out`, and the feature tile zeroed only for a short tile
//   cached    lean, with the per-time tables built once per batch instead of once per call
//
// Counters: items_per_second (sample evaluations per second) and max_rel_diff, the largest
// |variant - library| / max(1, |library|) over the batch (0 = bitwise equal).
//
// Run:  build/release/bench/bench_score_variants --benchmark_repetitions=3
//         --benchmark_report_aggregates_only=true
#include "bench_util.hpp"

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string>

namespace {

using namespace tweedie;
using ColMatrix = Eigen::MatrixXd;

constexpr Eigen::Index kRows = 10000;
constexpr Eigen::Index kChunk = 256;
constexpr double kTime = 0.5;
constexpr Eigen::Index kTile = 24;  // as in src/gaussian_mixture.cpp
constexpr double kLogTwoPi = 1.8378770664093454835606594728112;

// ---- copied from src/gaussian_mixture.cpp (score part only) ------------------------------
struct MarginalTables {
  ColMatrix logit_weights;  // 2d x K
  ColMatrix score_weights;  // K x 2d
  Eigen::RowVectorXd logit_offset;
};

MarginalTables marginal_tables(const GaussianMixture& g, double a, double s) {
  const Eigen::Index d = g.dim();
  const Eigen::ArrayXXd var = (a * a) * g.stds().array().square() + s * s;
  const Eigen::ArrayXXd p = var.inverse();
  const Eigen::ArrayXXd m = a * g.means().array();
  const Eigen::ArrayXXd mp = m * p;
  MarginalTables tab;
  tab.logit_weights.resize(2 * d, g.components());
  tab.logit_weights.topRows(d) = (-0.5 * p).matrix().transpose();
  tab.logit_weights.bottomRows(d) = mp.matrix().transpose();
  tab.score_weights.resize(g.components(), 2 * d);
  tab.score_weights.leftCols(d) = mp.matrix();
  tab.score_weights.rightCols(d) = p.matrix();
  tab.logit_offset = (g.weights().array().log() -
                      0.5 * ((kLogTwoPi + var.log()).rowwise().sum() + (m * mp).rowwise().sum()))
                         .matrix()
                         .transpose();
  return tab;
}

void score_copy(const GaussianMixture& g, const MarginalTables& tab, const ConstMatrixRef& x,
                MatrixRef out) {
  const Eigen::Index d = g.dim(), begin = 0, end = x.rows();
  ColMatrix features(kTile, 2 * d);
  ColMatrix logits(kTile, g.components()), resp(kTile, g.components());
  ColMatrix weighted(kTile, 2 * d);
  for (Eigen::Index r0 = begin; r0 < end; r0 += kTile) {
    const Eigen::Index rows = std::min(kTile, end - r0);
    features.setZero();
    features.topRightCorner(rows, d) = x.middleRows(r0, rows);
    features.leftCols(d) = features.rightCols(d).array().square().matrix();
    logits.noalias() = features * tab.logit_weights;
    logits.rowwise() += tab.logit_offset;
    const Eigen::VectorXd top = logits.rowwise().maxCoeff();
    resp = (logits.colwise() - top).array().exp().matrix();
    const Eigen::VectorXd total = resp.rowwise().sum();
    resp.array().colwise() /= total.array();
    weighted.noalias() = resp * tab.score_weights;
    const ColMatrix score = weighted.leftCols(d) -
                            (features.rightCols(d).array() * weighted.rightCols(d).array()).matrix();
    out.middleRows(r0, rows) = score.topRows(rows);
  }
}
// ---- end of the copy -----------------------------------------------------------------------

void score_vexp(const GaussianMixture& g, const MarginalTables& tab, const ConstMatrixRef& x,
                MatrixRef out) {
  const Eigen::Index d = g.dim(), begin = 0, end = x.rows();
  ColMatrix features(kTile, 2 * d);
  ColMatrix logits(kTile, g.components());
  ColMatrix weighted(kTile, 2 * d);
  for (Eigen::Index r0 = begin; r0 < end; r0 += kTile) {
    const Eigen::Index rows = std::min(kTile, end - r0);
    features.setZero();
    features.topRightCorner(rows, d) = x.middleRows(r0, rows);
    features.leftCols(d) = features.rightCols(d).array().square().matrix();
    logits.noalias() = features * tab.logit_weights;
    logits.rowwise() += tab.logit_offset;
    const Eigen::VectorXd top = logits.rowwise().maxCoeff();
    logits.colwise() -= top;                       // in place: keeps packet access
    logits = logits.array().exp().matrix();        // Eigen's vectorised exp
    const Eigen::VectorXd total = logits.rowwise().sum();
    logits.array().colwise() /= total.array();
    weighted.noalias() = logits * tab.score_weights;
    const ColMatrix score = weighted.leftCols(d) -
                            (features.rightCols(d).array() * weighted.rightCols(d).array()).matrix();
    out.middleRows(r0, rows) = score.topRows(rows);
  }
}

void score_lean(const GaussianMixture& g, const MarginalTables& tab, const ConstMatrixRef& x,
                MatrixRef out) {
  const Eigen::Index d = g.dim(), end = x.rows();
  ColMatrix features = ColMatrix::Zero(kTile, 2 * d);
  ColMatrix logits(kTile, g.components());
  ColMatrix weighted(kTile, 2 * d);
  Eigen::VectorXd top(kTile), total(kTile);
  for (Eigen::Index r0 = 0; r0 < end; r0 += kTile) {
    const Eigen::Index rows = std::min(kTile, end - r0);
    if (rows < kTile) features.setZero();  // padding rows of the last, short tile
    features.topRightCorner(rows, d) = x.middleRows(r0, rows);
    features.leftCols(d) = features.rightCols(d).array().square().matrix();
    logits.noalias() = features * tab.logit_weights;
    logits.rowwise() += tab.logit_offset;
    top = logits.rowwise().maxCoeff();
    logits.colwise() -= top;
    logits = logits.array().exp().matrix();
    total = logits.rowwise().sum();
    logits.array().colwise() /= total.array();
    weighted.noalias() = logits * tab.score_weights;
    out.middleRows(r0, rows) =
        weighted.topLeftCorner(rows, d) -
        (features.topRightCorner(rows, d).array() * weighted.topRightCorner(rows, d).array()).matrix();
  }
}

enum class Variant { library, copy, vexp, lean, cached };

void call(Variant v, const GaussianMixture& g, const Sde& sde, const MarginalTables* cached,
          const ConstVectorRef& t, const ConstMatrixRef& x, MatrixRef out) {
  switch (v) {
    case Variant::library: g.score(sde, t, x, out); return;
    case Variant::copy: score_copy(g, marginal_tables(g, sde.alpha(t(0)), sde.sigma(t(0))), x, out); return;
    case Variant::vexp: score_vexp(g, marginal_tables(g, sde.alpha(t(0)), sde.sigma(t(0))), x, out); return;
    case Variant::lean: score_lean(g, marginal_tables(g, sde.alpha(t(0)), sde.sigma(t(0))), x, out); return;
    case Variant::cached: score_lean(g, *cached, x, out); return;
  }
}

void run(benchmark::State& state, Variant v, int d, int k) {
  const VpSde sde;
  const GaussianMixture g = tweedie::bench::bench_mixture(k, d);
  const Matrix x = g.sample(sde, kTime, kRows, PhiloxNoise(3));
  const Vector t = Vector::Constant(kRows, kTime);
  const MarginalTables cached = marginal_tables(g, sde.alpha(kTime), sde.sigma(kTime));
  Matrix out(kRows, d), reference(kRows, d);
  g.score(sde, t, x, reference);
  auto batch = [&] {
    for (Eigen::Index r = 0; r < kRows; r += kChunk) {
      const Eigen::Index rows = std::min(kChunk, kRows - r);
      call(v, g, sde, &cached, t.segment(r, rows), x.middleRows(r, rows), out.middleRows(r, rows));
    }
  };
  tweedie::bench::wait_until_idle();
  const tweedie::bench::LoadMonitor load;
  for (auto _ : state) {
    batch();
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  batch();
  const double diff = ((out - reference).array().abs() / reference.array().abs().max(1.0)).maxCoeff();
  state.SetItemsProcessed(state.iterations() * kRows);
  state.counters["max_rel_diff"] = diff;
  state.counters["others_cores"] = load.others_cores();
}

void register_all() {
  const std::pair<Variant, const char*> variants[] = {{Variant::library, "library"},
                                                      {Variant::copy, "copy"},
                                                      {Variant::vexp, "vexp"},
                                                      {Variant::lean, "lean"},
                                                      {Variant::cached, "cached"}};
  for (auto [d, k] : {std::pair{64, 10}, std::pair{16, 6}, std::pair{256, 10}, std::pair{2, 10}}) {
    for (auto [v, name] : variants) {
      benchmark::RegisterBenchmark(fmt::format("{}/d:{}/K:{}", name, d, k).c_str(),
                                   [v = v, d = d, k = k](benchmark::State& s) { run(s, v, d, k); })
          ->UseRealTime()
          ->Unit(benchmark::kMicrosecond);
    }
  }
}

}  // namespace

int main(int argc, char** argv) { return tweedie::bench::run(argc, argv, register_all); }
