// score_sde's samplers (Song et al. 2021, yang-song/score_sde_pytorch sampling.py): the
// reverse-diffusion and ancestral predictors, the Langevin and annealed-Langevin correctors, and
// the predictor-corrector loop that runs them. One kernel (PredictorCorrector) serves the three
// registered samplers: "reverse-diffusion" and "ancestral" are PC with no corrector, as score_sde's
// predictor-only samplers are PC with its NoneCorrector.
#pragma once

#include "common.hpp"

#include <tweedie/sampler.hpp>

#include <string>
#include <string_view>

namespace tweedie::solvers {

/// How score_sde discretises a family's forward SDE over one step, x_{i+1} = x_i + f_i(x_i) + G_i z_i,
/// for the reverse-diffusion and ancestral predictors. score_sde indexes precomputed discrete
/// betas / sigmas by floor(t (N - 1) / T) on its uniform N-point grid; tweedie takes any grid, so
/// the coefficients of the step from t_i down to t_{i+1} are derived from that interval exactly:
///   ddpm  (alpha^2 + sigma^2 = 1: vp, cosine):  beta_i = 1 - alpha(t_i)^2 / alpha(t_{i+1})^2,
///         the variance of the forward transition t_{i+1} -> t_i (VPSDE.discretize; for the
///         cosine schedule these are iDDPM's betas 1 - abar(t) / abar(t - 1));
///   smld  (alpha = 1: ve, edm):  G_i^2 = sigma(t_i)^2 - sigma(t_{i+1})^2 (VESDE.discretize);
///   euler_maruyama (every other family: subvp):  f_i = f(t_i) x dt, G_i = g(t_i) sqrt(dt),
///         dt = t_i - t_{i+1} (score_sde's base SDE.discretize, which its subVPSDE inherits).
/// On score_sde's uniform 1000-step grid beta_i and G_i^2 agree with its discrete tables to first
/// order (tests/test_score_sde.cpp measures the difference).
enum class Discretisation { ddpm, smld, euler_maruyama };
/// The discretisation of a family, chosen by its name (vp, cosine, ve, edm; else Euler-Maruyama).
Discretisation discretisation_of(const Sde& sde);

/// One step that is affine in the state, the score at the start and a standard normal:
///   x_next = a x + b score(x, t_i) + c z.
struct AffineStep {
  double a, b, c;
};

/// DDPM's beta of the step from `from` down to `to`: 1 - (alpha_from / alpha_to)^2 (via expm1).
double ddpm_beta(const SchedulePoint& from, const SchedulePoint& to);
/// SMLD's G^2 of the step from `from` down to `to`: sigma_from^2 - sigma_to^2.
double smld_variance(const SchedulePoint& from, const SchedulePoint& to);

/// ReverseDiffusionPredictor (x_mean = x - rev_f, x = x_mean + rev_G z) for a ddpm or smld family:
///   ddpm: x_mean = (2 - sqrt(1 - beta)) x + beta s,  noise sqrt(beta) z;
///   smld: x_mean = x + G^2 s,                        noise G z.
/// (Euler-Maruyama families take the EM update of ReverseDynamics instead.)
AffineStep reverse_diffusion_step(Discretisation d, const SchedulePoint& from,
                                  const SchedulePoint& to);
/// AncestralSamplingPredictor, for a ddpm or smld family:
///   ddpm: x_mean = (x + beta s) / sqrt(1 - beta),  noise sqrt(beta) z;
///   smld: x_mean = x + G^2 s,  noise sqrt(sigma_to^2 G^2 / sigma_from^2) z  (none onto
///         sigma_to = 0, where the step returns Tweedie's x0 exactly).
AffineStep ancestral_step(Discretisation d, const SchedulePoint& from, const SchedulePoint& to);
/// The factor `alpha` of the Langevin step size at t_i (score_sde's `alphas[timestep]` = 1 - beta):
/// (alpha(t_i) / alpha(t_{i+1}))^2, that is 1 - beta_i for the VP-type families and exactly 1 when
/// alpha = 1 (ve, edm). sub-VP takes VP's value (its mean is VP's; score_sde's LangevinCorrector
/// reads `sde.alphas`, which its subVPSDE does not define).
double langevin_alpha(const SchedulePoint& from, const SchedulePoint& to);

enum class Predictor { euler_maruyama, reverse_diffusion, ancestral, none };
enum class Corrector { langevin, ald, none };
std::string_view to_string(Predictor p);
std::string_view to_string(Corrector c);

/// The corrector and its parameters.
struct CorrectorOptions {
  /// ald by default: score_sde defaults to langevin, whose batch-mean norms tweedie cannot use
  /// without coupling the samples of a chunk (see correct() below).
  Corrector kind = Corrector::ald;
  double snr = 0.16;  ///< score_sde's CIFAR-10 configs
  int steps = 1;      ///< corrector steps per grid time (score_sde's n_steps_each)
};

/// Runs `options.steps` corrector steps at time `at.t`, grid index `step`, in place:
///   langevin: e_b = 2 alpha (snr ||z_b|| / ||s_b||)^2   for each sample b, with its own norms;
///   ald:      e   = 2 alpha (snr sigma(t))^2;
///   x_b <- x_b + e_b s_b + sqrt(2 e_b) z_b,
/// with s = score(x, t) (one NFE per row and corrector step) and z the normals of stream
/// `corrector` at (step, stage j) for corrector step j. A sample whose score is exactly 0 is left
/// in place (its Langevin step size would be infinite). `score` and `z` are scratch of x's shape.
/// score_sde averages the two norms over the batch; tweedie cannot (results must not depend on the
/// chunk), and the per-sample step depends on the state: on N(m, v I) in dimension d the
/// stationary variance is about v (1 + 2/d)^2 (1 + alpha snr^2) instead of v / (1 - alpha snr^2),
/// whatever the snr, and infinite for d <= 2 (a sample near the mode is thrown to ~1/|x - m|).
/// In low dimension use ald, whose step does not depend on the state.
void correct(const CorrectorOptions& options, double alpha, const SchedulePoint& at,
             std::size_t step, ChunkContext& ctx, MatrixRef x, MatrixRef score, MatrixRef z);

/// One predictor step from `from` = grid[step] to `to` = grid[step + 1] in place (one NFE per row
/// unless none), with the normals of stream `diffusion` at (step, stage 0). `score` and `z` are
/// scratch; the caller checks the new state (ChunkContext::check_state) before `score` changes. Throws InvalidArgument for the ancestral predictor on a family it does not support.
void predictor_step(Predictor kind, Discretisation d, const SchedulePoint& from,
                    const SchedulePoint& to, std::size_t step, ChunkContext& ctx, MatrixRef x,
                    MatrixRef score, MatrixRef z);

/// score_sde's get_pc_sampler on tweedie's grid: at each grid time t_i, i = 0 .. N-1, the corrector
/// runs first, then the predictor moves the state from t_i to t_{i+1} (the order of score_sde's
/// code, not of Algorithm 1 of the paper: the final sample at t_N is not corrected, score_sde #50).
/// NFE per sample = N ((predictor != none) + corrector steps).
class PredictorCorrector final : public Sampler {
 public:
  PredictorCorrector(const std::string& name, Predictor predictor, CorrectorOptions corrector);
  const SamplerTraits& traits() const override { return traits_; }
  void run(ChunkContext& ctx, MatrixRef x) const override;
  std::size_t nfe(std::size_t steps) const override;

 private:
  Predictor predictor_;
  CorrectorOptions corrector_;
  SamplerTraits traits_;
};

}  // namespace tweedie::solvers
