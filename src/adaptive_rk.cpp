// The embedded Runge-Kutta pairs on a batch of rows (see adaptive_rk.hpp).
//
// The arithmetic is Boost.Odeint's, row by row: each stage state is 1.0 x + (a_1 dt) k_1 + ...
// summed left to right (odeint's scale_sum over vector_space_algebra), the error checker is
// odeint's default_error_checker (max over components of |err_i| / (atol + rtol (|x_i| +
// |dt| |dxdt_i|))) and the next step comes from odeint's own default_step_adjuster. The
// coefficients are odeint's: its coefficient tables for cash-karp54 and fehlberg78, and the
// constants of its runge_kutta_dopri5 (which lists only the non-zero terms).
#include "adaptive_rk.hpp"

#include "checks.hpp"

#include <boost/numeric/odeint/stepper/controlled_runge_kutta.hpp>
#include <boost/numeric/odeint/stepper/runge_kutta_cash_karp54.hpp>
#include <boost/numeric/odeint/stepper/runge_kutta_fehlberg78.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

namespace tweedie::detail {
namespace {

namespace odeint = boost::numeric::odeint;

/// One linear combination sum_j (coef_j dt) k_{src_j}, with k_0 = f at the start of the step and
/// k_e the e-th evaluation of the attempt.
using Combination = std::vector<std::pair<int, double>>;

struct Tableau {
  std::vector<double> c;         ///< c[e - 1]: time fraction of evaluation e
  std::vector<Combination> a;    ///< a[e - 1]: the state of evaluation e is x + a[e - 1]
  Combination b;                 ///< the proposal is x + b
  Combination err;               ///< the error estimate (no x term)
  bool fsal = false;             ///< the last evaluation is f at the proposal (dopri5)
  int stepper_order = 0, error_order = 0;
  int evaluations() const { return static_cast<int>(c.size()); }
};

template <class Array>
Combination all_terms(const Array& coef) {
  Combination out;
  for (std::size_t j = 0; j < coef.size(); ++j) out.emplace_back(static_cast<int>(j), coef[j]);
  return out;
}

/// odeint's explicit_error_generic_rk with StageCount stages: evaluation e (1 .. S-1) at
/// x + a_e, the proposal x + b, the error db (every term, zeros included, as odeint sums them).
template <std::size_t S, class Stepper, class As, class B, class DB, class C>
Tableau generic(const As& as, const B& b, const DB& db, const C& c) {
  Tableau t;
  std::apply([&](const auto&... a) { (t.a.push_back(all_terms(a)), ...); }, as);
  for (std::size_t e = 1; e < S; ++e) t.c.push_back(c[e]);
  t.b = all_terms(b);
  t.err = all_terms(db);
  t.stepper_order = Stepper::stepper_order_value;
  t.error_order = Stepper::error_order_value;
  return t;
}

Tableau dopri5() {
  // The constants of odeint's runge_kutta_dopri5::do_step_impl, computed as it computes them.
  const double a2 = 1.0 / 5.0, a3 = 3.0 / 10.0, a4 = 4.0 / 5.0, a5 = 8.0 / 9.0;
  const double b21 = 1.0 / 5.0;
  const double b31 = 3.0 / 40.0, b32 = 9.0 / 40.0;
  const double b41 = 44.0 / 45.0, b42 = -56.0 / 15.0, b43 = 32.0 / 9.0;
  const double b51 = 19372.0 / 6561.0, b52 = -25360.0 / 2187.0, b53 = 64448.0 / 6561.0, b54 = -212.0 / 729.0;
  const double b61 = 9017.0 / 3168.0, b62 = -355.0 / 33.0, b63 = 46732.0 / 5247.0, b64 = 49.0 / 176.0,
               b65 = -5103.0 / 18656.0;
  const double c1 = 35.0 / 384.0, c3 = 500.0 / 1113.0, c4 = 125.0 / 192.0, c5 = -2187.0 / 6784.0,
               c6 = 11.0 / 84.0;
  const double dc1 = c1 - 5179.0 / 57600.0, dc3 = c3 - 7571.0 / 16695.0, dc4 = c4 - 393.0 / 640.0,
               dc5 = c5 - -92097.0 / 339200.0, dc6 = c6 - 187.0 / 2100.0, dc7 = -1.0 / 40.0;
  Tableau t;
  t.c = {a2, a3, a4, a5, 1.0, 1.0};  // evaluation 6 at t + dt, 7 (FSAL) at the proposal
  t.a = {{{0, b21}},
         {{0, b31}, {1, b32}},
         {{0, b41}, {1, b42}, {2, b43}},
         {{0, b51}, {1, b52}, {2, b53}, {3, b54}},
         {{0, b61}, {1, b62}, {2, b63}, {3, b64}, {4, b65}}};
  t.b = {{0, c1}, {2, c3}, {3, c4}, {4, c5}, {5, c6}};
  t.err = {{0, dc1}, {2, dc3}, {3, dc4}, {4, dc5}, {5, dc6}, {6, dc7}};
  t.fsal = true;
  t.stepper_order = 5;
  t.error_order = 4;
  return t;
}

const Tableau& tableau(RkPair pair) {
  using State = Eigen::VectorXd;
  using CashKarp = odeint::runge_kutta_cash_karp54<State>;
  using Fehlberg = odeint::runge_kutta_fehlberg78<State>;
  static const Tableau dp = dopri5();
  static const Tableau ck = generic<6, CashKarp>(
      std::make_tuple(odeint::rk54_ck_coefficients_a1<double>(), odeint::rk54_ck_coefficients_a2<double>(),
                      odeint::rk54_ck_coefficients_a3<double>(), odeint::rk54_ck_coefficients_a4<double>(),
                      odeint::rk54_ck_coefficients_a5<double>()),
      odeint::rk54_ck_coefficients_b<double>(), odeint::rk54_ck_coefficients_db<double>(),
      odeint::rk54_ck_coefficients_c<double>());
  static const Tableau rk78 = generic<13, Fehlberg>(
      std::make_tuple(odeint::rk78_coefficients_a1<double>(), odeint::rk78_coefficients_a2<double>(),
                      odeint::rk78_coefficients_a3<double>(), odeint::rk78_coefficients_a4<double>(),
                      odeint::rk78_coefficients_a5<double>(), odeint::rk78_coefficients_a6<double>(),
                      odeint::rk78_coefficients_a7<double>(), odeint::rk78_coefficients_a8<double>(),
                      odeint::rk78_coefficients_a9<double>(), odeint::rk78_coefficients_a10<double>(),
                      odeint::rk78_coefficients_a11<double>(), odeint::rk78_coefficients_a12<double>()),
      odeint::rk78_coefficients_b<double>(), odeint::rk78_coefficients_db<double>(),
      odeint::rk78_coefficients_c<double>());
  switch (pair) {
    case RkPair::dopri5: return dp;
    case RkPair::cash_karp54: return ck;
    case RkPair::fehlberg78: return rk78;
  }
  return dp;
}

/// The working set of one round: the rows still running, compacted, with everything the
/// attempt has computed for them so far.
struct Batch {
  std::vector<Eigen::Index> rows;  // chunk rows, increasing
  std::vector<std::size_t> steps;  // their accepted steps (messages)
  Vector t, dt;                    // time and the step tried
  std::vector<char> lands;         // the step lands on t1
  Matrix x;                        // states
  std::vector<Matrix> k;           // k[0] = f at the start, k[e] = evaluation e
  Matrix out;                      // the proposal (dopri5: before its last evaluation)

