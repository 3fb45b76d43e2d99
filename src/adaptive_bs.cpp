// Bulirsch-Stoer on a batch of rows (see adaptive_bs.hpp).
//
// The arithmetic is odeint's, row by row: the vector operations are odeint's own (its
// vector_space_algebra and default_operations on Eigen::VectorXd, as odeint's bulirsch_stoer and
// modified_midpoint apply them), the error is odeint's default_error_checker, and the constants
// and the order and step control are those of boost/numeric/odeint/stepper/bulirsch_stoer.hpp
// (try_step with the derivative given, calc_h_opt, should_reject, extrapolate; max_dt = 0),
// restated as a state machine that stops at each evaluation of the system.
#include "adaptive_bs.hpp"

#include "checks.hpp"

#include <boost/numeric/odeint.hpp>
#include <boost/numeric/odeint/external/eigen/eigen.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

namespace tweedie::detail {
namespace {

namespace odeint = boost::numeric::odeint;
using State = Eigen::VectorXd;
using Algebra = odeint::vector_space_algebra;
using Operations = odeint::default_operations;
using ScaleSum2 = Operations::scale_sum2<double, double>;

// odeint's bulirsch_stoer constants (m_k_max, STEPFAC1..4, KFAC2) and the tables its
// constructor computes.
constexpr std::size_t kKMax = 8;
constexpr double kStepFac1 = 0.65, kStepFac2 = 0.94, kStepFac3 = 0.02, kStepFac4 = 4.0, kKFac2 = 0.9;
constexpr std::size_t kInitialOrder = 4;  // reset(): m_current_k_opt = 4

struct Tables {
  std::array<std::size_t, kKMax + 1> sequence{}, cost{};
  std::array<std::vector<double>, kKMax + 1> coeff;
  std::array<double, kKMax + 1> facmin{};
  Tables() {
    for (std::size_t i = 0; i < kKMax + 1; ++i) {
      sequence[i] = 2 * (i + 1);
      cost[i] = i == 0 ? sequence[i] : cost[i - 1] + sequence[i];
      coeff[i].resize(i);
      facmin[i] = std::pow(kStepFac3, 1.0 / static_cast<double>(2 * i + 1));
      for (std::size_t k = 0; k < i; ++k) {
        const double r = static_cast<double>(sequence[i]) / static_cast<double>(sequence[k]);
        coeff[i][k] = 1.0 / (r * r - 1.0);
      }
    }
  }
};
const Tables& tables() {
  static const Tables t;
  return t;
}

double calc_h_opt(double h, double error, std::size_t k) {
  const double expo = 1.0 / static_cast<double>(2 * k + 1);
  const double facmin = tables().facmin[k];
  double fac;
  if (error == 0.0) {
    fac = 1.0 / facmin;
  } else {
    fac = kStepFac2 / std::pow(error / kStepFac1, expo);
    fac = std::max(facmin / kStepFac4, std::min(1.0 / facmin, fac));
  }
  return h * fac;
}

/// One row: its controller, odeint's stepper state, the attempt in progress and the evaluation
/// it waits for.
class Row {
 public:
  enum class Phase { f0, probe, start, midpoint, done };

  Row(const ConstVectorRef& x0, double t0, double t1, const AdaptiveTolerances& tol, std::uint64_t sample,
      DenseGridOutput* dense, Eigen::Index index)
      : x_(x0), t0_(t0), t1_(t1), direction_(t1 < t0 ? -1.0 : 1.0), tol_(tol), sample_(sample),
        dense_(dense), index_(index), checker_(tol.atol, tol.rtol, 1.0, 1.0), table_(kKMax) {
    control_.t = t0;
    t_eval_ = t0;
    z_eval_ = x_;
  }

  Phase phase() const { return phase_; }
  double t_eval() const { return t_eval_; }
  const State& z_eval() const { return z_eval_; }
  const State& x() const { return x_; }
  const StepControl& control() const { return control_; }

