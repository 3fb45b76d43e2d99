// Exact log-likelihoods through the probability-flow ODE (instantaneous change of variables).
#include <tweedie/likelihood.hpp>
#include <tweedie/random.hpp>

#include "odeint.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <vector>

namespace tweedie {

std::string_view to_string(Divergence d) {
  switch (d) {
    case Divergence::exact: return "exact";
    case Divergence::hutchinson: return "hutchinson";
  }
  return "?";
}

Divergence divergence_from_string(std::string_view name) {
  for (auto d : {Divergence::exact, Divergence::hutchinson}) {
    if (name == to_string(d)) return d;
  }
  throw InvalidArgument(fmt::format("unknown divergence '{}' (expected exact or hutchinson)", name));
}

std::string_view to_string(ProbeKind p) {
  switch (p) {
    case ProbeKind::rademacher: return "rademacher";
    case ProbeKind::gaussian: return "gaussian";
  }
  return "?";
}

ProbeKind probe_kind_from_string(std::string_view name) {
  for (auto p : {ProbeKind::rademacher, ProbeKind::gaussian}) {
    if (name == to_string(p)) return p;
  }
  throw InvalidArgument(fmt::format("unknown probe kind '{}' (expected rademacher or gaussian)", name));
}

void LikelihoodOptions::validate() const {
  if (!(std::isfinite(t_min) && t_min > 0.0)) {
    throw InvalidArgument(fmt::format("t_min must be > 0, got {}", t_min));
  }
  if (!(rtol >= 0.0) || !std::isfinite(rtol)) throw InvalidArgument(fmt::format("rtol must be >= 0, got {}", rtol));
  // atol > 0: with atol = 0 a component that is 0 makes the error ratio 0/0.
  if (!(atol > 0.0) || !std::isfinite(atol)) throw InvalidArgument(fmt::format("atol must be > 0, got {}", atol));
  if (probes < 1) throw InvalidArgument(fmt::format("probes must be >= 1, got {}", probes));
  if (seed > max_seed) throw InvalidArgument(fmt::format("seed must be < 2^32, got {}", seed));
  if (max_steps < 1) throw InvalidArgument("max_steps must be >= 1");
  execution.validate();
}

namespace {

/// The probes of one sample: K x d, row k drawn at (sample, step 0, stage k, NoiseStream::probe).
Matrix draw_probes(const PhiloxNoise& noise, std::uint64_t sample, int probes, Eigen::Index dim,
                   ProbeKind kind) {
  Matrix v(probes, dim);
  for (int k = 0; k < probes; ++k) {
    noise.normal(sample, 0, static_cast<std::uint32_t>(k), NoiseStream::probe, v.row(k));
  }
  if (kind == ProbeKind::rademacher) v = v.unaryExpr([](double z) { return z < 0.0 ? -1.0 : 1.0; });
  return v;
}

/// The right-hand side of the joint ODE of one sample: z = (x, delta), dx/dt = f x - g^2 s / 2,
/// d(delta)/dt = d f - g^2 div s / 2. Counts model evaluations (score rows) in `nfe`.
class JointSystem {
 public:
  JointSystem(const Sde& sde, const ScoreModel& model, const LikelihoodOptions& options, Matrix probes)
      : sde_(sde), model_(model), exact_(options.divergence == Divergence::exact),
        probes_(std::move(probes)) {}

