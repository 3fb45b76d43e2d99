#include "score_sde.hpp"

#include <tweedie/reverse.hpp>

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <stdexcept>

namespace tweedie::solvers {
namespace {

// log(alpha_from / alpha_to) <= 0: the log-mean decrement of the forward transition to -> from.
double log_alpha_ratio(const SchedulePoint& from, const SchedulePoint& to) {
  return std::log(from.alpha) - std::log(to.alpha);
}

// Squared Euclidean norm of one row, summed left to right: a fixed order whatever the row's
// alignment in its chunk (a vectorised reduction would depend on it), so that the Langevin step
// size of a sample does not depend on the chunk it runs in.
double row_squared_norm(const ConstMatrixRef& m, Eigen::Index row) {
  double s = 0.0;
  for (Eigen::Index j = 0; j < m.cols(); ++j) s += m(row, j) * m(row, j);
  return s;
}

// score_sde's AncestralSamplingPredictor raises NotImplementedError for sub-VP; so do we, for
// every family without a DDPM or SMLD discretisation.
void require_supported(Predictor kind, Discretisation d, const Sde& sde) {
  if (kind == Predictor::ancestral && d == Discretisation::euler_maruyama) {
    throw InvalidArgument(fmt::format(
        "the ancestral predictor does not support the {} family (only vp, cosine, ve and edm)",
        sde.name()));
  }
}

[[noreturn]] void no_affine_step(const char* what) {
  throw std::logic_error(
      fmt::format("{}: the Euler-Maruyama discretisation has no affine step", what));
}

}  // namespace

Discretisation discretisation_of(const Sde& sde) {
  const std::string_view name = sde.name();
  if (name == "vp" || name == "cosine") return Discretisation::ddpm;
  if (name == "ve" || name == "edm") return Discretisation::smld;
  return Discretisation::euler_maruyama;
}

double ddpm_beta(const SchedulePoint& from, const SchedulePoint& to) {
  return -std::expm1(2.0 * log_alpha_ratio(from, to));
}

double smld_variance(const SchedulePoint& from, const SchedulePoint& to) {
  return (from.sigma - to.sigma) * (from.sigma + to.sigma);
}

AffineStep reverse_diffusion_step(Discretisation d, const SchedulePoint& from,
                                  const SchedulePoint& to) {
  switch (d) {
    case Discretisation::ddpm: {
      // 2 - sqrt(1 - beta) = 1 + (1 - alpha_from / alpha_to), written without cancellation.
      const double dl = log_alpha_ratio(from, to);
      const double beta = -std::expm1(2.0 * dl);
      return {1.0 - std::expm1(dl), beta, std::sqrt(beta)};
    }
    case Discretisation::smld: {
      const double g2 = smld_variance(from, to);
      return {1.0, g2, std::sqrt(g2)};
    }
    case Discretisation::euler_maruyama: break;
  }
  no_affine_step("reverse_diffusion_step");
}

AffineStep ancestral_step(Discretisation d, const SchedulePoint& from, const SchedulePoint& to) {
  switch (d) {
    case Discretisation::ddpm: {
      const double dl = log_alpha_ratio(from, to);
      const double beta = -std::expm1(2.0 * dl);
      const double inv_sqrt_alpha = std::exp(-dl);  // 1 / sqrt(1 - beta)
      return {inv_sqrt_alpha, beta * inv_sqrt_alpha, std::sqrt(beta)};
    }
    case Discretisation::smld: {
      const double g2 = smld_variance(from, to);
      // sqrt(sigma_to^2 G^2 / sigma_from^2): exactly 0 onto sigma_to = 0 (EDM's t = 0).
      return {1.0, g2, (to.sigma / from.sigma) * std::sqrt(g2)};
    }
    case Discretisation::euler_maruyama: break;
  }
  no_affine_step("ancestral_step");
}

double langevin_alpha(const SchedulePoint& from, const SchedulePoint& to) {
  return std::exp(2.0 * log_alpha_ratio(from, to));
}

std::string_view to_string(Predictor p) {
  switch (p) {
    case Predictor::euler_maruyama: return "em";
    case Predictor::reverse_diffusion: return "reverse-diffusion";
    case Predictor::ancestral: return "ancestral";
    case Predictor::none: return "none";
  }
  return "?";
}

std::string_view to_string(Corrector c) {
  switch (c) {
    case Corrector::langevin: return "langevin";
    case Corrector::ald: return "ald";
    case Corrector::none: return "none";
  }
  return "?";
}

void correct(const CorrectorOptions& options, double alpha, const SchedulePoint& at,
             std::size_t step, ChunkContext& ctx, MatrixRef x, MatrixRef score, MatrixRef z) {
  if (options.kind == Corrector::none) return;
  const double snr2 = options.snr * options.snr;
  // AnnealedLangevinDynamics: one step size for every sample, from the marginal std at t.
  const double ald_step = 2.0 * alpha * snr2 * at.sigma * at.sigma;
  for (int j = 0; j < options.steps; ++j) {
    ctx.predict(Prediction::score, at.t, x, score, step);
    ctx.noise(step, static_cast<std::uint32_t>(j), NoiseStream::corrector, z);
    for (Eigen::Index b = 0; b < x.rows(); ++b) {
      double e = ald_step;
      if (options.kind == Corrector::langevin) {
        // LangevinCorrector with each sample's own norms (score_sde averages them over the batch).
        const double grad2 = row_squared_norm(score, b);
        if (grad2 == 0.0) continue;  // a stationary point of log p_t: the step would be infinite
        e = 2.0 * alpha * snr2 * row_squared_norm(z, b) / grad2;
      }
      x.row(b) += e * score.row(b) + std::sqrt(2.0 * e) * z.row(b);
    }
    ctx.check_substep(x, step, at.t);  // inside the grid step: its end is run's check_state
  }
}

void predictor_step(Predictor kind, Discretisation d, const SchedulePoint& from,
                    const SchedulePoint& to, std::size_t step, ChunkContext& ctx, MatrixRef x,
                    MatrixRef score, MatrixRef z) {
  if (kind == Predictor::none) return;
  require_supported(kind, d, ctx.sde());
  ctx.predict_for_step(Prediction::score, from.t, x, score, step);  // run checks the new state
  if (kind == Predictor::euler_maruyama ||
      (kind == Predictor::reverse_diffusion && d == Discretisation::euler_maruyama)) {
    // EulerMaruyamaPredictor, and ReverseDiffusionPredictor on SDE.discretize's EM step: the
    // update of the em sampler (same arithmetic, same noise), through ReverseDynamics.
    const double dt = to.t - from.t;
    ctx.noise(step, 0, NoiseStream::diffusion, z);
    ReverseDynamics::reverse_sde(ctx.sde()).euler_maruyama_step(from.t, dt, score, z, x);
    return;
  }
  const AffineStep c = kind == Predictor::ancestral ? ancestral_step(d, from, to)
                                                    : reverse_diffusion_step(d, from, to);
  if (c.c == 0.0) {  // the ancestral step onto sigma = 0 adds no noise
    x = c.a * x + c.b * score;
    return;
  }
  ctx.noise(step, 0, NoiseStream::diffusion, z);
  x = c.a * x + c.b * score + c.c * z;
}

namespace {

SamplerTraits pc_traits(const std::string& name, Predictor predictor,
                        const CorrectorOptions& corrector) {
  SamplerTraits t;
  t.name = name;
  if (name == "reverse-diffusion") {
    t.summary =
        "score_sde's reverse-diffusion predictor (DDPM steps on vp/cosine, SMLD on ve/edm, EM "
        "otherwise)";
  } else if (name == "ancestral") {
    t.summary = "score_sde's ancestral sampling (DDPM posterior on vp/cosine, SMLD on ve/edm)";
  } else {
    t.summary = fmt::format("score_sde's predictor-corrector ({} corrector, then {} predictor)",
                            to_string(corrector.kind), to_string(predictor));
  }
  // Weak order 1 with a predictor; a corrector alone does not converge to p_{t_N} as N grows.
  t.order = predictor == Predictor::none ? 0 : 1;
  t.nfe_per_step = (predictor == Predictor::none ? 0 : 1) +
                   (corrector.kind == Corrector::none ? 0 : corrector.steps);
  t.stochastic = true;
  t.consumes = Prediction::score;
  return t;
}

}  // namespace

PredictorCorrector::PredictorCorrector(const std::string& name, Predictor predictor,
                                       CorrectorOptions corrector)
    : predictor_(predictor), corrector_(corrector), traits_(pc_traits(name, predictor, corrector)) {}

std::size_t PredictorCorrector::nfe(std::size_t steps) const {
  return steps * static_cast<std::size_t>(traits_.nfe_per_step);
}

void PredictorCorrector::run(ChunkContext& ctx, MatrixRef x) const {
  const Sde& sde = ctx.sde();
  const auto grid = ctx.grid();
  const Discretisation d = discretisation_of(sde);
  require_supported(predictor_, d, sde);  // before any model evaluation
  Matrix score(x.rows(), x.cols());
  Matrix z(x.rows(), x.cols());
  SchedulePoint from = schedule_point(sde, grid[0]);
  for (std::size_t i = 0; i + 1 < grid.size(); ++i) {
    const SchedulePoint to = schedule_point(sde, grid[i + 1]);
    // score_sde's pc_sampler: corrector_update_fn, then predictor_update_fn, at the same t_i.
    correct(corrector_, langevin_alpha(from, to), from, i, ctx, x, score, z);
    if (predictor_ != Predictor::none) {
      predictor_step(predictor_, d, from, to, i, ctx, x, score, z);
      ctx.check_state(x, i, to.t);
    } else {
      ctx.check_state(x, i, from.t);  // the step's end: its corrector steps at t_i
    }
    from = to;
  }
}

}  // namespace tweedie::solvers