  Eigen::Index size() const { return static_cast<Eigen::Index>(rows.size()); }
  /// Drops the rows that `failures` no longer keeps; the first `live` of k are compacted.
  void compact(const RowFailures& failures, std::size_t live) {
    std::vector<Eigen::Index> keep;
    for (Eigen::Index i = 0; i < size(); ++i) {
      if (failures.keeps(rows[static_cast<std::size_t>(i)])) keep.push_back(i);
    }
    if (static_cast<Eigen::Index>(keep.size()) == size()) return;
    auto pick = [&](auto& v) {
      std::remove_reference_t<decltype(v)> w;
      for (Eigen::Index i : keep) w.push_back(v[static_cast<std::size_t>(i)]);
      v = std::move(w);
    };
    pick(rows);
    pick(steps);
    pick(lands);
    t = Vector(t(keep));
    dt = Vector(dt(keep));
    x = Matrix(x(keep, Eigen::all));
    for (std::size_t e = 0; e < live && e < k.size(); ++e) k[e] = Matrix(k[e](keep, Eigen::all));
    if (out.rows() > 0) out = Matrix(out(keep, Eigen::all));
  }
};

/// dst = base + sum_j (coef_j dt) k_{src_j}, each row with its own dt, summed left to right
/// (base = nullptr: no base term).
void combine(const Matrix* base, const Combination& terms, const Vector& dt, const std::vector<Matrix>& k,
             Matrix& dst) {
  bool first = true;
  if (base) {
    dst = *base;
    first = false;
  }
  for (const auto& [src, coef] : terms) {
    const Eigen::ArrayXd c = coef * dt.array();  // odeint: a[j] * dt
    const auto term = k[static_cast<std::size_t>(src)].array().colwise() * c;
    if (first) {
      dst = term.matrix();
      first = false;
    } else {
      dst.array() += term;
    }
  }
}

/// odeint's default_error_checker for one row: max_i |err_i| / (atol + rtol (1 |x_i| + (1 |dt|)
/// |dxdt_i|)), or +inf when any ratio is not finite.
double error_norm(const Eigen::Ref<const Eigen::RowVectorXd>& err, const Eigen::Ref<const Eigen::RowVectorXd>& x,
                  const Eigen::Ref<const Eigen::RowVectorXd>& dxdt, double dt, const AdaptiveTolerances& tol) {
  double max_rel = 0.0;
  bool finite = true;
  for (Eigen::Index j = 0; j < err.size(); ++j) {
    const double rel = std::fabs(err(j)) / (tol.atol + tol.rtol * (1.0 * std::fabs(x(j)) + (1.0 * std::fabs(dt)) * std::fabs(dxdt(j))));
    finite = finite && std::isfinite(rel);
    max_rel = std::max(max_rel, rel);
  }
  return finite ? max_rel : std::numeric_limits<double>::infinity();
}

}  // namespace

namespace {
double rms(const Eigen::VectorXd& v) { return std::sqrt(v.squaredNorm() / static_cast<double>(v.size())); }
}  // namespace

InitialStep initial_probe(const Eigen::VectorXd& x0, const Eigen::VectorXd& f0, double interval,
                          const AdaptiveTolerances& tol) {
  InitialStep s;
  s.scale = (tol.atol + tol.rtol * x0.array().abs()).matrix();
  const double d0 = rms(x0.cwiseQuotient(s.scale));
  s.d1 = rms(f0.cwiseQuotient(s.scale));
  s.h0 = (d0 < 1e-5 || s.d1 < 1e-5) ? 1e-6 : 0.01 * d0 / s.d1;
  s.h0 = std::min(s.h0, interval);
  return s;
}

double initial_finish(const InitialStep& s, const Eigen::VectorXd& f0, const Eigen::VectorXd& f1, double interval,
                      int order) {
  const double d2 = rms((f1 - f0).cwiseQuotient(s.scale)) / s.h0;
  const double h1 = (s.d1 <= 1e-15 && d2 <= 1e-15) ? std::max(1e-6, s.h0 * 1e-3)
                                                    : std::pow(0.01 / std::max(s.d1, d2), 1.0 / (order + 1));
  const double h = std::min({100.0 * s.h0, h1, interval});
  return std::isfinite(h) && h > 0.0 ? h : s.h0;
}

std::vector<AdaptiveCounts> integrate_rk(RkPair pair, BatchRhs& rhs, MatrixRef z, double t0, double t1,
                                         const AdaptiveTolerances& tol, std::uint64_t first_sample,
                                         const AcceptedStepHook& on_accept, DenseGridOutput* dense) {
  const Eigen::Index n = z.rows(), width = z.cols();
  std::vector<AdaptiveCounts> result(static_cast<std::size_t>(n));
  if (t1 == t0 || n == 0) return result;
  const Tableau& tab = tableau(pair);
  const double direction = t1 < t0 ? -1.0 : 1.0;
  const double interval = std::fabs(t1 - t0);
  const odeint::default_step_adjuster<double, double> adjuster;
  RowFailures failures(n);
  std::vector<StepControl> control(static_cast<std::size_t>(n));
  std::vector<char> have_dxdt(static_cast<std::size_t>(n), 1);
  Matrix dxdt(n, width);  // f at each row's current point, while have_dxdt
  auto sample = [&](Eigen::Index r) { return first_sample + static_cast<std::uint64_t>(r); };
  auto at = [&](Eigen::Index r) -> StepControl& { return control[static_cast<std::size_t>(r)]; };
  // Runs `check` for each row, recording what it throws as that row's failure.
  auto guarded = [&](Eigen::Index r, auto&& check) {
    try {
      check();
    } catch (...) {
      failures.fail(r, std::current_exception());
    }
  };

  // f(t0, z) for every row, then the initial step of each.
  {
    std::vector<Eigen::Index> rows(static_cast<std::size_t>(n));
    for (Eigen::Index r = 0; r < n; ++r) rows[static_cast<std::size_t>(r)] = r;
    const std::vector<std::size_t> zeros(rows.size(), 0);
    rhs(Vector::Constant(n, t0), z, dxdt, rows, zeros, failures);
    if (dense && !tab.fsal) {
      for (Eigen::Index r = 0; r < n; ++r) {
        if (failures.keeps(r)) dense->point(r, t0, z.row(r), dxdt.row(r));
      }
    }
    std::vector<Eigen::Index> probe_rows;
    for (Eigen::Index r = 0; r < n; ++r) {
      if (failures.keeps(r)) probe_rows.push_back(r);
    }
    const auto m = static_cast<Eigen::Index>(probe_rows.size());
    std::vector<InitialStep> probes;
    Matrix x1(m, width), f1(m, width);
    Vector tp(m);
    for (Eigen::Index i = 0; i < m; ++i) {
      const Eigen::Index r = probe_rows[static_cast<std::size_t>(i)];
      const Eigen::VectorXd x0 = z.row(r).transpose(), f0 = dxdt.row(r).transpose();
      probes.push_back(initial_probe(x0, f0, interval, tol));
      const double h0 = probes.back().h0;
      x1.row(i) = (x0 + (h0 * direction) * f0).transpose();
      tp(i) = t0 + h0 * direction;
    }
    rhs(tp, x1, f1, probe_rows, std::vector<std::size_t>(probe_rows.size(), 0), failures);
    for (Eigen::Index i = 0; i < m; ++i) {
      const Eigen::Index r = probe_rows[static_cast<std::size_t>(i)];
      if (!failures.keeps(r)) continue;
      const Eigen::VectorXd f0 = dxdt.row(r).transpose(), f1r = f1.row(i).transpose();
      at(r).t = t0;
      at(r).dt = direction * initial_finish(probes[static_cast<std::size_t>(i)], f0, f1r, interval,
                                            tab.error_order);
    }
  }

  Batch b;
  b.k.resize(static_cast<std::size_t>(tab.evaluations()) + 1);
  for (;;) {
    // The rows still running, their step cap, and f at the start of their step if not known.
    std::vector<Eigen::Index> running, stale;
    for (Eigen::Index r = 0; r < n; ++r) {
      if (!failures.keeps(r) || at(r).t == t1) continue;
      guarded(r, [&] { at(r).check_cap(sample(r), tol.max_steps); });
      if (!failures.keeps(r)) break;
      running.push_back(r);
      if (!have_dxdt[static_cast<std::size_t>(r)]) stale.push_back(r);
    }
    if (running.empty()) break;
    if (!stale.empty()) {
      const auto m = static_cast<Eigen::Index>(stale.size());
      Vector ts(m);
      Matrix xs(m, width), fs(m, width);
      std::vector<std::size_t> steps;
      for (Eigen::Index i = 0; i < m; ++i) {
        const Eigen::Index r = stale[static_cast<std::size_t>(i)];
        ts(i) = at(r).t;
        xs.row(i) = z.row(r);
        steps.push_back(at(r).counts.accepted);
      }
      rhs(ts, xs, fs, stale, steps, failures);
      for (Eigen::Index i = 0; i < m; ++i) {
        const Eigen::Index r = stale[static_cast<std::size_t>(i)];
        dxdt.row(r) = fs.row(i);
        have_dxdt[static_cast<std::size_t>(r)] = 1;
        if (dense && failures.keeps(r)) dense->point(r, at(r).t, z.row(r), dxdt.row(r));
      }
    }
    // The step each row tries, and its floor.
    b.rows.clear();
    b.steps.clear();
    b.lands.clear();
    std::vector<double> tried;
    for (Eigen::Index r : running) {
      if (!failures.keeps(r)) break;
      bool lands = false;
      const double step = at(r).next_step(t1, lands);
      if (!lands) guarded(r, [&] { at(r).check_floor(sample(r), step); });
      if (!failures.keeps(r)) break;
      b.rows.push_back(r);
      b.steps.push_back(at(r).counts.accepted);
      b.lands.push_back(lands);
      tried.push_back(step);
    }
    const Eigen::Index m = b.size();
    if (m == 0) break;
    b.t.resize(m);
    b.dt = Eigen::Map<const Vector>(tried.data(), m);
    b.x.resize(m, width);
    b.k[0].resize(m, width);
    for (Eigen::Index i = 0; i < m; ++i) {
      const Eigen::Index r = b.rows[static_cast<std::size_t>(i)];
      b.t(i) = at(r).t;
      b.x.row(i) = z.row(r);
      b.k[0].row(i) = dxdt.row(r);
    }
    b.out.resize(0, width);

    // The stages: evaluation e at t + c_e dt and x + a_e (dopri5's last one at the proposal).
    Matrix state;
    for (int e = 1; e <= tab.evaluations(); ++e) {
      const bool at_proposal = tab.fsal && e == tab.evaluations();
      if (at_proposal) {
        combine(&b.x, tab.b, b.dt, b.k, b.out);
      } else {
        combine(&b.x, tab.a[static_cast<std::size_t>(e - 1)], b.dt, b.k, state);
      }
      const double c = tab.c[static_cast<std::size_t>(e - 1)];
      const Vector te = b.t + c * b.dt;  // odeint: t + c dt (dopri5's t + dt: c = 1)
      auto& ke = b.k[static_cast<std::size_t>(e)];
      ke.resize(b.size(), width);
      rhs(te, at_proposal ? b.out : state, ke, b.rows, b.steps, failures);
      b.compact(failures, static_cast<std::size_t>(e) + 1);
      if (b.size() == 0) break;
    }
    if (b.size() == 0) continue;
    if (!tab.fsal) combine(&b.x, tab.b, b.dt, b.k, b.out);
    Matrix err;
    combine(nullptr, tab.err, b.dt, b.k, err);

    // Per row: odeint's error checker (guarded), its step adjuster, StepControl's bookkeeping.
    const auto& f_new = b.k[static_cast<std::size_t>(tab.evaluations())];
    for (Eigen::Index i = 0; i < b.size(); ++i) {
      const Eigen::Index r = b.rows[static_cast<std::size_t>(i)];
      StepControl& s = at(r);
      const double step = b.dt(i);
      const double e = error_norm(err.row(i), b.x.row(i), b.k[0].row(i), step, tol);
      const bool finite = detail::all_finite(b.out.row(i)) && (!tab.fsal || detail::all_finite(f_new.row(i)));
      if (e > 1.0) {
        s.reject(finite, step, adjuster.decrease_step(step, e, tab.error_order));
      } else if (!finite) {
        s.reject(false, step, step);
      } else {
        const double t_new = b.lands[static_cast<std::size_t>(i)] ? t1 : s.t + step;
        if (on_accept) on_accept(r, s.t, t_new, s.dt);
        if (dense) {
          if (tab.fsal) {
            dense->dopri5(r, s.t, b.x.row(i), t_new, b.out.row(i), b.k, i);
          } else {
            dense->accepted(r, t_new, b.out.row(i));
          }
          if (t_new == t1) dense->finish_row(r, b.out.row(i));
        }
        s.accept(t_new, adjuster.increase_step(step, e, tab.stepper_order));
        z.row(r) = b.out.row(i);
        if (tab.fsal) {
          dxdt.row(r) = f_new.row(i);
        } else {
          have_dxdt[static_cast<std::size_t>(r)] = 0;
        }
      }
    }
    if (dense) dense->flush(failures);
  }
  if (dense) dense->finish(z, failures);
  failures.rethrow();
  for (Eigen::Index r = 0; r < n; ++r) result[static_cast<std::size_t>(r)] = at(r).counts;
  return result;
}

}  // namespace tweedie::detail
