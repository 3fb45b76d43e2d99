// Embedded Runge-Kutta pairs (Dormand-Prince 5(4), Cash-Karp 5(4), Fehlberg 7(8)) on all the rows
// of a chunk at once, each row with its own time, step and error control: the integrator of the
// adaptive odeint samplers and of the PF-ODE flows (encode, decode, log_likelihood).
#pragma once

#include "adaptive_control.hpp"
#include "dense_output.hpp"

#include <tweedie/types.hpp>

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

namespace tweedie::detail {

enum class RkPair { dopri5, cash_karp54, fehlberg78 };

/// The right-hand side of a batch of rows: dzdt.row(k) = f(t(k), z.row(k)) for the chunk row
/// rows[k], whose accepted steps so far are steps[k] (for error messages). A row whose
/// evaluation fails is reported with failures.fail(rows[k], error) (its dzdt row is then
/// ignored); anything thrown instead stops the whole chunk.
class BatchRhs {
 public:
  virtual ~BatchRhs() = default;
  virtual void operator()(const ConstVectorRef& t, const ConstMatrixRef& z, MatrixRef dzdt,
                          std::span<const Eigen::Index> rows, std::span<const std::size_t> steps,
                          RowFailures& failures) = 0;
};

/// The initial step of Hairer, Norsett & Wanner (Solving ODEs I, II.4), as scipy's
/// select_initial_step, in two halves around its second evaluation: initial_probe gives h0 from
/// x0 and f0 = f(t0, x0) (the second evaluation is at t0 + direction h0, x0 + direction h0 f0),
/// initial_finish the step |dt| > 0 from f1, the derivative there.
struct InitialStep {
  Eigen::VectorXd scale;
  double d1 = 0.0, h0 = 0.0;
};
InitialStep initial_probe(const Eigen::VectorXd& x0, const Eigen::VectorXd& f0, double interval,
                          const AdaptiveTolerances& tol);
double initial_finish(const InitialStep& s, const Eigen::VectorXd& f0, const Eigen::VectorXd& f1,
                      double interval, int order);

/// Integrates every row of z from t0 to t1 (either direction) in place, each as the per-sample
/// controlled stepper of Boost.Odeint would (controlled_runge_kutta with its default error
/// checker and step adjuster, in the same arithmetic, so the results are bitwise those of one
/// row integrated alone), plus the guards of StepControl: the initial step of Hairer, Norsett &
/// Wanner (scipy's select_initial_step, one more evaluation), the last step shortened to land on
/// t1 exactly, a non-finite error estimate or proposal rejected with the step divided by 5, the
/// step-size floor and the step cap (max_steps attempts). Each stage is one call of `rhs` on
/// every row still running (cash-karp54 and fehlberg78 evaluate f at the start of a step after
/// an accepted one: one more call on those rows). Row r is the sample first_sample + r in the
/// errors; the lowest failing row's error is thrown once the rows below it are done. Returns the
/// steps of every row ({0, 0} when t1 == t0). `on_accept`, when given, sees every accepted step
/// (it does not change any result): chunk row, the step's start t and end t_new, and the
/// step the controller had proposed (t_new - t except on the last step, shortened to
/// land on t1): the pilot of the optimised grid reads the step sizes of a solve from it.
/// `dense`, when given, receives every row's accepted steps (t0 and t1 must be its grid's ends):
/// dopri5's own continuous extension, cubic Hermite for the other pairs (the derivative at a
/// step's end is the first stage of the row's next attempt; its last step, with none, as
/// DenseGridOutput::finish_row says), flushed after each round; no result changes.
using AcceptedStepHook = std::function<void(Eigen::Index row, double t, double t_new, double proposed)>;
std::vector<AdaptiveCounts> integrate_rk(RkPair pair, BatchRhs& rhs, MatrixRef z, double t0, double t1,
                                         const AdaptiveTolerances& tol, std::uint64_t first_sample,
                                         const AcceptedStepHook& on_accept = {},
                                         DenseGridOutput* dense = nullptr);

}  // namespace tweedie::detail