  void operator()(const Eigen::VectorXd& z, Eigen::VectorXd& dzdt, double t) {
    const Eigen::Index d = z.size() - 1;
    const Eigen::Map<const Matrix> x(z.data(), 1, d);
    double div = 0.0;
    if (exact_) {
      time_.setConstant(1, t);
      batch_.resize(1, d);
      evaluate_as(model_, sde_, Prediction::score, time_, x, batch_);
      Vector out(1);
      model_.score_divergence(time_, x, out);
      div = out(0);
      nfe += 1;
    } else {
      // Central differences of the score along each probe, all in one batched call:
      // rows 0 = x, 1 + 2k = x + h v_k, 2 + 2k = x - h v_k.
      const Eigen::Index k = probes_.rows();
      const double h = 1e-4 * std::max(1.0, x.cwiseAbs().maxCoeff());
      Matrix points(1 + 2 * k, d);
      points.row(0) = x;
      for (Eigen::Index j = 0; j < k; ++j) {
        points.row(1 + 2 * j) = x + h * probes_.row(j);
        points.row(2 + 2 * j) = x - h * probes_.row(j);
      }
      time_.setConstant(1 + 2 * k, t);
      batch_.resize(1 + 2 * k, d);
      evaluate_as(model_, sde_, Prediction::score, time_, points, batch_);
      for (Eigen::Index j = 0; j < k; ++j) {
        div += (batch_.row(1 + 2 * j) - batch_.row(2 + 2 * j)).dot(probes_.row(j)) / (2.0 * h);
      }
      div /= static_cast<double>(k);
      nfe += static_cast<double>(1 + 2 * k);
    }
    const double f = sde_.f(t), g2 = sde_.g2(t);
    dzdt.resize(z.size());
    dzdt.head(d) = f * x.row(0).transpose() - (0.5 * g2) * batch_.row(0).transpose();
    dzdt(d) = static_cast<double>(d) * f - 0.5 * g2 * div;
  }

  double nfe = 0.0;

 private:
  const Sde& sde_;
  const ScoreModel& model_;
  bool exact_;
  Matrix probes_;
  Vector time_;
  Matrix batch_;
};

}  // namespace

LikelihoodResult log_likelihood(const Sde& sde, const ScoreModel& model, const ConstMatrixRef& data,
                                const LikelihoodOptions& options) {
  options.validate();
  const double t_end = sde.T();
  if (!(options.t_min < t_end)) {
    throw InvalidArgument(fmt::format("t_min = {} must be below T = {} of the {} family",
                                      options.t_min, t_end, sde.name()));
  }
  const Eigen::Index n = data.rows(), d = data.cols();
  if (d < 1) throw InvalidArgument("the data have no columns");
  if (model.dim() != 0 && model.dim() != d) {
    throw InvalidArgument(fmt::format("the data have dimension {} but the model {}", d, model.dim()));
  }
  if (static_cast<std::uint64_t>(n) > max_samples) {
    throw InvalidArgument(fmt::format("at most {} samples, got {}", max_samples, n));
  }
  if (!data.allFinite()) throw InvalidArgument("the data contain non-finite values");
  if (options.divergence == Divergence::exact && !model.has_divergence()) {
    throw InvalidArgument("this model provides no divergence (use the hutchinson divergence)");
  }

  LikelihoodResult r;
  r.log_likelihood.resize(n);
  r.latent.resize(n, d);
  r.nfe.resize(n);
  r.accepted_steps.resize(n);
  r.rejected_steps.resize(n);
  const PhiloxNoise noise(options.seed);
  solvers::AdaptiveTolerances tol;
  tol.rtol = options.rtol;
  tol.atol = options.atol;
  tol.max_steps = options.max_steps;

  for_each_chunk(static_cast<std::size_t>(n), options.execution, [&](std::size_t begin, std::size_t end) {
    Eigen::VectorXd z(d + 1);
    for (std::size_t s = begin; s < end; ++s) {
      const auto i = static_cast<Eigen::Index>(s);
      Matrix probes;
      if (options.divergence == Divergence::hutchinson) {
        probes = draw_probes(noise, s, options.probes, d, options.probe_kind);
      }
      JointSystem system(sde, model, options, std::move(probes));
      const solvers::OdeFunction rhs = [&system](const Eigen::VectorXd& state, Eigen::VectorXd& dzdt,
                                                 double t, std::size_t) { system(state, dzdt, t); };
      z.head(d) = data.row(i).transpose();
      z(d) = 0.0;
      const auto counts = solvers::integrate_dopri5(rhs, z, options.t_min, t_end, tol, s);
      const Eigen::RowVectorXd latent = z.head(d).transpose();
      const double prior = options.prior_log_density ? options.prior_log_density(latent)
                                                     : sde.prior_log_density(latent);
      r.latent.row(i) = latent;
      r.log_likelihood(i) = prior + z(d);
      r.nfe(i) = system.nfe;
      r.accepted_steps(i) = static_cast<double>(counts.accepted);
      r.rejected_steps(i) = static_cast<double>(counts.rejected);
    }
  });
  return r;
}

}  // namespace tweedie
