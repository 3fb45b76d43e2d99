// Step observers: a callback the sampling driver calls after every step of every sampler, to
// record trajectories or watch a run, without changing any result.
#pragma once

#include <tweedie/types.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>

namespace tweedie {

/// What an observer sees after one step of one chunk. The views are valid during the call only.
///
/// When it is called: once per step that ends on a grid point, at the one point every sampler
/// reaches after a step (`ChunkContext::check_state`, after the state was found finite), so:
///  - fixed-step samplers: after every grid step, `step` = 1, 2, ..., N (N = grid size - 1);
///  - singlestep DPM-Solver (which reads the grid as an NFE budget): after each of its outer steps,
///    `step` = the grid index its outer step ends at (its last is N); on a grid uniform in
///    lambda its outer points are its own, and `t` says where the state is;
///  - adaptive samplers (dopri5, cash-karp54, fehlberg78, bulirsch-stoer, adaptive-sde,
///    dpm-solver-adaptive: their own steps per sample; the grid gives the end points): after
///    every grid point too, `step` = 1, ..., N, t = grid[step], every row of the chunk at that
///    time by dense output, as scipy's solve_ivp(t_eval=...): each row's state interpolated
///    between its own accepted steps, which are unchanged (no model evaluation is added and no
///    step is shortened to land on an interior grid point, so the results are bitwise those of a
///    run without observer). The interpolant is dopri5's own 4th-order continuous extension
///    (scipy's RK45 dense output); cubic Hermite in t from each step's end states and
///    derivatives dx/dt for the other ODE samplers (dpm-solver-adaptive's from the model outputs
///    it makes, in t; the derivative at a step's end is the first evaluation of the row's next
///    attempt), so on a row's last step, which has none, the cubic through the previous
///    accepted state and the step's start (state, derivative) and end states. Cubic
///    interpolation is coarser than the long steps of the higher-order pairs: its error falls
///    more slowly than their tolerance (tests/test_observer.cpp, a 2-d mixture at rtol = atol =
///    1e-8: about 8e-6 for cash-karp54 and 2e-3 for fehlberg78 at interior grid times, against
///    1e-7 and 4e-7 at the end; dopri5's extension 2e-7 against 3e-8). The linear interpolant
///    between accepted states for adaptive-sde (a stochastic path: no derivative means anything there, and the Brownian
///    bridge between its points is not drawn). A grid point a step lands on exactly, the end of
///    the integration (on EDM grid[N-1], before the last step to sigma = 0) among them, gets
///    the state itself. The event of grid point k comes once every row of the chunk has passed
///    t_k (a row that stops early keeps its last state for the points it skipped:
///    dpm-solver-adaptive stops within its t_err of the end); x0 has 0 rows. If a row fails (a
///    non-finite value, the step cap), no further event of its chunk comes: the observer saw
///    the grid points every row had passed before, and the chunk's error reaches the caller;
///  - score_sde's pc without a predictor: after each grid time's corrector steps, at that time
///    (t = grid[step - 1]: its state never leaves grid[N - 1]).
/// The last call of a chunk (step N) sees exactly the rows `sample()` returns, before its
/// optional denoising step (which is not a step of the sampler and is not observed).
struct StepEvent {
  std::size_t step;            ///< steps done: the state is at grid point `step` (1..N)
  double t;                    ///< the time the state is at (grid[step] but for the cases above)
  std::uint64_t first_sample;  ///< global sample index of row 0: row r is sample first_sample + r
  ConstMatrixRef x;            ///< the chunk's rows after the step (the state x_t, unscaled)
  /// The data prediction of the step's first model evaluation (made after the previous step
  /// ended), as the model's x0 = E[x_0 | x] however the sampler consumes it (converted by
  /// Tweedie's formula); 0 rows when the step made none. So:
  ///  - at the step's start state x_{t_i}, at t_i: euler, em, ddim, multistep and singlestep
  ///    DPM-Solver(++), rk4, score_sde's predictors and correctors;
  ///  - at the raised noise level sigma_hat of a churned step: heun, dpm2 (without churn at the
  ///    start state, like euler-ancestral and the DPM++ SDE samplers);
  ///  - unipc: at the step's predicted end state (its corrector's evaluation, at t_{i+1}); its
  ///    last step makes none;
  ///  - none for adaptive samplers (their evaluations are per row, at each row's own times) and
  ///    for the steps onto sigma = 0 of rk4 and the adaptive samplers.
  ConstMatrixRef x0;
};

/// Called from the worker threads, concurrently for different chunks (one chunk's calls come in
/// increasing `step`, from one thread at a time): it must be safe to call so, and what it records
/// should be placed by global sample index (then it does not depend on threads or chunk size).
/// An exception it throws ends the run like a model's (the lowest failing chunk's reaches the
/// caller). An empty function observes nothing and costs nothing.
using StepObserver = std::function<void(const StepEvent&)>;

}  // namespace tweedie
