#include "dpm_solver_adaptive.hpp"

#include "adaptive_control.hpp"
#include "checks.hpp"
#include "odeint.hpp"  // the tolerance options and dense output every adaptive sampler shares

#include <tweedie/reverse.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace tweedie::solvers {
namespace {

constexpr ExpForm kForm = ExpForm::noise;  // DPM-Solver-12/23 of the paper: noise prediction

}  // namespace

DpmSolverAdaptive::DpmSolverAdaptive(Options options) : options_(options) {
  traits_.name = "dpm-solver-adaptive";
  traits_.summary = fmt::format("adaptive DPM-Solver-{}{}, per-sample error control",
                                options.order - 1, options.order);
  traits_.order = options.order;
  traits_.nfe_per_step = options.order;
  traits_.consumes = prediction_of(kForm);
  traits_.adaptive = true;
}

void DpmSolverAdaptive::run(ChunkContext& ctx, MatrixRef x) const {
  const Sde& sde = ctx.sde();
  const auto grid = ctx.grid();
  const SchedulePoint start = schedule_point(sde, grid.front());
  const SchedulePoint end = schedule_point(sde, grid.back());
  const bool terminal = end.noiseless();
  const double t_stop = terminal ? 0.0 : end.t;
  const double lambda_end = end.lambda;
  const Eigen::Index rows = x.rows(), d = x.cols();
  const int order = options_.order;
  const double r1 = order == 2 ? 0.5 : 1.0 / 3.0, r2 = 2.0 / 3.0;
  const Prediction want = prediction_of(kForm);

  // One controller per sample, in lambda (its t is lambda_s, its dt the step h in lambda).
  std::vector<SchedulePoint> s(static_cast<std::size_t>(rows), start);
  std::vector<detail::StepControl> control(static_cast<std::size_t>(rows));
  for (auto& c : control) {
    c.t = start.lambda;
    c.dt = options_.h_init;
  }
  auto at = [&](Eigen::Index i) -> detail::StepControl& { return control[static_cast<std::size_t>(i)]; };
  auto sample = [&](Eigen::Index i) { return ctx.first_row() + static_cast<std::uint64_t>(i); };
  auto running = [&](Eigen::Index i) {
    const SchedulePoint& p = s[static_cast<std::size_t>(i)];
    return std::abs(p.t - t_stop) > options_.t_err && !(terminal && p.t <= options_.t_err);
  };
  detail::RowFailures failures(rows);
  Matrix x_prev = x;
  // Dense output in t: cubic Hermite with the PF-ODE derivative from the model output at each
  // accepted point (the first evaluation of the row's next attempt).
  const auto dense = dense_grid_output(ctx, x);
  const auto flow = ReverseDynamics::probability_flow(sde);
  for (;;) {
    // The rows still running, their step cap, the points of the step each tries, its floor.
    std::vector<Eigen::Index> active;
    std::vector<std::size_t> steps;
    std::vector<SchedulePoint> from, targets, mid1, mid2;
    for (Eigen::Index i = 0; i < rows && failures.keeps(i); ++i) {
      if (!running(i)) continue;
      detail::StepControl& c = at(i);
      const SchedulePoint& p = s[static_cast<std::size_t>(i)];
      detail::guarded(failures, i, [&] { c.check_cap(sample(i), options_.max_steps, p.t); });
      const double l_t = p.lambda + c.dt;
      const bool lands = l_t >= lambda_end;
      const double hl = l_t - p.lambda;
      if (!lands) detail::guarded(failures, i, [&] { c.check_floor(sample(i), hl, p.t); });
      if (!failures.keeps(i)) break;
      active.push_back(i);
      steps.push_back(c.counts.accepted);
      from.push_back(p);
      targets.push_back(lands ? end : schedule_point(sde, sde.t_of_lambda(l_t)));
      mid1.push_back(schedule_point(sde, sde.t_of_lambda(p.lambda + r1 * hl)));
      if (order == 3) mid2.push_back(schedule_point(sde, sde.t_of_lambda(p.lambda + r2 * hl)));
    }
    if (active.empty()) break;
    SinglestepRows update(kForm, r1, r2, from, targets, mid1, mid2);
    Matrix xa = x(active, Eigen::all), prev = x_prev(active, Eigen::all);
    Matrix m_s, m_s1, m_s2;
    auto times = [&](const std::vector<SchedulePoint>& points) {
      Vector t(static_cast<Eigen::Index>(points.size()));
      for (std::size_t k = 0; k < points.size(); ++k) t(static_cast<Eigen::Index>(k)) = points[k].t;
      return t;
    };
    // One model call on the rows still running; a row with a non-finite output fails, and it and
    // the rows above it leave the batch.
    auto predict = [&](const std::vector<SchedulePoint>& points, const Matrix& xe, Matrix& out) {
      out.resize(xe.rows(), d);
      if (ctx.predict(want, times(points), xe, out, steps, active, [&](Eigen::Index k, const NonFiniteError& e) {
            failures.fail(active[static_cast<std::size_t>(k)], std::make_exception_ptr(e));
          })) {
        return !active.empty();
      }
      const auto keep = detail::kept_positions(failures, active);
      for (Matrix* v : {&xa, &prev, &m_s, &m_s1, &m_s2}) {
        if (v->rows() > 0) detail::keep_positions(*v, keep);
      }
      for (auto* v : {&from, &targets, &mid1, &mid2}) {
        if (!v->empty()) detail::keep_positions(*v, keep);
      }
      detail::keep_positions(active, keep);
      detail::keep_positions(steps, keep);
      update.keep(keep);
      return !active.empty();
    };
    if (!predict(from, xa, m_s)) continue;
    if (dense) {
      const Vector ts = times(from);
      Matrix f(xa.rows(), d);
      convert_prediction(sde, want, Prediction::score, ts, xa, m_s, f);
      flow.drift(ts, xa, f, f);
      for (std::size_t a = 0; a < active.size(); ++a) {
        const auto k = static_cast<Eigen::Index>(a);
        if (dense->needs_derivative(active[a])) dense->point(active[a], ts(k), xa.row(k), f.row(k));
      }
    }
    if (!predict(mid1, update.at_s1(xa, m_s), m_s1)) continue;
    Matrix x_low, x_high;
    if (order == 2) {  // DPM-Solver-1 / DPM-Solver-2 (r1 = 1/2)
      x_low = update.first_order(xa, m_s);
      x_high = update.second_order(xa, m_s, m_s1);
    } else {  // DPM-Solver-2 (r1 = 1/3) / DPM-Solver-3
      if (!predict(mid2, update.at_s2(xa, m_s, m_s1), m_s2)) continue;
      x_low = update.second_order(xa, m_s, m_s1);
      x_high = update.third_order(xa, m_s, m_s2);
    }
    // Per row: the error norm, accept/reject, the next h (at most what remains to lambda_end).
    for (std::size_t a = 0; a < active.size(); ++a) {
      const auto k = static_cast<Eigen::Index>(a);
      const Eigen::Index i = active[a];
      detail::StepControl& c = at(i);
      const double e = detail::rms_error(x_high.row(k) - x_low.row(k), x_low.row(k), prev.row(k),
                                         options_.rtol, options_.atol);
      const bool finite = std::isfinite(e) && detail::all_finite(x_high.row(k));
      const double exponent = 1.0 / order;
      if (finite && e <= 1.0) {
        x.row(i) = x_high.row(k);
        x_prev.row(i) = x_low.row(k);
        s[static_cast<std::size_t>(i)] = targets[a];
        c.accept(targets[a].lambda,
                 detail::power_law_step(c.dt, e, options_.theta, exponent, lambda_end - targets[a].lambda));
        if (dense) {
          dense->accepted(i, targets[a].t, x.row(i));
          if (!running(i)) dense->finish_row(i, x.row(i));
        }
      } else {
        c.reject(finite, c.dt, detail::power_law_step(c.dt, e, options_.theta, exponent, lambda_end - c.t));
      }
    }
    if (dense) dense->flush(failures);
  }
  if (dense) dense->finish(x, failures);
  failures.rethrow();
  std::size_t accepted = 0, rejected = 0;
  for (const auto& c : control) {
    accepted += c.counts.accepted;
    rejected += c.counts.rejected;
  }
  if (terminal) {  // the exact first-order step onto sigma = 0
    Vector ts(rows);
    for (Eigen::Index i = 0; i < rows; ++i) ts(i) = s[static_cast<std::size_t>(i)].t;
    Matrix x0(rows, d);
    ctx.predict(Prediction::data, ts, x, x0, grid.size() - 1, {});
    x = end.alpha * x0;
  }
  ctx.count_steps(accepted + (terminal ? static_cast<std::size_t>(rows) : 0), rejected);
  ctx.check_state(x, grid.size() - 2, grid.back());  // after the last grid step, as odeint
}

}  // namespace tweedie::solvers

namespace tweedie::detail {
void register_dpm_solver_adaptive() {
  auto make = [](const OptionValues& o) {
    solvers::DpmSolverAdaptive::Options options;
    options.order = o.integer("order");
    const auto tolerances = solvers::read_tolerances(o);
    options.rtol = tolerances.rtol;
    options.atol = tolerances.atol;
    options.max_steps = tolerances.max_steps;
    return std::make_unique<solvers::DpmSolverAdaptive>(options);
  };
  // DPM-Solver's adaptive defaults (rtol 0.05, atol 0.0078); only the grid's end points are used.
  std::vector<OptionSpec> options{solvers::order_option(3, 2, 3)};
  for (auto& t : solvers::tolerance_options({0.05, 0.0078, 100000})) options.push_back(std::move(t));
  register_sampler(std::move(options), GridSpacing::time_uniform, make);
}
}  // namespace tweedie::detail
