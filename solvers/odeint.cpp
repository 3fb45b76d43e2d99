// The probability-flow ODE through Boost.Odeint's steppers (src/adaptive_rk.cpp holds the
// batched embedded pairs, in odeint's arithmetic).
//
// State type: Eigen::VectorXd with odeint's vector_space_algebra (odeint's Eigen support; an
// Eigen::Matrix state with more than one column does not compile there under Eigen 3.4). RK4
// advances a whole chunk as one vector of rows * d values (all rows share the time); the
// adaptive steppers run every row with its own steps (src/adaptive_rk.cpp, src/adaptive_bs.cpp).
#include "odeint.hpp"

#include "adaptive_bs.hpp"
#include "adaptive_rk.hpp"

#include <tweedie/reverse.hpp>

#include <boost/numeric/odeint.hpp>
#include <boost/numeric/odeint/external/eigen/eigen.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <vector>

namespace tweedie::solvers {

namespace odeint = boost::numeric::odeint;

// ---- shared machinery of the adaptive samplers ---------------------------------------------

std::vector<OptionSpec> tolerance_options(const AdaptiveTolerances& defaults, const std::string& atol_help) {
  constexpr double inf = std::numeric_limits<double>::infinity();
  // atol > 0: with atol = 0 a component that is 0 makes the error ratio 0/0.
  return {OptionSpec::real("rtol", fmt::format("{:g}", defaults.rtol), 0.0, inf, "relative tolerance"),
          OptionSpec::real("atol", std::isnan(defaults.atol) ? "" : fmt::format("{:g}", defaults.atol), 0.0, inf,
                           atol_help.empty() ? "absolute tolerance" : atol_help, true),
          OptionSpec::integer("max_steps", static_cast<int>(defaults.max_steps), 1, 1000000000,
                              "accepted and rejected steps allowed per sample")};
}

AdaptiveTolerances read_tolerances(const OptionValues& options) {
  return {options.number("rtol"), options.number("atol"), static_cast<std::size_t>(options.integer("max_steps"))};
}

bool ends_noiseless(const Sde& sde, std::span<const double> grid) {
  return sde.sigma(grid.back()) == 0.0;
}

double adaptive_end(const Sde& sde, std::span<const double> grid) {
  return ends_noiseless(sde, grid) ? grid[grid.size() - 2] : grid.back();
}

void predict_rows(ChunkContext& ctx, Prediction want, const ConstVectorRef& t,
                  const ConstMatrixRef& x, MatrixRef out, std::span<const Eigen::Index> rows,
                  std::span<const std::size_t> steps) {
  ctx.predict(want, t, x, out, steps, rows, [](Eigen::Index, const NonFiniteError& e) { throw e; });
}

std::unique_ptr<detail::DenseGridOutput> dense_grid_output(ChunkContext& ctx, const ConstMatrixRef& x) {
  if (!ctx.observed()) return nullptr;
  return std::make_unique<detail::DenseGridOutput>(
      ctx.grid(), x.rows(), x.cols(),
      [&ctx](std::size_t k, const ConstMatrixRef& states) { ctx.observe_grid_point(k, states); });
}

void finish_noiseless(ChunkContext& ctx, MatrixRef x, std::span<const std::size_t> steps) {
  const auto grid = ctx.grid();
  const double t = grid[grid.size() - 2];
  std::vector<Eigen::Index> rows(static_cast<std::size_t>(x.rows()));
  for (std::size_t r = 0; r < rows.size(); ++r) rows[r] = static_cast<Eigen::Index>(r);
  Matrix x0(x.rows(), x.cols());
  predict_rows(ctx, Prediction::data, Vector::Constant(x.rows(), t), x, x0, rows, steps);
  x = ctx.sde().alpha(grid.back()) * x0;
}

namespace {

using State = Eigen::VectorXd;
using Algebra = odeint::vector_space_algebra;
using Operations = odeint::default_operations;

// ---- systems: the PF-ODE right-hand side dx/dt = f(t) x - g(t)^2 score(x, t) / 2 ------------

/// The whole chunk as one state (rows * d values, row-major), all rows at the same time.
class ChunkSystem {
 public:
  ChunkSystem(ChunkContext& ctx, Eigen::Index rows, Eigen::Index dim)
      : ctx_(ctx), dynamics_(ReverseDynamics::probability_flow(ctx.sde())), rows_(rows),
        dim_(dim), score_(rows, dim) {}
  void operator()(const State& z, State& dzdt, double t) {
    const Eigen::Map<const Matrix> x(z.data(), rows_, dim_);
    Eigen::Map<Matrix> out(dzdt.data(), rows_, dim_);
    ctx_.predict(Prediction::score, t, x, score_, step);
    dynamics_.drift(t, x, score_, out);
  }
  std::size_t step = 0;  ///< grid step, for error messages