  /// Takes f(t_eval, z_eval) and advances to the next evaluation (or the end). Throws what the
  /// guards throw.
  void feed(const State& f) {
    switch (phase_) {
      case Phase::f0: {
        dxdt_ = f;
        if (dense_) dense_->point(index_, t0_, x_.transpose(), dxdt_.transpose());
        probe_ = initial_probe(x_, dxdt_, std::fabs(t1_ - t0_), tol_);
        t_eval_ = t0_ + probe_.h0 * direction_;
        z_eval_ = x_ + (probe_.h0 * direction_) * dxdt_;
        phase_ = Phase::probe;
        return;
      }
      case Phase::probe:
        control_.dt = direction_ * initial_finish(probe_, dxdt_, f, std::fabs(t1_ - t0_), static_cast<int>(kInitialOrder));
        return begin_attempt();
      case Phase::start:
        dxdt_ = f;
        have_dxdt_ = true;
        if (dense_) dense_->point(index_, control_.t, x_.transpose(), dxdt_.transpose());
        return try_begin();
      case Phase::midpoint:
        return midpoint_feed(f);
      case Phase::done:
        return;
    }
  }

 private:
  // integrate_row's loop: the cap, f at the start if not known, the step and its floor.
  void begin_attempt() {
    if (control_.t == t1_) {
      phase_ = Phase::done;
      return;
    }
    control_.check_cap(sample_, tol_.max_steps);
    if (!have_dxdt_) {
      phase_ = Phase::start;
      t_eval_ = control_.t;
      z_eval_ = x_;
      return;
    }
    try_begin();
  }

  // bulirsch_stoer::try_step(system, in, dxdt, t, out, dt), up to its first evaluation.
  void try_begin() {
    step_ = control_.next_step(t1_, lands_);
    if (!lands_) control_.check_floor(sample_, step_);
    tried_ = step_;
    t_attempt_ = control_.t;
    if (step_ != dt_last_) reset();  // (the first call also resizes, which resets)
    reject_ = true;
    new_h_ = step_;
    h_opt_.fill(0.0);
    work_.fill(0.0);
    k_ = 0;
    start_midpoint();
  }

  void reset() {
    first_ = true;
    last_rejected_ = false;
    k_opt_ = kInitialOrder;
  }

  // modified_midpoint::do_step with sequence[k] steps, up to its first evaluation.
  void start_midpoint() {
    steps_ = tables().sequence[k_];
    h_ = step_ / static_cast<double>(steps_);
    h2_ = 2.0 * h_;
    th_ = t_attempt_ + h_;
    if (x1_.size() != x_.size()) x1_.resize(x_.size());
    algebra_.for_each3(x1_, x_, dxdt_, ScaleSum2(1.0, h_));
    done_ = 0;
    phase_ = Phase::midpoint;
    t_eval_ = th_;
    z_eval_ = x1_;
  }

  void midpoint_feed(const State& f) {
    mid_dxdt_ = f;
    if (++done_ == 1) x0_ = x_;
    if (done_ != steps_) {
      algebra_.for_each3(x1_, x0_, mid_dxdt_, Operations::scale_sum_swap2<double, double>(1.0, h2_));
      th_ += h_;
      t_eval_ = th_;
      z_eval_ = x1_;
      return;
    }
    State& result = k_ == 0 ? out_ : table_[k_ - 1];
    if (result.size() != x_.size()) result.resize(x_.size());
    algebra_.for_each4(result, x0_, x1_, mid_dxdt_, Operations::scale_sum3<double, double, double>(0.5, 0.5, 0.5 * h_));
    depth_done();
  }

  bool should_reject(double error, std::size_t k) const {
    const auto& seq = tables().sequence;
    if (k == k_opt_ - 1) {
      const auto d = static_cast<double>(seq[k_opt_] * seq[k_opt_ + 1] / (seq[0] * seq[0]));
      return error > d * d;
    }
    if (k == k_opt_) {
      const auto d = static_cast<double>(seq[k_opt_] / seq[0]);
      return error > d * d;
    }
    return error > 1.0;
  }

  void extrapolate(std::size_t k) {
    const auto& coeff = tables().coeff;
    for (int j = static_cast<int>(k) - 1; j > 0; --j) {
      const double c = coeff[k][static_cast<std::size_t>(j)];
      algebra_.for_each3(table_[static_cast<std::size_t>(j) - 1], table_[static_cast<std::size_t>(j)],
                         table_[static_cast<std::size_t>(j) - 1], ScaleSum2(1.0 + c, -c));
    }
    const double c = coeff[k][0];
    algebra_.for_each3(out_, table_[0], out_, ScaleSum2(1.0 + c, -c));
  }

