// Exact log-likelihoods through the probability-flow ODE (bits per dimension: data_encoding.hpp).
#pragma once

#include <tweedie/data_encoding.hpp>
#include <tweedie/encode.hpp>
#include <tweedie/model.hpp>
#include <tweedie/parallel.hpp>
#include <tweedie/random.hpp>
#include <tweedie/sde.hpp>
#include <tweedie/types.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>

namespace tweedie {

/// How the divergence of the score enters the log-density ODE.
enum class Divergence {
  exact,       ///< ScoreModel::score_divergence, else the trace of d Jacobian-vector products
  hutchinson,  ///< mean over K fixed probes v of v^T J v (Hutchinson's trace estimator)
};
std::string_view to_string(Divergence d);
Divergence divergence_from_string(std::string_view name);

/// The distribution of Hutchinson probes (both have E[v v^T] = I).
enum class ProbeKind { rademacher, gaussian };
std::string_view to_string(ProbeKind p);
ProbeKind probe_kind_from_string(std::string_view name);

/// The flow options (the result is log p_{t_min}(x); rtol and atol apply to the joint state
/// (x, integral)) and the divergence's.
struct LikelihoodOptions : FlowOptions {
  Divergence divergence = Divergence::exact;
  int probes = 1;  ///< Hutchinson probes per sample (>= 1)
  ProbeKind probe_kind = ProbeKind::rademacher;
  std::uint64_t seed = 0;  ///< probe noise seed (< 2^32)
  int noise_stream = rng_stream_version;  ///< layout version of the probe noise (random.hpp)
  /// log-density of the prior at T for one row; empty = the family's N(0, prior_std^2 I). Called
  /// from the calling thread, once per sample, after the solves.
  std::function<double(const Eigen::Ref<const Eigen::RowVectorXd>&)> prior_log_density;
  void validate() const;  ///< throws InvalidArgument naming the bad field
};

struct LikelihoodResult {
  Vector log_likelihood;  ///< log p(x) per sample, in nats
  Matrix latent;          ///< x at T (the probability-flow encoding)
  Vector nfe;             ///< model evaluations per sample (model rows, see log_likelihood)
  Vector accepted_steps, rejected_steps;
};

/// log p_{t_min}(x) of every row of `data` by the instantaneous change of variables along the
/// probability-flow ODE dx/dt = f(t) x - g(t)^2 s(x, t) / 2, integrated forward from t_min to T
/// with d(delta)/dt = div of the drift = d f(t) - g(t)^2 div s(x, t) / 2 (delta(t_min) = 0):
///   log p_{t_min}(x) = log prior(x_T) + delta(T).
/// Each sample's state (x, delta) of d + 1 values is integrated by `encode`'s controlled dopri5,
/// with its own steps and error control, the model called once per stage on all the chunk's rows
/// still running, so each result is independent of the batch, the chunking and the thread count
/// (bitwise, for a batch-invariant model).
/// Divergence, and the NFE per right-hand side (the score row counts 1, and each JVP row counts
/// like a model row):
///  - `exact`: when has_divergence(), the score and its divergence from one fused call,
///    model.evaluate_with_divergence (a by-product of the score for an analytic model: not
///    counted, NFE 1);
///    otherwise, when has_jvp(), the trace of J over the basis, sum_j e_j^T J e_j, from one
///    batched jvp call of d rows (NFE 1 + d); otherwise InvalidArgument.
///  - `hutchinson`: K probes v_k fixed for the whole solve, drawn from the sample's own stream
///    (PhiloxNoise(seed), NoiseStream::probe, step 0, stage k; Rademacher = sign of the normal),
///    and the mean of v_k^T J v_k: from one jvp call of K rows when has_jvp() (exact products,
///    NFE 1 + K), else from central differences of the score along v_k,
///    (s(x + h v) - s(x - h v)) . v / (2 h) with h = 1e-4 max(1, max_i |x_i|) (NFE 1 + 2K).
/// The model may use any parameterisation: its output is converted to the score (evaluate_as) and
/// its JVP to the score's (score_jvp).
LikelihoodResult log_likelihood(const Sde& sde, const ScoreModel& model, const ConstMatrixRef& data,
                                const LikelihoodOptions& options);

}  // namespace tweedie