 private:
  ChunkContext& ctx_;
  ReverseDynamics dynamics_;
  Eigen::Index rows_, dim_;
  Matrix score_;
};

/// odeint copies the system at every call: hand it a pointer.
template <class System>
struct SystemRef {
  System* system;
  void operator()(const State& z, State& dzdt, double t) const { (*system)(z, dzdt, t); }
};

// ---- RK4 ---------------------------------------------------------------------------------

SamplerTraits rk4_traits() {
  SamplerTraits t;
  t.name = "rk4";
  t.summary = "classical Runge-Kutta 4 on the probability-flow ODE (Boost.Odeint)";
  t.order = 4;
  t.nfe_per_step = 4;
  t.stochastic = false;
  t.consumes = Prediction::score;
  return t;
}

// ---- adaptive steppers -------------------------------------------------------------------

struct MethodInfo {
  const char* name;
  const char* summary;
  int order, nfe_per_step;
};

/// nfe_per_step of an adaptive stepper: model evaluations per attempted step (dopri5 reuses its
/// last stage as the next step's first, FSAL; cash-karp54 and fehlberg78 evaluate f at the start
/// of each accepted step once and reuse it across rejections).
MethodInfo method_info(OdeintMethod m) {
  switch (m) {
    case OdeintMethod::dopri5:
      return {"dopri5", "adaptive Dormand-Prince 5(4) on the probability-flow ODE (Boost.Odeint)", 5, 6};
    case OdeintMethod::cash_karp54:
      return {"cash-karp54", "adaptive Cash-Karp 5(4) on the probability-flow ODE (Boost.Odeint)", 5, 6};
    case OdeintMethod::fehlberg78:
      return {"fehlberg78", "adaptive Runge-Kutta-Fehlberg 7(8) on the probability-flow ODE (Boost.Odeint)",
              8, 13};
    case OdeintMethod::bulirsch_stoer:
      // Order and evaluations per step vary with the extrapolation depth k (odeint's k_opt in
      // [2, 7], midpoint sequence 2, 4, 6, ...: order 2(k + 1), sum of the sequence up to k
      // evaluations); the nominal values are those of odeint's initial k_opt = 4.
      return {"bulirsch-stoer", "adaptive Bulirsch-Stoer extrapolation on the probability-flow ODE (Boost.Odeint)",
              10, 30};
  }
  return {"", "", 0, 0};
}

SamplerTraits adaptive_traits(OdeintMethod m) {
  const MethodInfo info = method_info(m);
  SamplerTraits t;
  t.name = info.name;
  t.summary = info.summary;
  t.order = info.order;
  t.nfe_per_step = info.nfe_per_step;
  t.stochastic = false;
  t.consumes = Prediction::score;
  t.adaptive = true;
  return t;
}

/// The PF-ODE drift of a batch of rows, each at its own time: one model call.
class ChunkRhs final : public detail::BatchRhs {
 public:
  explicit ChunkRhs(ChunkContext& ctx) : ctx_(ctx), dynamics_(ReverseDynamics::probability_flow(ctx.sde())) {}
  void operator()(const ConstVectorRef& t, const ConstMatrixRef& z, MatrixRef dzdt,
                  std::span<const Eigen::Index> rows, std::span<const std::size_t> steps,
                  detail::RowFailures& failures) override {
    score_.resize(z.rows(), z.cols());
    ctx_.predict(Prediction::score, t, z, score_, steps, rows, [&](Eigen::Index k, const NonFiniteError& e) {
      failures.fail(rows[static_cast<std::size_t>(k)], std::make_exception_ptr(e));
    });
    dynamics_.drift(t, z, score_, dzdt);
  }