namespace tweedie::detail {
namespace {

using solvers::Corrector;
using solvers::CorrectorOptions;
using solvers::Predictor;
using solvers::PredictorCorrector;

Predictor predictor_from(const std::string& name) {
  for (Predictor p : {Predictor::euler_maruyama, Predictor::reverse_diffusion, Predictor::ancestral, Predictor::none}) {
    if (name == solvers::to_string(p)) return p;
  }
  throw std::logic_error("undeclared predictor " + name);  // the declaration allows only these
}

Corrector corrector_from(const std::string& name) {
  for (Corrector c : {Corrector::langevin, Corrector::ald, Corrector::none}) {
    if (name == solvers::to_string(c)) return c;
  }
  throw std::logic_error("undeclared corrector " + name);
}

std::vector<OptionSpec> pc_options() {
  const CorrectorOptions defaults;
  return {OptionSpec::choice("predictor", {"reverse-diffusion", "em", "ancestral", "none"}, "the predictor"),
          OptionSpec::choice("corrector", {"ald", "langevin", "none"},
                             "the corrector (ald: annealed Langevin dynamics; langevin: score_sde's, high dimension only)"),
          OptionSpec::real("snr", fmt::format("{:g}", defaults.snr), 0.0, std::numeric_limits<double>::infinity(),
                           "the corrector's signal-to-noise ratio", true),
          OptionSpec::integer("corrector_steps", defaults.steps, 0, 1000000, "corrector steps per grid time")};
}

std::unique_ptr<Sampler> make_pc(const OptionValues& o) {
  const Predictor predictor = predictor_from(o.text("predictor"));
  CorrectorOptions corrector;
  corrector.kind = corrector_from(o.text("corrector"));
  corrector.snr = o.number("snr");
  corrector.steps = o.integer("corrector_steps");
  if (corrector.kind == Corrector::none) {
    for (const char* name : {"snr", "corrector_steps"}) {
      if (o.given(name)) {
        throw InvalidArgument(
            fmt::format("option {} of sampler pc has no effect with option corrector = none", name));
      }
    }
  }
  if (predictor == Predictor::none && (corrector.kind == Corrector::none || corrector.steps == 0)) {
    throw InvalidArgument(
        "sampler pc with option predictor = none needs a corrector that takes at least one step (nothing to do)");
  }
  return std::make_unique<PredictorCorrector>("pc", predictor, corrector);
}

}  // namespace

void register_score_sde() {
  const CorrectorOptions no_corrector{Corrector::none, 0.16, 0};
  for (Predictor p : {Predictor::reverse_diffusion, Predictor::ancestral}) {
    const std::string name(solvers::to_string(p));
    register_sampler({}, GridSpacing::time_uniform, [name, p, no_corrector](const OptionValues&) {
      return std::make_unique<PredictorCorrector>(name, p, no_corrector);
    });
  }
  // score_sde's samplers step uniformly in t (linspace(T, eps, N)).
  register_sampler(pc_options(), GridSpacing::time_uniform, make_pc);
}

}  // namespace tweedie::detail