  // The body of try_step's loop over k after the midpoint of depth k.
  void depth_done() {
    const std::size_t k = k_;
    if (k > 0) {
      const auto& cost = tables().cost;
      const int k_max = static_cast<int>(kKMax);
      extrapolate(k);
      if (err_.size() != x_.size()) err_.resize(x_.size());
      algebra_.for_each3(err_, out_, table_[0], ScaleSum2(1.0, -1.0));
      const double error = checker_.error(algebra_, x_, dxdt_, err_, step_);
      h_opt_[k] = calc_h_opt(step_, error, k);
      work_[k] = static_cast<double>(cost[k]) / h_opt_[k];
      if ((k == k_opt_ - 1) || first_) {
        if (error < 1.0) {
          reject_ = false;
          if ((work_[k] < kKFac2 * work_[k - 1]) || (k_opt_ <= 2)) {
            k_opt_ = static_cast<std::size_t>(std::min(k_max - 1, std::max(2, static_cast<int>(k) + 1)));
            new_h_ = h_opt_[k];
            new_h_ *= static_cast<double>(cost[k + 1]) / static_cast<double>(cost[k]);
          } else {
            k_opt_ = static_cast<std::size_t>(std::min(k_max - 1, std::max(2, static_cast<int>(k))));
            new_h_ = h_opt_[k];
          }
          return finish_attempt();
        }
        if (should_reject(error, k) && !first_) {
          reject_ = true;
          new_h_ = h_opt_[k];
          return finish_attempt();
        }
      }
      if (k == k_opt_) {
        if (error < 1.0) {
          reject_ = false;
          if (work_[k - 1] < kKFac2 * work_[k]) {
            k_opt_ = static_cast<std::size_t>(std::max(2, static_cast<int>(k_opt_) - 1));
            new_h_ = h_opt_[k_opt_];
          } else if ((work_[k] < kKFac2 * work_[k - 1]) && !last_rejected_) {
            k_opt_ = static_cast<std::size_t>(std::min(k_max - 1, static_cast<int>(k_opt_) + 1));
            new_h_ = h_opt_[k];
            new_h_ *= static_cast<double>(cost[k_opt_]) / static_cast<double>(cost[k]);
          } else {
            new_h_ = h_opt_[k_opt_];
          }
          return finish_attempt();
        }
        if (should_reject(error, k)) {
          reject_ = true;
          new_h_ = h_opt_[k_opt_];
          return finish_attempt();
        }
      }
      if (k == k_opt_ + 1) {
        if (error < 1.0) {
          reject_ = false;
          if (work_[k - 2] < kKFac2 * work_[k - 1]) {
            k_opt_ = static_cast<std::size_t>(std::max(2, static_cast<int>(k_opt_) - 1));
          }
          if ((work_[k] < kKFac2 * work_[k_opt_]) && !last_rejected_) {
            k_opt_ = static_cast<std::size_t>(std::min(k_max - 1, static_cast<int>(k)));
          }
          new_h_ = h_opt_[k_opt_];
        } else {
          reject_ = true;
          new_h_ = h_opt_[k_opt_];
        }
        return finish_attempt();
      }
    }
    ++k_;
    if (k_ <= k_opt_ + 1) return start_midpoint();
    finish_attempt();  // (not reached: depth k_opt + 1 always ends the attempt)
  }

  // The end of try_step, then integrate_row's acceptance under StepControl.
  void finish_attempt() {
    double t_new = t_attempt_;
    if (!reject_) t_new += step_;
    if (!last_rejected_ || odeint::detail::less_with_sign(new_h_, step_, step_)) {
      dt_last_ = new_h_;
      step_ = new_h_;
    }
    last_rejected_ = reject_;
    first_ = false;
    const bool finite = detail::all_finite(out_);
    if (!reject_ && finite) {
      x_.swap(out_);
      control_.accept(lands_ ? t1_ : t_new, step_);
      have_dxdt_ = false;
      if (dense_) {
        dense_->accepted(index_, control_.t, x_.transpose());
        if (control_.t == t1_) dense_->finish_row(index_, x_.transpose());
      }
    } else {
      control_.reject(finite, tried_, step_);
    }
    begin_attempt();
  }

