// Dense output of adaptive integrators onto the grid, for step observers: each row's state at
// every interior grid time t_k (k = 1 .. N-1), interpolated between that row's accepted steps
// (as scipy's solve_ivp(t_eval=...) reports a solution at requested times without changing its
// steps), and the event of grid point k emitted once every row of the chunk has passed t_k. One
// implementation for every adaptive sampler (src/adaptive_rk.*, src/adaptive_bs.*,
// solvers/adaptive_sde.cpp, solvers/dpm_solver_adaptive.cpp); a side computation that reads the
// integrator's values and changes none. The event of grid point N stays check_state's.
#pragma once

#include <tweedie/types.hpp>

#include <cstddef>
#include <deque>
#include <functional>
#include <span>
#include <vector>

namespace tweedie::detail {

class RowFailures;

class DenseGridOutput {
 public:
  using RowRef = Eigen::Ref<const Eigen::RowVectorXd>;
  /// Receives the rows of the chunk at grid point k (1 .. N-1), in increasing k.
  using Emit = std::function<void(std::size_t k, const ConstMatrixRef& x)>;
  /// For `rows` rows of width `dim` integrated along `grid` (either direction).
  DenseGridOutput(std::span<const double> grid, Eigen::Index rows, Eigen::Index dim, Emit emit);

  // ---- cubic Hermite in t between accepted points, each with its derivative dx/dt ----------
  /// Row r is at (t, x) and dx/dt there is f: its initial point, or the end of its last accepted
  /// step (closing that step: cubic Hermite from the previous point). A point already known is
  /// ignored, so it may be given at each attempt from the same point.
  void point(Eigen::Index r, double t, const RowRef& x, const RowRef& f);
  /// Whether `point` would use a derivative at row r's current point (its first, or the end of
  /// an accepted step not yet closed): integrators that must compute f for it ask first.
  bool needs_derivative(Eigen::Index r) const;
  /// Row r accepted a step to (t1, x1); the step is interpolated when `point` gives f there
  /// (or by finish_row).
  void accepted(Eigen::Index r, double t1, const RowRef& x1);

  // ---- interpolants given whole ------------------------------------------------------------
  /// The linear interpolant of an accepted step (adaptive-sde: no derivative means anything).
  void linear(Eigen::Index r, double t0, const RowRef& x0, double t1, const RowRef& x1);
  /// Dormand-Prince's 4th-order continuous extension (Shampine 1986, the one of scipy's RK45):
  /// x0 + h sum_i b_i(s) k_i with the 7 stages k[0..6] (k[6] = f at the step's end, FSAL), row
  /// `i` of each.
  void dopri5(Eigen::Index r, double t0, const RowRef& x0, double t1, const RowRef& x1,
              std::span<const Matrix> k, Eigen::Index i);

  /// Row r stopped at state x (it reached the integrator's end, or stopped within its tolerance
  /// of it): a step not yet closed is closed without its end derivative, by the cubic through
  /// the previous accepted state, x0, f0 and x1 (the quadratic from x0, f0, x1 when the step
  /// was the row's first), and every grid point up to N-1 it has not passed takes x.
  void finish_row(Eigen::Index r, const RowRef& x);
  /// Emits, in order, the grid points every row has passed; once any row failed, none (the
  /// chunk's error ends the run).
  void flush(const RowFailures& failures);
  /// The end of the integration: every row not yet finished is finished at its state in x, and
  /// everything is flushed (so the integrator's check_state of grid point N comes after).
  void finish(const ConstMatrixRef& x, const RowFailures& failures);

 private:
  struct Row {
    bool has_a = false, has_b = false, has_p = false;
    double ta = 0.0, tb = 0.0, tp = 0.0;
    Eigen::RowVectorXd xa, fa, xb, xp;  // a: the last point with f; b: the step's end; p: before a
    std::size_t next = 1;  // the next grid point to fill
  };
  /// Fills row r's grid points in (t0, t1] (in the integration's direction): value(t, out) for
  /// those strictly inside, x1 itself at t1.
  template <class Value>
  void fill(Eigen::Index r, double t1, const RowRef& x1, Value&& value);
  /// The state of grid point k (>= first_pending_), allocated when first reached.
  Matrix& states(std::size_t k);
  bool before(double a, double b) const { return descending_ ? a > b : a < b; }

  std::span<const double> grid_;
  std::size_t last_;  // N - 1: the last grid point emitted here
  bool descending_;
  Eigen::Index rows_, dim_;
  Emit emit_;
  std::vector<Row> row_;
  std::size_t first_pending_ = 1;  // grid point of pending_.front()
  std::deque<Matrix> pending_;     // the states of grid points first_pending_, ... being filled
  bool dead_ = false;
};

}  // namespace tweedie::detail
