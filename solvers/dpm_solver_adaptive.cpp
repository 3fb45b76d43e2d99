#include "dpm_solver_adaptive.hpp"

#include <fmt/format.h>

namespace tweedie::solvers {
namespace {

constexpr ExpForm kForm = ExpForm::noise;  // DPM-Solver-12/23 of the paper: noise prediction

// Per-row coefficients of exp_step for the active rows.
struct RowSteps {
  Eigen::ArrayXd base, scale, hh;
  explicit RowSteps(Eigen::Index n) : base(n), scale(n), hh(n) {}
  void set(Eigen::Index i, const ExpStep& c) {
    base(i) = c.base;
    scale(i) = c.scale;
    hh(i) = c.hh;
  }
};

// out = base x - scale phi1 m, row by row.
Matrix first_order(const RowSteps& c, const Matrix& x, const Matrix& m) {
  const Eigen::ArrayXd phi1 = c.hh.unaryExpr([](double v) { return std::expm1(v); });
  return (x.array().colwise() * c.base - m.array().colwise() * (c.scale * phi1)).matrix();
}

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

  std::vector<SchedulePoint> s(static_cast<std::size_t>(rows), start);
  std::vector<double> h(static_cast<std::size_t>(rows), options_.h_init);
  std::vector<std::size_t> accepted(static_cast<std::size_t>(rows), 0), tried(accepted);
  Matrix x_prev = x;
  std::size_t accepted_total = 0, rejected_total = 0;
  auto active_rows = [&] {
    std::vector<Eigen::Index> active;
    for (Eigen::Index i = 0; i < rows; ++i) {
      const auto k = static_cast<std::size_t>(i);
      if (std::abs(s[k].t - t_stop) > options_.t_err && !(terminal && s[k].t <= options_.t_err)) {
        active.push_back(i);
      }
    }
    return active;
  };
  for (std::size_t iteration = 0;; ++iteration) {
    const std::vector<Eigen::Index> active = active_rows();
    if (active.empty()) break;
    const auto n = static_cast<Eigen::Index>(active.size());
    Matrix xa(n, d), prev(n, d), m_s(n, d), m_s1(n, d), m_s2(n, d);
    Vector ts(n), t1(n), t2(n);
    RowSteps full(n), to1(n), to2(n);
    Eigen::ArrayXd phi22(n);
    std::vector<SchedulePoint> targets;
    for (Eigen::Index a = 0; a < n; ++a) {
      const auto k = static_cast<std::size_t>(active[static_cast<std::size_t>(a)]);
      if (tried[k] >= options_.max_steps) {
        throw StepLimitError(ctx.first_row() + k, s[k].t, options_.max_steps);
      }
      ++tried[k];
      xa.row(a) = x.row(active[static_cast<std::size_t>(a)]);
      prev.row(a) = x_prev.row(active[static_cast<std::size_t>(a)]);
      const SchedulePoint& p = s[k];
      const double l_t = p.lambda + h[k];
      const SchedulePoint t = l_t >= lambda_end ? end : schedule_point(sde, sde.t_of_lambda(l_t));
      const double hl = l_t - p.lambda;
      targets.push_back(t);
      ts(a) = p.t;
      full.set(a, exp_step(kForm, p, t));
      const SchedulePoint p1 = schedule_point(sde, sde.t_of_lambda(p.lambda + r1 * hl));
      const SchedulePoint p2 = schedule_point(sde, sde.t_of_lambda(p.lambda + r2 * hl));
      t1(a) = p1.t;
      t2(a) = p2.t;
      to1.set(a, exp_step(kForm, p, p1));
      to2.set(a, exp_step(kForm, p, p2));
      phi22(a) = std::expm1(r2 * full.hh(a)) / (r2 * full.hh(a)) - 1.0;
    }
    ctx.predict(want, ts, xa, m_s, iteration, active);
    ctx.predict(want, t1, first_order(to1, xa, m_s), m_s1, iteration, active);
    const Eigen::ArrayXd phi1 = full.hh.unaryExpr([](double v) { return std::expm1(v); });
    const Matrix base_part = first_order(full, xa, m_s);
    // DPM-Solver-2 with r1: base_part - (0.5/r1) scale phi1 (m_s1 - m_s)
    const Matrix second = base_part - ((m_s1 - m_s).array().colwise() * (0.5 / r1 * full.scale * phi1)).matrix();
    Matrix x_low, x_high;
    if (order == 2) {
      x_low = base_part;
      x_high = second;
    } else {
      const Matrix x_s2 = first_order(to2, xa, m_s) -
                          ((m_s1 - m_s).array().colwise() * (r2 / r1 * to2.scale * phi22)).matrix();
      ctx.predict(want, t2, x_s2, m_s2, iteration, active);
      const Eigen::ArrayXd phi2 = phi1 / full.hh - 1.0;
      x_low = second;
      x_high = base_part - ((m_s2 - m_s).array().colwise() * (1.0 / r2 * full.scale * phi2)).matrix();
    }
    for (Eigen::Index a = 0; a < n; ++a) {
      const Eigen::Index i = active[static_cast<std::size_t>(a)];
      const auto k = static_cast<std::size_t>(i);
      const Eigen::ArrayXd delta =
          (options_.rtol * x_low.row(a).array().abs().max(prev.row(a).array().abs())).max(options_.atol);
      const double e = std::sqrt(((x_high.row(a).array() - x_low.row(a).array()) / delta.transpose())
                                     .square()
                                     .mean());
      if (std::isfinite(e) && e <= 1.0 && x_high.row(a).allFinite()) {
        x.row(i) = x_high.row(a);
        x_prev.row(i) = x_low.row(a);
        s[k] = targets[static_cast<std::size_t>(a)];
        ++accepted[k];
        ++accepted_total;
      } else {
        ++rejected_total;
      }
      const double remaining = lambda_end - s[k].lambda;
      h[k] = std::isfinite(e) ? std::min(options_.theta * h[k] * std::pow(e, -1.0 / order), remaining)
                              : 0.2 * h[k];
    }
  }
  if (terminal) {  // the exact first-order step onto sigma = 0
    Vector ts(rows);
    for (Eigen::Index i = 0; i < rows; ++i) ts(i) = s[static_cast<std::size_t>(i)].t;
    Matrix x0(rows, d);
    ctx.predict(Prediction::data, ts, x, x0, grid.size() - 1, {});
    x = end.alpha * x0;
  }
  ctx.count_steps(accepted_total + (terminal ? static_cast<std::size_t>(rows) : 0), rejected_total);
  ctx.check_state(x, grid.size() - 1, grid.back());
}

}  // namespace tweedie::solvers

namespace tweedie::detail {
void register_dpm_solver_adaptive() {
  auto make = [](const SamplerOptions& o) {
    solvers::DpmSolverAdaptive::Options options;
    options.order = o.integer("order", 3);
    if (options.order != 2 && options.order != 3) {
      throw InvalidArgument(fmt::format("dpm-solver-adaptive: --order = {} must be 2 or 3", options.order));
    }
    options.rtol = o.number("rtol", options.rtol);
    options.atol = o.number("atol", options.atol);
    if (options.rtol < 0.0 || options.atol <= 0.0) {
      throw InvalidArgument("dpm-solver-adaptive: --rtol must be >= 0 and --atol > 0");
    }
    const int max_steps = o.integer("max_steps", 100000);
    if (max_steps < 1) throw InvalidArgument("dpm-solver-adaptive: --max-steps must be >= 1");
    options.max_steps = static_cast<std::size_t>(max_steps);
    return std::make_unique<solvers::DpmSolverAdaptive>(options);
  };
  register_sampler({make({})->traits(), "--order 2|3 (3) --rtol (0.05) --atol (0.0078) --max-steps (1e5)", make});
}
}  // namespace tweedie::detail
