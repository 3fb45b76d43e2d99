// Exact log-likelihoods through the probability-flow ODE (bits per dimension: data_encoding.hpp).
#pragma once

#include <tweedie/data_encoding.hpp>
#include <tweedie/model.hpp>
#include <tweedie/parallel.hpp>
#include <tweedie/sde.hpp>
#include <tweedie/types.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>

namespace tweedie {

/// How the divergence of the score enters the log-density ODE.
enum class Divergence {
  exact,       ///< ScoreModel::score_divergence (the model must provide it)
  hutchinson,  ///< mean over K fixed probes v of v^T J v (Hutchinson's trace estimator)
};
std::string_view to_string(Divergence d);
Divergence divergence_from_string(std::string_view name);

/// The distribution of Hutchinson probes (both have E[v v^T] = I).
enum class ProbeKind { rademacher, gaussian };
std::string_view to_string(ProbeKind p);
ProbeKind probe_kind_from_string(std::string_view name);

struct LikelihoodOptions {
  double t_min = 1e-5;  ///< where the data sits: the result is log p_{t_min}(x)
  double rtol = 1e-5, atol = 1e-5;  ///< dopri5 tolerances on the joint state (x, integral)
  Divergence divergence = Divergence::exact;
  int probes = 1;  ///< Hutchinson probes per sample (>= 1)
  ProbeKind probe_kind = ProbeKind::rademacher;
  std::uint64_t seed = 0;  ///< probe noise seed (< 2^32)
  Execution execution;
  std::size_t max_steps = 100000;  ///< step attempts allowed per sample
  /// log-density of the prior at T for one row; empty = the family's N(0, prior_std^2 I).
  std::function<double(const Eigen::Ref<const Eigen::RowVectorXd>&)> prior_log_density;
  void validate() const;  ///< throws InvalidArgument naming the bad field
};

struct LikelihoodResult {
  Vector log_likelihood;  ///< log p(x) per sample, in nats
  Matrix latent;          ///< x at T (the probability-flow encoding)
  Vector nfe;             ///< model evaluations per sample (score rows, see log_likelihood)
  Vector accepted_steps, rejected_steps;
};

/// log p_{t_min}(x) of every row of `data` by the instantaneous change of variables along the
/// probability-flow ODE dx/dt = f(t) x - g(t)^2 s(x, t) / 2, integrated forward from t_min to T
/// with d(delta)/dt = div of the drift = d f(t) - g(t)^2 div s(x, t) / 2 (delta(t_min) = 0):
///   log p_{t_min}(x) = log prior(x_T) + delta(T).
/// Each sample is integrated alone (state (x, delta) of d + 1 values) by the guarded controlled
/// dopri5 loop of the dopri5 sampler, so each result is independent of the batch, the chunking
/// and the thread count (bitwise).
/// Divergence: `exact` calls model.score_divergence (one score and one divergence evaluation per
/// right-hand side, NFE counts 1); `hutchinson` uses K probes v_k fixed for the whole solve,
/// drawn from the sample's own stream (PhiloxNoise(seed), NoiseStream::probe, step 0, stage k;
/// Rademacher = sign of the normal), and estimates v^T J v by a central finite difference of the
/// score along v, (s(x + h v) - s(x - h v)) . v / (2 h) with h = 1e-4 max(1, max_i |x_i|)
/// (the library's models expose no Jacobian-vector product); NFE counts 1 + 2K per right-hand side.
/// The model may use any parameterisation: its output is converted to the score (evaluate_as).
LikelihoodResult log_likelihood(const Sde& sde, const ScoreModel& model, const ConstMatrixRef& data,
                                const LikelihoodOptions& options);

}  // namespace tweedie
