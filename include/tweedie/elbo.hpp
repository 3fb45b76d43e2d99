// The variational bound (ELBO) of a diffusion model, in continuous time (VDM) and for a
// discrete-time model of N steps (DDPM).
#pragma once

#include <tweedie/grid.hpp>
#include <tweedie/model.hpp>
#include <tweedie/parallel.hpp>
#include <tweedie/random.hpp>
#include <tweedie/sde.hpp>
#include <tweedie/types.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tweedie {

/// The proposal over time of the Monte Carlo estimate of the diffusion term.
enum class ElboTimeSampling {
  time_uniform,  ///< t uniform on [t_min, T]
  log_snr,       ///< log-SNR uniform on [log SNR(T), log SNR(t_min)] (importance sampling)
};
std::string_view to_string(ElboTimeSampling s);
ElboTimeSampling elbo_time_sampling_from_string(std::string_view name);

struct ElboOptions {
  double t_min = 1e-5;  ///< time of the first latent z_{t_min}, where the decoder reads x
  /// Discrete-time bound of a model with `steps` transitions on a grid from t_min to T; 0 = the
  /// continuous-time bound (the limit of infinitely many steps).
  int steps = 0;
  GridSpacing spacing = GridSpacing::time_uniform;  ///< grid of the discrete bound
  ElboTimeSampling time_sampling = ElboTimeSampling::log_snr;
  int draws = 1024;  ///< Monte Carlo draws (t, eps) per sample: even, >= 2
  std::uint64_t seed = 0;  ///< < 2^32
  int noise_stream = rng_stream_version;  ///< layout version of the noise (random.hpp)
  Execution execution;
  /// Global index of the first row: row i is sample first_sample + i, which keys its draws and
  /// names it in errors (a job split into parts gives the results of one call; the draw times
  /// are shared by all samples).
  std::uint64_t first_sample = 0;
  /// Class labels of a conditional model, one per row (the bound of p(x | y)); empty: unconditional.
  std::vector<int> labels;
  void validate() const;  ///< throws InvalidArgument naming the bad field
};

/// The bound's settings by name, as the CLI's flags (--t-min, --steps, --spacing, --time-sampling,
/// --draws) and the Python module's keywords give them, with ElboOptions's defaults.
struct ElboSettings {
  double t_min = ElboOptions{}.t_min;
  int steps = ElboOptions{}.steps;
  std::string spacing = std::string(to_string(ElboOptions{}.spacing));              ///< a GridSpacing's name
  std::string time_sampling = std::string(to_string(ElboOptions{}.time_sampling));  ///< an ElboTimeSampling's
  int draws = ElboOptions{}.draws;
  /// ElboOptions with these settings and the run's noise, execution and labels (first_sample 0).
  /// Throws InvalidArgument on an unknown spacing or time-sampling name.
  ElboOptions options(std::uint64_t seed, int noise_stream, Execution execution, std::vector<int> labels) const;
};

/// The bound of each sample and its three terms, in nats:
///   elbo = reconstruction - prior_kl - diffusion <= log p(x).
struct ElboResult {
  Vector elbo;
  Vector standard_error;  ///< Monte Carlo standard error of elbo (the diffusion term's)
  Vector reconstruction;  ///< E_q log p(x | z_{t_min}), closed form
  Vector prior_kl;        ///< KL(q(z_T | x) || N(0, prior_std^2 I)), closed form
  Vector diffusion;       ///< the denoising terms, Monte Carlo estimate
  double nfe = 0.0;       ///< model evaluations per sample (= draws)
};

/// The evidence lower bound of every row x of `data` (data at t = 0), with latents
/// z_t = alpha(t) x + sigma(t) eps on [t_min, T] (Kingma et al. 2021, "Variational Diffusion
/// Models", eq. 11-17; docs/math.md derives what follows):
///  - reconstruction: the Gaussian decoder p(x | z) = N(x; z / alpha, (sigma / alpha)^2 I) at
///    t_min, whose expectation is closed-form: d (lambda(t_min) - (1 + ln 2 pi) / 2);
///  - prior_kl: KL(N(alpha_T x, sigma_T^2 I) || N(0, prior_std^2 I)), closed form;
///  - diffusion, continuous time (steps = 0): -1/2 int SNR'(t) E ||x - x0_hat(z_t, t)||^2 dt
///    = 1/2 int_{gamma_T}^{gamma_min} E ||eps - eps_hat(z_gamma)||^2 dgamma (gamma = log-SNR);
///    discrete time, on the grid t_0 = t_min < ... < t_N = T of `spacing`:
///    sum_i 1/2 (SNR(t_{i-1}) - SNR(t_i)) E ||x - x0_hat(z_{t_i}, t_i)||^2
///    = sum_i 1/2 expm1(gamma_{i-1} - gamma_i) E ||eps - eps_hat(z_{t_i}, t_i)||^2, the bound of
///    the model whose reverse steps are the posteriors q(z_{t_{i-1}} | z_{t_i}, x = x0_hat).
///    A DDPM of N timesteps (latents at t = k T / N, k = 1..N, decoder on the first) is
///    steps = N - 1, t_min = T / N, time_uniform (its marginals are this family's at those
///    times: for VP, exp(-int beta) in place of DDPM's prod (1 - beta_k)).
/// The diffusion term is estimated by `draws` draws per sample: u stratified (draw j uniform in
/// [j, j + 1) / draws), mapped to t by the proposal (uniform in t, or in log-SNR, which makes
/// the integrand nearly flat where the data look locally Gaussian), in discrete time rounded
/// up to the grid step that contains it and weighted by that step's share of the proposal;
/// eps ~ N(0, I). Each draw's term ||eps - eps_hat||^2 carries the control variate
/// -c (||eps||^2 - d), mean zero, with c = (1 - a)^2 and a the share of eps the model predicted
/// (eps . eps_hat / d) averaged over the sample's earlier draws: c does not depend on the current
/// eps, so the estimate stays unbiased, and where the model cannot tell noise from data (high
/// SNR) it removes the chi-square fluctuation of ||eps||^2 (measured: standard errors 2x smaller
/// at d = 2, 3.4x at d = 16). The standard error pairs neighbouring strata: calibrated for the log-SNR
/// proposal (measured: within 1% of the spread over seeds, tests/test_elbo.cpp); with the
/// time-uniform proposal the weight g^2 / (2 sigma^2) ~ 1 / (2 t) of VP near t_min makes the
/// first stratum heavy-tailed, and the estimate and its error are dominated by rare draws (the
/// z-scores over 200 seeds spread 2.1 at t_min = 1e-3): prefer log_snr. The times are shared by all samples (draw j's u is
/// stage 0 of sample 0 at step j of NoiseStream::elbo), so that each model call evaluates a
/// whole chunk at one time; each sample's eps is its own (its stream, step j, stage 1). Every
/// sample's estimate is therefore unbiased with its own error, and results are bitwise
/// independent of threads and chunks; the bounds of different samples share the (small, with
/// stratification) error of the time draws.
/// The model may use any parameterisation (converted to eps); a non-finite output throws
/// NonFiniteError naming the sample, the draw and t.
ElboResult elbo(const Sde& sde, const ScoreModel& model, const ConstMatrixRef& data,
                const ElboOptions& options);

}  // namespace tweedie
