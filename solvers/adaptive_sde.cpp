#include "adaptive_sde.hpp"

#include "checks.hpp"

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

void ggf_increment(const Sde& sde, const ConstVectorRef& t, const ConstVectorRef& t_next,
                   const ConstVectorRef& t_eval, const ConstMatrixRef& x, const ConstMatrixRef& score,
                   const ConstMatrixRef& dw, MatrixRef k) {
  const auto dynamics = ReverseDynamics::reverse_sde(sde);
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    const double dt = t_next(i) - t(i);  // < 0
    dynamics.drift(t_eval(i), x.row(i), score.row(i), k.row(i));
    k.row(i) = dt * k.row(i) + sde.g(t_eval(i)) * dw.row(i);
  }
}

void ggf_proposals(ChunkContext& ctx, std::span<const Eigen::Index> rows,
                   std::span<const std::size_t> steps, const ConstVectorRef& t,
                   const ConstVectorRef& t_next, const ConstMatrixRef& x, const ConstMatrixRef& dw,
                   MatrixRef x_low, MatrixRef x_high, MatrixRef err) {
  const Sde& sde = ctx.sde();
  Matrix score(x.rows(), x.cols()), k1(x.rows(), x.cols()), k2(x.rows(), x.cols());
  predict_rows(ctx, Prediction::score, t, x, score, rows, steps);
  ggf_increment(sde, t, t_next, t, x, score, dw, k1);
  x_low = x + k1;
  predict_rows(ctx, Prediction::score, t_next, x_low, score, rows, steps);
  ggf_increment(sde, t, t_next, t_next, x_low, score, dw, k2);
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

}  // namespace

AdaptiveSde::AdaptiveSde(AdaptiveTolerances tolerances)
    : tol_(tolerances), traits_(adaptive_sde_traits()) {}

double AdaptiveSde::atol(const Sde& sde) const {
  if (!std::isnan(tol_.atol)) return tol_.atol;
  return sde.name() == "ve" ? atol_default_ve : atol_default;
}

