// Bulirsch-Stoer extrapolation (odeint's bulirsch_stoer: modified midpoint, polynomial
// extrapolation, its own order and step-size control) on all the rows of a chunk at once, each
// row with its own time, step, order and error control: the integrator of the bulirsch-stoer
// sampler.
#pragma once

#include "adaptive_rk.hpp"

namespace tweedie::detail {

/// Integrates every row of z from t0 to t1 (either direction, t1 != t0) in place as the
/// per-sample loop over odeint's bulirsch_stoer::try_step did (a fresh stepper per sample, in
/// its arithmetic, so each row's result is bitwise that of the row integrated alone), under the
/// guards of StepControl: the initial step of initial_probe / initial_finish (for odeint's
/// initial k_opt = 4), the last step shortened to land on t1, a non-finite proposal rejected with
/// the step divided by 5 (odeint's own test `error < 1.0` rejects a NaN error, but then proposes
/// a larger step), the step-size floor and the step cap.
///
/// odeint's controller does not fit StepControl's accept/reject with one error norm: within one
/// attempt it tries extrapolation depths k = 1 .. k_opt + 1 (2(k + 1) more evaluations each),
/// and the depth at which a row converges or gives up, hence its evaluations per attempt, differ
/// from row to row. Each row is therefore a small state machine that always has one evaluation
/// pending (f at the start of an attempt, or the next modified-midpoint stage of its current
/// depth); every round evaluates the pending rows together, one call of `rhs`, and each row then
/// advances to its next evaluation. StepControl keeps the row's time, step, counts and guards.
/// Errors as integrate_rk's (the lowest failing row's, once the rows below it are done).
/// `dense`, when given, receives every row's accepted steps as cubic Hermite (the derivative at
/// a step's end is the evaluation that starts the row's next attempt; its last step, with none,
/// as DenseGridOutput::finish_row says), as integrate_rk's.
std::vector<AdaptiveCounts> integrate_bulirsch_stoer(BatchRhs& rhs, MatrixRef z, double t0, double t1,
                                                     const AdaptiveTolerances& tol, std::uint64_t first_sample,
                                                     DenseGridOutput* dense = nullptr);

}  // namespace tweedie::detail
