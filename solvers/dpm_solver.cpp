#include "dpm_solver.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace tweedie::solvers {
namespace {

// Whether the grid is uniform in lambda (DPM-Solver's 'logSNR' skip type): singlestep methods
// then take their outer steps uniform in lambda, as DPM-Solver does for that skip type.
bool uniform_in_lambda(std::span<const SchedulePoint> points) {
  const std::size_t n = points.size() - 1;
  const double mean = (points.back().lambda - points.front().lambda) / static_cast<double>(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double h = points[i + 1].lambda - points[i].lambda;
    if (!(std::abs(h - mean) <= 1e-9 * std::abs(mean))) return false;
  }
  return true;
}

}  // namespace

DpmSolver::DpmSolver(ExpForm form, Options options) : form_(form), options_(options) {
  traits_.name = form == ExpForm::noise ? "dpm-solver" : "dpm-solver++";
  traits_.summary = fmt::format(
      "{} order {}, {} (exponential integrator in lambda)",
      form == ExpForm::noise ? "DPM-Solver (noise prediction)" : "DPM-Solver++ (data prediction)",
      options.order, options.method == Method::multistep ? "multistep" : "singlestep");
  // The reference third-order multistep update is second order (see multistep_update).
  traits_.order = options.method == Method::multistep && options.order == 3 && !options.taylor_d2
                      ? 2
                      : options.order;
  traits_.nfe_per_step = 1;
  traits_.consumes = prediction_of(form);
}

void DpmSolver::run(ChunkContext& ctx, MatrixRef x) const {
  if (options_.method == Method::multistep) {
    run_multistep(ctx, x);
  } else {
    run_singlestep(ctx, x);
  }
}

void DpmSolver::run_multistep(ChunkContext& ctx, MatrixRef x) const {
  const auto points = schedule_points(ctx.sde(), ctx.grid());
  const std::size_t n = points.size() - 1;
  const auto order = static_cast<std::size_t>(options_.order);
  std::vector<ModelValue> history;  // newest last, at most `order` entries
  history.push_back({points[0], Matrix(x.rows(), x.cols())});
  // Each model value is checked through the state it updates (predict_for_step).
  ctx.predict_for_step(prediction_of(form_), points[0].t, x, history.back().value, 0);
  for (std::size_t step = 1; step <= n; ++step) {
    // Warm-up with orders 1, 2, ..., then `order`; lower orders at the end of short runs.
    std::size_t step_order = std::min(order, step);
    if (step >= order && options_.lower_order_final && n < kLowerOrderFinalBelow) {
      step_order = std::min(order, n + 1 - step);
    }
    multistep_update(form_, static_cast<int>(step_order), history, points[step], x,
                     options_.taylor_d2);
    ctx.check_state(x, step - 1, points[step].t);
    if (step == n) break;  // the final model value is not needed
    // The oldest value's storage holds the new one (no allocation per step).
    Matrix storage = history.size() == order ? std::move(history.front().value) : Matrix(x.rows(), x.cols());
    if (history.size() == order) history.erase(history.begin());
    history.push_back({points[step], std::move(storage)});
    ctx.predict_for_step(prediction_of(form_), points[step].t, x, history.back().value, step);
  }
}

void DpmSolver::run_singlestep(ChunkContext& ctx, MatrixRef x) const {
  const Sde& sde = ctx.sde();
  const auto points = schedule_points(sde, ctx.grid());
  const std::size_t n = points.size() - 1;
  // A grid ending at sigma = 0 spends its last evaluation on the exact first-order step there
  // (lambda = inf leaves no room for intermediate points); the schedule covers the rest.
  const bool terminal = points.back().noiseless();
  const std::size_t budget = terminal ? n - 1 : n;
  const std::vector<int> orders = singlestep_orders(budget, options_.order);
  // Outer points and intermediate fractions: uniform in lambda for a lambda-uniform grid (DPM's
  // 'logSNR'), else the grid points at the cumulative orders, intermediate points in between.
  const bool lambda_grid = !terminal && uniform_in_lambda(points);
  std::vector<SchedulePoint> outer{points[0]};
  std::vector<std::pair<double, double>> fractions;
  std::vector<std::size_t> positions{0};
  for (std::size_t k = 0, p = 0; k < orders.size(); ++k) {
    const auto o = static_cast<std::size_t>(orders[k]);
    const std::size_t q = p + o;
    if (lambda_grid) {
      const double l = points[0].lambda + (points[n].lambda - points[0].lambda) *
                                              static_cast<double>(k + 1) / static_cast<double>(orders.size());
      outer.push_back(k + 1 == orders.size() ? points[n] : schedule_point(sde, sde.t_of_lambda(l)));
      fractions.emplace_back(1.0 / static_cast<double>(o), 2.0 / static_cast<double>(o));
    } else {
      outer.push_back(points[q]);
      const double h = points[q].lambda - points[p].lambda;
      fractions.emplace_back(o > 1 ? (points[p + 1].lambda - points[p].lambda) / h : 0.0,
                             o > 2 ? (points[p + 2].lambda - points[p].lambda) / h : 0.0);
    }
    positions.push_back(q);
    p = q;
  }
  if (terminal) {
    outer.push_back(points[n]);
    positions.push_back(n);
  }
  const std::size_t steps = outer.size() - 1;
  ModelValue m{outer[0], Matrix(x.rows(), x.cols())};
  for (std::size_t k = 0; k < steps; ++k) {
    m.point = outer[k];
    ctx.predict(prediction_of(form_), m.point.t, x, m.value, positions[k]);
    const int o = k < orders.size() ? orders[k] : 1;
    const auto [r1, r2] = k < fractions.size() ? fractions[k] : std::pair{0.0, 0.0};
    singlestep_update(form_, o, r1, r2, m, outer[k + 1], ctx, positions[k], x);
    ctx.check_state(x, positions[k + 1] - 1, outer[k + 1].t);
  }
}

}  // namespace tweedie::solvers

namespace tweedie::detail {
void register_dpm_solver() {
  using solvers::DpmSolver;
  for (auto form : {solvers::ExpForm::noise, solvers::ExpForm::data}) {
    auto make = [form](const OptionValues& o) {
      DpmSolver::Options options;
      options.order = o.integer("order");
      if (o.text("method") == "singlestep") options.method = DpmSolver::Method::singlestep;
      options.lower_order_final = o.text("lower_order_final") == "on";
      options.taylor_d2 = o.text("variant") == "taylor";
      return std::make_unique<DpmSolver>(form, options);
    };
    // DPM-Solver's sample() defaults: order 2, multistep, skip_type 'time_uniform'.
    register_sampler({solvers::order_option(2, 1, 3),
                      OptionSpec::choice("method", {"multistep", "singlestep"},
                                         "multistep, or singlestep (DPM-Solver-fast: --steps is the NFE)"),
                      solvers::lower_order_final_option(),
                      OptionSpec::choice("variant", {"reference", "taylor"},
                                         "order-3 multistep: the reference's D2, or taylor (third order)")},
                     GridSpacing::time_uniform, make);
  }
}
}  // namespace tweedie::detail