  State x_, dxdt_;
  double t0_, t1_, direction_;
  AdaptiveTolerances tol_;
  std::uint64_t sample_;
  DenseGridOutput* dense_;
  Eigen::Index index_;  // the chunk row, for dense_
  StepControl control_;
  bool have_dxdt_ = true;
  InitialStep probe_;
  Phase phase_ = Phase::f0;
  double t_eval_ = 0.0;
  State z_eval_;
  // odeint's stepper state (a fresh stepper per sample: m_dt_last not yet set)
  odeint::default_error_checker<double, Algebra, Operations> checker_;
  Algebra algebra_;
  std::size_t k_opt_ = kInitialOrder;
  bool first_ = true, last_rejected_ = false;
  double dt_last_ = std::numeric_limits<double>::quiet_NaN();
  std::vector<State> table_;
  State out_, err_;
  // the attempt
  double step_ = 0.0, tried_ = 0.0, t_attempt_ = 0.0, new_h_ = 0.0;
  bool lands_ = false, reject_ = true;
  std::array<double, kKMax + 1> h_opt_{}, work_{};
  std::size_t k_ = 0;
  // the modified midpoint of depth k
  std::size_t steps_ = 0, done_ = 0;
  double h_ = 0.0, h2_ = 0.0, th_ = 0.0;
  State x0_, x1_, mid_dxdt_;
};

}  // namespace

std::vector<AdaptiveCounts> integrate_bulirsch_stoer(BatchRhs& rhs, MatrixRef z, double t0, double t1,
                                                     const AdaptiveTolerances& tol, std::uint64_t first_sample,
                                                     DenseGridOutput* dense) {
  const Eigen::Index n = z.rows(), width = z.cols();
  std::vector<AdaptiveCounts> result(static_cast<std::size_t>(n));
  if (t1 == t0 || n == 0) return result;
  std::vector<Row> rows;
  rows.reserve(static_cast<std::size_t>(n));
  for (Eigen::Index r = 0; r < n; ++r) {
    rows.emplace_back(z.row(r).transpose(), t0, t1, tol, first_sample + static_cast<std::uint64_t>(r), dense, r);
  }
  RowFailures failures(n);
  for (;;) {
    // Every row waiting for an evaluation, below the lowest failure: one call.
    std::vector<Eigen::Index> pending;
    std::vector<std::size_t> steps;
    for (Eigen::Index r = 0; r < n && failures.keeps(r); ++r) {
      const Row& row = rows[static_cast<std::size_t>(r)];
      if (row.phase() == Row::Phase::done) continue;
      pending.push_back(r);
      steps.push_back(row.control().counts.accepted);
    }
    if (pending.empty()) break;
    const auto m = static_cast<Eigen::Index>(pending.size());
    Vector t(m);
    Matrix x(m, width), f(m, width);
    for (Eigen::Index k = 0; k < m; ++k) {
      const Row& row = rows[static_cast<std::size_t>(pending[static_cast<std::size_t>(k)])];
      t(k) = row.t_eval();
      x.row(k) = row.z_eval().transpose();
    }
    rhs(t, x, f, pending, steps, failures);
    State fk(width);
    for (Eigen::Index k = 0; k < m; ++k) {
      const Eigen::Index r = pending[static_cast<std::size_t>(k)];
      if (!failures.keeps(r)) break;
      fk = f.row(k).transpose();
      guarded(failures, r, [&] { rows[static_cast<std::size_t>(r)].feed(fk); });
    }
    if (dense) dense->flush(failures);
  }
  if (dense) dense->flush(failures);
  failures.rethrow();
  for (Eigen::Index r = 0; r < n; ++r) {
    const Row& row = rows[static_cast<std::size_t>(r)];
    z.row(r) = row.x().transpose();
    result[static_cast<std::size_t>(r)] = row.control().counts;
  }
  return result;
}

}  // namespace tweedie::detail
