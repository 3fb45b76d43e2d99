// The step-size control that every adaptive sampler and every PF-ODE flow shares, one controller
// per sample: the tolerances, the step cap, the step-size floor, the landing on the end point, the
// rejection of a non-finite error or proposal, the error norms and the next step, and the
// bookkeeping of rows that fail while the rest of their chunk goes on. The integrators
// (src/adaptive_rk.*, src/adaptive_bs.*, solvers/adaptive_sde.*, solvers/dpm_solver_adaptive.cpp)
// hold only their stages and call the model once per stage on all the rows still running.
#pragma once

#include <tweedie/sampler.hpp>
#include <tweedie/types.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <span>
#include <utility>
#include <vector>
#include <string>

namespace tweedie::detail {

/// --rtol, --atol and --max-steps as an adaptive integrator reads them.
struct AdaptiveTolerances {
  double rtol = 1e-5;
  double atol = 1e-5;
  std::size_t max_steps = 100000;  ///< step attempts (accepted + rejected) allowed per sample
};

/// Thrown when a sample's step size falls below what its time can resolve (`min_step`) while
/// the error estimate, finite, stays above the tolerance: a tolerance below the rounding error of
/// the state, or a model that jumps in t or x. A StepLimitError, with its own message.
class StepSizeUnderflowError final : public StepLimitError {
 public:
  StepSizeUnderflowError(std::size_t sample, double t, double dt);
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  std::string message_;
};

/// The smallest step an adaptive integrator may take at time t: 10 spacings of doubles (scipy's
/// `min_step`).
double min_step(double t);

/// Step counts of one sample.
struct AdaptiveCounts {
  std::size_t accepted = 0, rejected = 0;
};

/// One sample's controller: where it is, the step it will try next, what it has done. The
/// integrators call, per attempt: check_cap, then (having the step they will try) check_floor,
/// then accept or reject.
struct StepControl {
  double t = 0.0;   ///< current time
  double dt = 0.0;  ///< the next step to try (signed: negative when integrating down)
  AdaptiveCounts counts;
  bool last_non_finite = false;  ///< whether the last attempt was rejected as non-finite

  /// Throws StepLimitError (naming the sample and t) when max_steps attempts are spent.
  void check_cap(std::uint64_t sample, std::size_t max_steps) const { check_cap(sample, max_steps, t); }
  /// For a step that does not land on the end: throws when |step| < min_step(t), as
  /// NonFiniteError if the last rejection was non-finite, StepSizeUnderflowError otherwise.
  void check_floor(std::uint64_t sample, double step) const { check_floor(sample, step, t); }
  /// The same for an integrator whose variable is not the time (dpm-solver-adaptive steps in
  /// lambda): the floor is that of the variable, the messages name the time `time`.
  void check_cap(std::uint64_t sample, std::size_t max_steps, double time) const;
  void check_floor(std::uint64_t sample, double step, double time) const;
  /// The step to try from t towards `end` with dt: dt itself, or end - t when it reaches the end
  /// (`lands` tells which).
  double next_step(double end, bool& lands) const;
  void accept(double t_new, double dt_next) {
    t = t_new;
    dt = dt_next;
    ++counts.accepted;
    last_non_finite = false;
  }
  /// A rejection; a non-finite one divides the step it tried by 5 (any error norm would give
  /// NaN or +inf there, and a controller fed NaN would propose a NaN step).
  void reject(bool finite, double tried, double dt_next) {
    ++counts.rejected;
    last_non_finite = !finite;
    dt = finite ? dt_next : 0.2 * tried;
  }
};

/// The scaled root-mean-square error of GGF and adaptive DPM-Solver:
/// sqrt(mean((err / max(atol, rtol max(|x_low|, |x_prev|)))^2)) over the components of a row.
double rms_error(const Eigen::Ref<const Eigen::RowVectorXd>& err,
                 const Eigen::Ref<const Eigen::RowVectorXd>& x_low,
                 const Eigen::Ref<const Eigen::RowVectorXd>& x_prev, double rtol, double atol);

/// The power-law controller h safety E^-exponent, at most h_max (E = 0: h_max).
double power_law_step(double h, double error, double safety, double exponent, double h_max);

/// The errors of the rows of a chunk integrated together: the error of the lowest failing row
/// wins (the one a per-sample loop over the rows in order would have reported), and rows above
/// it no longer need to run.
class RowFailures {
 public:
  explicit RowFailures(Eigen::Index rows) : first_(rows) {}
  void fail(Eigen::Index row, std::exception_ptr error) {
    if (row < first_) {
      first_ = row;
      error_ = std::move(error);
    }
  }
  /// Whether row still has to run: no row at or below it has failed.
  bool keeps(Eigen::Index row) const { return row < first_; }
  /// Whether any row has failed.
  bool failed() const { return error_ != nullptr; }
  /// Rethrows the lowest failure, if any.
  void rethrow() const {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  Eigen::Index first_;
  std::exception_ptr error_;
};

/// Records what `check` throws as the failure of chunk row `row` (the guards of the controller,
/// which must not stop the other rows).
template <class Check>
void guarded(RowFailures& failures, Eigen::Index row, Check&& check) {
  try {
    check();
  } catch (...) {
    failures.fail(row, std::current_exception());
  }
}

/// The positions k of a compacted batch (row k is chunk row rows[k]) whose rows `failures` still
/// keeps, in order; all of them when none has failed.
std::vector<Eigen::Index> kept_positions(const RowFailures& failures, std::span<const Eigen::Index> rows);

/// v restricted to the positions `keep` (from kept_positions), in place.
template <class T>
void keep_positions(std::vector<T>& v, const std::vector<Eigen::Index>& keep) {
  std::vector<T> w;
  w.reserve(keep.size());
  for (Eigen::Index k : keep) w.push_back(v[static_cast<std::size_t>(k)]);
  v = std::move(w);
}
inline void keep_positions(Matrix& m, const std::vector<Eigen::Index>& keep) { m = Matrix(m(keep, Eigen::all)); }
inline void keep_positions(Vector& v, const std::vector<Eigen::Index>& keep) { v = Vector(v(keep)); }

}  // namespace tweedie::detail
