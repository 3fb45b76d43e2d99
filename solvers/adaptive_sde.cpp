#include "adaptive_sde.hpp"

#include <tweedie/reverse.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <stdexcept>
#include <limits>
#include <memory>

namespace tweedie::solvers {

// ---- BrownianPath ---------------------------------------------------------------------------

BrownianPath::BrownianPath(double t_start, Eigen::Index dim)
    : dim_(dim), times_{t_start}, values_(static_cast<std::size_t>(dim), 0.0) {}

std::size_t BrownianPath::find(double t) const {
  return static_cast<std::size_t>(
      std::lower_bound(times_.begin(), times_.end(), t, std::greater<>()) - times_.begin());
}

bool BrownianPath::known(double t) const {
  const std::size_t i = find(t);
  return i < times_.size() && times_[i] == t;
}

void BrownianPath::add(double t, const Eigen::Ref<const Eigen::RowVectorXd>& z) {
  const std::size_t i = find(t);  // times_[i - 1] > t > times_[i]
  if (i < times_.size() && times_[i] == t) {
    throw std::logic_error(fmt::format("BrownianPath::add: W({}) is already known", t));
  }
  Eigen::RowVectorXd w;
  if (i == times_.size()) {  // below every known time: an independent increment
    w = value(i - 1) + std::sqrt(times_[i - 1] - t) * z;
  } else if (i == 0) {  // above every known time
    w = value(0) + std::sqrt(t - times_[0]) * z;
  } else {  // Brownian bridge between the neighbours l = times_[i] < t < r = times_[i - 1]
    const double l = times_[i], r = times_[i - 1];
    const double a = (t - l) / (r - l);
    const double s = std::sqrt((t - l) * (r - t) / (r - l));
    w = value(i) + a * (value(i - 1) - value(i)) + s * z;
  }
  const auto d = static_cast<std::size_t>(dim_);
  times_.insert(times_.begin() + static_cast<std::ptrdiff_t>(i), t);
  values_.insert(values_.begin() + static_cast<std::ptrdiff_t>(i * d), w.data(), w.data() + d);
}

Eigen::Map<const Eigen::RowVectorXd> BrownianPath::at(double t) const {
  const std::size_t i = find(t);
  if (i == times_.size() || times_[i] != t) {
    throw std::logic_error(fmt::format("BrownianPath: W({}) is not known", t));
  }
  return value(i);
}

void BrownianPath::forget_above(double t) {
  const std::size_t i = find(t);  // times_[0 .. i) > t
  times_.erase(times_.begin(), times_.begin() + static_cast<std::ptrdiff_t>(i));
  values_.erase(values_.begin(), values_.begin() + static_cast<std::ptrdiff_t>(i * static_cast<std::size_t>(dim_)));
}

// ---- one step ------------------------------------------------------------------------------

void ggf_proposals(ChunkContext& ctx, std::span<const Eigen::Index> rows,
                   std::span<const std::size_t> steps, const ConstVectorRef& t,
                   const ConstVectorRef& t_next, const ConstMatrixRef& x, const ConstMatrixRef& dw,
                   MatrixRef x_low, MatrixRef x_high, MatrixRef err) {
  const Sde& sde = ctx.sde();
  const auto dynamics = ReverseDynamics::reverse_sde(sde);
  const Eigen::Index m = x.rows();
  Matrix score(m, x.cols()), k1(m, x.cols()), k2(m, x.cols());
  predict_rows(ctx, Prediction::score, t, x, score, rows, steps);
  for (Eigen::Index k = 0; k < m; ++k) {
    const double dt = t_next(k) - t(k);  // < 0
    dynamics.drift(t(k), x.row(k), score.row(k), k1.row(k));
    k1.row(k) = dt * k1.row(k) + sde.g(t(k)) * dw.row(k);
  }
  x_low = x + k1;
  predict_rows(ctx, Prediction::score, t_next, x_low, score, rows, steps);
  for (Eigen::Index k = 0; k < m; ++k) {
    const double dt = t_next(k) - t(k);
    dynamics.drift(t_next(k), x_low.row(k), score.row(k), k2.row(k));
    k2.row(k) = dt * k2.row(k) + sde.g(t_next(k)) * dw.row(k);
  }
  x_high = x + 0.5 * (k1 + k2);
  err = 0.5 * (k2 - k1);
}

// ---- the sampler --------------------------------------------------------------------------

namespace {

SamplerTraits adaptive_sde_traits() {
  SamplerTraits t;
  t.name = "adaptive-sde";
  t.summary = "Gotta Go Fast: adaptive Euler-Maruyama / stochastic improved Euler on the reverse SDE";
  // The accepted value is the stochastic improved Euler (Heun) step, which for additive noise is
  // Kloeden & Platen's explicit weak order 2.0 scheme (measured in tests/test_adaptive_sde.cpp).
  t.order = 2;
  t.nfe_per_step = 2;
  t.stochastic = true;
  t.consumes = Prediction::score;
  t.adaptive = true;
  return t;
}

/// The per-sample state of the step-size controller.
struct RowState {
  double t = 0.0, h = 0.0;
  std::size_t accepted = 0, rejected = 0;
  bool last_non_finite = false;
};

}  // namespace

AdaptiveSde::AdaptiveSde(AdaptiveTolerances tolerances)
    : tol_(tolerances), traits_(adaptive_sde_traits()) {}

double AdaptiveSde::atol(const Sde& sde) const {
  if (!std::isnan(tol_.atol)) return tol_.atol;
  return sde.name() == "ve" ? atol_default_ve : atol_default;
}

void AdaptiveSde::integrate(ChunkContext& ctx, MatrixRef x, std::vector<BrownianPath>* paths) const {
  const auto grid = ctx.grid();
  const Eigen::Index n = x.rows(), d = x.cols();
  const double t_start = grid.front(), t_stop = adaptive_end(ctx.sde(), grid);
  const double atol = this->atol(ctx.sde()), rtol = tol_.rtol;
  const bool keep = paths != nullptr;

  std::vector<BrownianPath> own;
  std::vector<BrownianPath>& path = keep ? *paths : own;
  path.assign(static_cast<std::size_t>(n), BrownianPath(t_start, d));
  std::vector<RowState> state(static_cast<std::size_t>(n));
  for (auto& s : state) {
    s.t = t_start;
    s.h = std::min(h_init, t_start - t_stop);
  }
  Matrix x_prev = x;  // GGF's x_prev starts at the initial state

  // Scratch for the rows still running, compacted to the top.
  std::vector<Eigen::Index> rows;
  std::vector<std::size_t> steps;
  rows.reserve(static_cast<std::size_t>(n));
  steps.reserve(static_cast<std::size_t>(n));
  Vector t(n), t_next(n);
  Matrix xs(n, d), dw(n, d), x_low(n, d), x_high(n, d), err(n, d), z(n, d);

  for (std::size_t attempt = 0;; ++attempt) {
    rows.clear();
    steps.clear();
    for (Eigen::Index r = 0; r < n; ++r) {
      if (state[static_cast<std::size_t>(r)].t != t_stop) rows.push_back(r);
    }
    if (rows.empty()) break;
    const auto m = static_cast<Eigen::Index>(rows.size());
    for (Eigen::Index k = 0; k < m; ++k) {
      const Eigen::Index r = rows[static_cast<std::size_t>(k)];
      RowState& s = state[static_cast<std::size_t>(r)];
      const std::uint64_t sample = ctx.first_row() + static_cast<std::uint64_t>(r);
      if (attempt >= tol_.max_steps) throw StepLimitError(sample, s.t, tol_.max_steps);
      const double h = std::min(s.h, s.t - t_stop);
      const double tn = h >= s.t - t_stop ? t_stop : std::max(s.t - h, t_stop);
      if (tn != t_stop && s.t - tn < min_step(s.t)) {
        if (s.last_non_finite) {
          throw NonFiniteError(sample, s.accepted, s.t,
                               fmt::format("the error estimate or the proposal of the adaptive step "
                                           "stayed non-finite down to step size {}", tn - s.t));
        }
        throw StepSizeUnderflowError(sample, s.t, tn - s.t);
      }
      t(k) = s.t;
      t_next(k) = tn;
      xs.row(k) = x.row(r);
      steps.push_back(s.accepted);
    }
    // One draw per attempt for every row up to the last one running: row r takes row r of it,
    // keyed by (seed, sample, attempt), which is the sample's own attempt index.
    const Eigen::Index top = rows.back() + 1;
    ctx.noise(attempt, 0, NoiseStream::diffusion, z.topRows(top));
    for (Eigen::Index k = 0; k < m; ++k) {
      BrownianPath& p = path[static_cast<std::size_t>(rows[static_cast<std::size_t>(k)])];
      if (!p.known(t_next(k))) p.add(t_next(k), z.row(rows[static_cast<std::size_t>(k)]));
      dw.row(k) = p.at(t_next(k)) - p.at(t(k));
    }
    ggf_proposals(ctx, rows, steps, t.head(m), t_next.head(m), xs.topRows(m), dw.topRows(m),
                  x_low.topRows(m), x_high.topRows(m), err.topRows(m));
    for (Eigen::Index k = 0; k < m; ++k) {
      const Eigen::Index r = rows[static_cast<std::size_t>(k)];
      RowState& s = state[static_cast<std::size_t>(r)];
      const double h = t(k) - t_next(k);
      // GGF: delta = max(atol, rtol max(|x_prev|, |x_low|)), E = ||err / delta||_2 / sqrt(d).
      const Eigen::Array<double, 1, Eigen::Dynamic> delta =
          (rtol * x_prev.row(r).cwiseAbs().cwiseMax(x_low.row(k).cwiseAbs())).cwiseMax(atol).array();
      const double e = std::sqrt((err.row(k).array() / delta).square().sum() / static_cast<double>(d));
      const bool finite = std::isfinite(e) && x_high.row(k).allFinite() && x_low.row(k).allFinite();
      if (finite && e <= 1.0) {
        x.row(r) = x_high.row(k);
        x_prev.row(r) = x_low.row(k);
        s.t = t_next(k);
        ++s.accepted;
        if (!keep) path[static_cast<std::size_t>(r)].forget_above(s.t);
      } else {
        ++s.rejected;
      }
      s.last_non_finite = !finite;
      const double h_max = std::max(s.t - t_stop, 0.0);
      s.h = finite ? std::min(h_max, safety * h * std::pow(e, -exponent))  // e = 0: h_max
                   : std::min(h_max, 0.2 * h);
    }
  }

  std::size_t accepted = 0, rejected = 0;
  std::vector<std::size_t> accepted_per_row(static_cast<std::size_t>(n));
  for (std::size_t r = 0; r < state.size(); ++r) {
    accepted += state[r].accepted;
    rejected += state[r].rejected;
    accepted_per_row[r] = state[r].accepted;
  }
  if (ends_noiseless(ctx.sde(), grid)) {
    finish_noiseless(ctx, x, accepted_per_row);
    accepted += static_cast<std::size_t>(n);
  }
  ctx.count_steps(accepted, rejected);
  ctx.check_state(x, grid.size() - 2, grid.back());
}

}  // namespace tweedie::solvers

namespace tweedie::detail {
void register_adaptive_sde() {
  using namespace tweedie::solvers;
  register_sampler(
      {AdaptiveSde({AdaptiveSde::rtol_default, NAN, 100000}).traits(),
       "--rtol (0.01) --atol (0.0078; 0.0039 for ve) --max-steps (100000)", [](const SamplerOptions& o) {
         const AdaptiveTolerances defaults{AdaptiveSde::rtol_default,
                                           std::numeric_limits<double>::quiet_NaN(), 100000};
         return std::make_unique<AdaptiveSde>(read_tolerances(o, defaults));
       }});
}
}  // namespace tweedie::detail
