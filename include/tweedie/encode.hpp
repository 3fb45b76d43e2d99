// Encoding data to latents and decoding latents to data through the probability-flow ODE.
#pragma once

#include <tweedie/model.hpp>
#include <tweedie/parallel.hpp>
#include <tweedie/sde.hpp>
#include <tweedie/types.hpp>

#include <cstddef>
#include <vector>

namespace tweedie {

/// How the probability-flow ODE is integrated between the data at t_min and the latents at T
/// (encode, decode and log_likelihood).
struct FlowOptions {
  double t_min = 1e-5;              ///< the time of the data (> 0, below the family's T)
  double rtol = 1e-5, atol = 1e-5;  ///< dopri5 tolerances (rtol >= 0, atol > 0)
  std::size_t max_steps = 100000;   ///< step attempts (accepted + rejected) allowed per sample
  Execution execution;
  /// Global index of the first row: row i is sample first_sample + i, which keys its noise (the
  /// likelihood's Hutchinson probes) and names it in errors, so a job split into parts (or
  /// processes) gives the results of one call.
  std::uint64_t first_sample = 0;
  /// Class labels of a conditional model, one per row; empty: unconditional (the null class).
  std::vector<int> labels;
  void validate() const;  ///< throws InvalidArgument naming the bad field
};

/// The end states of a flow and what they cost.
struct FlowResult {
  Matrix x;    ///< one row per sample: the latents (encode) or the data (decode)
  Vector nfe;  ///< model evaluations (score rows) per sample
  Vector accepted_steps, rejected_steps;
};

/// The latents x(T) of every row of `data` taken as x(t_min): the probability-flow ODE
/// dx/dt = f(t) x - g(t)^2 s(x, t) / 2 integrated forward from t_min to T by the dopri5 sampler's
/// controlled integration (src/adaptive_rk: each sample keeps its own step size and error control,
/// and each stage calls the model once on all the chunk's rows still running; the same
/// integration as log_likelihood, whose latents these are up to the solver tolerance:
/// log_likelihood controls the error of the log-density too, so it takes other steps). Each
/// result is bitwise independent of the batch, the chunking and the thread count for a
/// batch-invariant model. The model may use any parameterisation.
/// Throws InvalidArgument on bad options or data (wrong dimension, non-finite values), and
/// NonFiniteError naming the sample, the step and t if the model's output is not finite.
FlowResult encode(const Sde& sde, const ScoreModel& model, const ConstMatrixRef& data,
                  const FlowOptions& options);

/// The data x(t_min) of every row of `latent` taken as x(T): the same ODE integrated backward
/// from T to t_min. The inverse of `encode` up to the solver tolerance.
FlowResult decode(const Sde& sde, const ScoreModel& model, const ConstMatrixRef& latent,
                  const FlowOptions& options);

/// decode(encode(data)) and how far it lands from the data.
struct RoundTrip {
  FlowResult encoded, decoded;
  double max_abs_error = 0.0;  ///< max over samples and components of |decoded - data|
  double rms_error = 0.0;      ///< root mean square of decoded - data over all components
};
RoundTrip round_trip(const Sde& sde, const ScoreModel& model, const ConstMatrixRef& data,
                     const FlowOptions& options);

}  // namespace tweedie