void AdaptiveSde::integrate(ChunkContext& ctx, MatrixRef x, std::vector<BrownianPath>* paths) const {
  const Sde& sde = ctx.sde();
  const auto grid = ctx.grid();
  const Eigen::Index n = x.rows(), d = x.cols();
  const double t_start = grid.front(), t_stop = adaptive_end(sde, grid);
  const double atol = this->atol(sde), rtol = tol_.rtol;
  const bool keep = paths != nullptr;

  std::vector<BrownianPath> own;
  std::vector<BrownianPath>& path = keep ? *paths : own;
  path.assign(static_cast<std::size_t>(n), BrownianPath(t_start, d));
  // One controller per sample (dt < 0: the integration runs down in t).
  std::vector<detail::StepControl> control(static_cast<std::size_t>(n));
  for (auto& c : control) {
    c.t = t_start;
    c.dt = -std::min(h_init, t_start - t_stop);
  }
  auto at = [&](Eigen::Index r) -> detail::StepControl& { return control[static_cast<std::size_t>(r)]; };
  auto sample = [&](Eigen::Index r) { return ctx.first_row() + static_cast<std::uint64_t>(r); };
  detail::RowFailures failures(n);
  Matrix x_prev = x;  // GGF's x_prev starts at the initial state
  Matrix z(n, d);
  const auto dense = dense_grid_output(ctx, x);  // linear between accepted states

  // Every running row attempts a step in every round, so a row's own attempt index is the round.
  for (std::size_t attempt = 0;; ++attempt) {
    // The rows still running, their step cap, the step each tries (GGF's h clipped to the
    // remaining interval; landing on t_stop exactly) and its floor.
    std::vector<Eigen::Index> rows;
    std::vector<std::size_t> steps;
    std::vector<double> from, to;
    for (Eigen::Index r = 0; r < n && failures.keeps(r); ++r) {
      detail::StepControl& c = at(r);
      if (c.t == t_stop) continue;
      detail::guarded(failures, r, [&] { c.check_cap(sample(r), tol_.max_steps); });
      const double h = std::min(-c.dt, c.t - t_stop);
      const double tn = h >= c.t - t_stop ? t_stop : std::max(c.t - h, t_stop);
      if (tn != t_stop) detail::guarded(failures, r, [&] { c.check_floor(sample(r), tn - c.t); });
      if (!failures.keeps(r)) break;
      rows.push_back(r);
      steps.push_back(c.counts.accepted);
      from.push_back(c.t);
      to.push_back(tn);
    }
    if (rows.empty()) break;
    auto m = static_cast<Eigen::Index>(rows.size());
    Vector t = Eigen::Map<const Vector>(from.data(), m), t_next = Eigen::Map<const Vector>(to.data(), m);
    Matrix xs = x(rows, Eigen::all), dw(m, d);
    // One draw per attempt for every row up to the last one running: row r takes row r of it,
    // keyed by (seed, sample, attempt). (Noise stream 1 of PhiloxNoise, the sampler's default.)
    ctx.noise(attempt, 0, NoiseStream::diffusion, z.topRows(rows.back() + 1));
    for (Eigen::Index k = 0; k < m; ++k) {
      BrownianPath& p = path[static_cast<std::size_t>(rows[static_cast<std::size_t>(k)])];
      if (!p.known(t_next(k))) p.add(t_next(k), z.row(rows[static_cast<std::size_t>(k)]));
      dw.row(k) = p.at(t_next(k)) - p.at(t(k));
    }
    // The two stages, each one model call on the rows still running; a row whose score is not
    // finite fails, and it and the rows above it leave the batch.
    Matrix score(m, d), k1(m, d), k2(m, d), x_low(m, d);
    auto predict = [&](const Vector& te, const Matrix& xe) {
      score.resize(xe.rows(), d);
      if (ctx.predict(Prediction::score, te, xe, score, steps, rows, [&](Eigen::Index k, const NonFiniteError& e) {
            failures.fail(rows[static_cast<std::size_t>(k)], std::make_exception_ptr(e));
          })) {
        return;
      }
      const auto keep_rows = detail::kept_positions(failures, rows);
      for (auto* v : {&t, &t_next}) detail::keep_positions(*v, keep_rows);
      for (auto* v : {&xs, &dw, &score, &k1, &x_low}) detail::keep_positions(*v, keep_rows);
      detail::keep_positions(rows, keep_rows);
      detail::keep_positions(steps, keep_rows);
      m = static_cast<Eigen::Index>(rows.size());
    };
    predict(t, xs);
    if (m == 0) continue;
    ggf_increment(sde, t, t_next, t, xs, score, dw, k1);
    x_low = xs + k1;
    predict(t_next, x_low);
    if (m == 0) continue;
    k2.resize(m, d);
    ggf_increment(sde, t, t_next, t_next, x_low, score, dw, k2);
    const Matrix x_high = xs + 0.5 * (k1 + k2);
    const Matrix err = 0.5 * (k2 - k1);

    // Per row: GGF's error norm, accept/reject, the next step (at most what remains).
    for (Eigen::Index k = 0; k < m; ++k) {
      const Eigen::Index r = rows[static_cast<std::size_t>(k)];
      detail::StepControl& c = at(r);
      const double h = t(k) - t_next(k);
      const double e = detail::rms_error(err.row(k), x_low.row(k), x_prev.row(r), rtol, atol);
      const bool finite = std::isfinite(e) && detail::all_finite(x_high.row(k)) && detail::all_finite(x_low.row(k));
      if (finite && e <= 1.0) {
        x.row(r) = x_high.row(k);
        x_prev.row(r) = x_low.row(k);
        c.accept(t_next(k), -detail::power_law_step(h, e, safety, exponent, std::max(t_next(k) - t_stop, 0.0)));
        if (!keep) path[static_cast<std::size_t>(r)].forget_above(c.t);
        if (dense) {
          dense->linear(r, t(k), xs.row(k), c.t, x.row(r));
          if (c.t == t_stop) dense->finish_row(r, x.row(r));
        }
      } else {
        c.reject(finite, -h, -detail::power_law_step(h, e, safety, exponent, std::max(c.t - t_stop, 0.0)));
      }
    }
    if (dense) dense->flush(failures);
  }
  if (dense) dense->finish(x, failures);
  failures.rethrow();

  std::size_t accepted = 0, rejected = 0;
  std::vector<std::size_t> accepted_per_row(static_cast<std::size_t>(n));
  for (Eigen::Index r = 0; r < n; ++r) {
    accepted += at(r).counts.accepted;
    rejected += at(r).counts.rejected;
    accepted_per_row[static_cast<std::size_t>(r)] = at(r).counts.accepted;
  }
  if (ends_noiseless(sde, grid)) {
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
  // The reference's defaults; only the grid's end points are used.
  const AdaptiveTolerances defaults{AdaptiveSde::rtol_default, std::numeric_limits<double>::quiet_NaN(), 100000};
  register_sampler(tolerance_options(defaults, "absolute tolerance (default 0.0078, 0.0039 for ve, as the reference)"),
                   GridSpacing::time_uniform,
                   [](const OptionValues& o) { return std::make_unique<AdaptiveSde>(read_tolerances(o)); });
}
}  // namespace tweedie::detail