 private:
  ChunkContext& ctx_;
  ReverseDynamics dynamics_;
  Matrix score_;
};

void integrate_chunk(OdeintMethod method, ChunkContext& ctx, MatrixRef x, const AdaptiveTolerances& tol) {
  const auto grid = ctx.grid();
  const double t0 = grid.front(), t1 = adaptive_end(ctx.sde(), grid);
  std::vector<AdaptiveCounts> counts(static_cast<std::size_t>(x.rows()));
  if (t1 != t0) {  // t1 == t0: a one-step grid that ends at sigma = 0, only the last step remains
    ChunkRhs rhs(ctx);
    auto dense = dense_grid_output(ctx, x);
    if (method == OdeintMethod::bulirsch_stoer) {
      counts = detail::integrate_bulirsch_stoer(rhs, x, t0, t1, tol, ctx.first_row(), dense.get());
    } else {
      const detail::RkPair pair = method == OdeintMethod::dopri5        ? detail::RkPair::dopri5
                                  : method == OdeintMethod::cash_karp54 ? detail::RkPair::cash_karp54
                                                                        : detail::RkPair::fehlberg78;
      counts = detail::integrate_rk(pair, rhs, x, t0, t1, tol, ctx.first_row(), {}, dense.get());
    }
  }
  std::vector<std::size_t> steps;
  AdaptiveCounts total;
  for (const auto& c : counts) {
    steps.push_back(c.accepted);
    total.accepted += c.accepted;
    total.rejected += c.rejected;
  }
  if (ends_noiseless(ctx.sde(), grid)) {
    finish_noiseless(ctx, x, steps);
    total.accepted += static_cast<std::size_t>(x.rows());
  }
  ctx.count_steps(total.accepted, total.rejected);
  ctx.check_state(x, grid.size() - 2, grid.back());
}

}  // namespace

// ---- OdeintRk4 ------------------------------------------------------------------------------

OdeintRk4::OdeintRk4() : traits_(rk4_traits()) {}

void OdeintRk4::run(ChunkContext& ctx, MatrixRef x) const {
  const auto grid = ctx.grid();
  const std::size_t n = grid.size() - 1;
  const bool noiseless = ends_noiseless(ctx.sde(), grid);
  const std::size_t rk_steps = noiseless ? n - 1 : n;
  State z(x.size());
  Eigen::Map<Matrix>(z.data(), x.rows(), x.cols()) = x;
  ChunkSystem system(ctx, x.rows(), x.cols());
  odeint::runge_kutta4<State, double, State, double, Algebra, Operations> rk4;
  const SystemRef<ChunkSystem> sys{&system};
  for (std::size_t i = 0; i < rk_steps; ++i) {
    system.step = i;
    rk4.do_step(sys, z, grid[i], grid[i + 1] - grid[i]);
    ctx.check_state(Eigen::Map<const Matrix>(z.data(), x.rows(), x.cols()), i, grid[i + 1]);
  }
  x = Eigen::Map<const Matrix>(z.data(), x.rows(), x.cols());
  if (noiseless) {
    const std::vector<std::size_t> steps(static_cast<std::size_t>(x.rows()), n - 1);
    finish_noiseless(ctx, x, steps);
    ctx.check_state(x, n - 1, grid.back());  // the end of the last step, as for every other
  }
}

// ---- OdeintAdaptive -----------------------------------------------------------------------

OdeintAdaptive::OdeintAdaptive(OdeintMethod method, AdaptiveTolerances tolerances)
    : method_(method), tol_(tolerances), traits_(adaptive_traits(method)) {}

void OdeintAdaptive::run(ChunkContext& ctx, MatrixRef x) const { integrate_chunk(method_, ctx, x, tol_); }

}  // namespace tweedie::solvers

namespace tweedie::detail {
void register_odeint() {
  using namespace tweedie::solvers;
  register_sampler({}, GridSpacing::time_uniform,
                   [](const OptionValues&) { return std::make_unique<OdeintRk4>(); });
  // score_sde's ODE sampler defaults (scipy RK45 with rtol = atol = 1e-5).
  const AdaptiveTolerances defaults{1e-5, 1e-5, 100000};
  for (OdeintMethod m : {OdeintMethod::dopri5, OdeintMethod::cash_karp54, OdeintMethod::fehlberg78,
                         OdeintMethod::bulirsch_stoer}) {
    // Only the grid's end points are used: time-uniform, as score_sde's ODE sampler (T to eps).
    register_sampler(tolerance_options(defaults), GridSpacing::time_uniform, [m](const OptionValues& o) {
      return std::make_unique<OdeintAdaptive>(m, read_tolerances(o));
    });
  }
}
}  // namespace tweedie::detail
