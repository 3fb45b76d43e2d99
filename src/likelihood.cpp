// Exact log-likelihoods through the probability-flow ODE (instantaneous change of variables).
#include <tweedie/likelihood.hpp>
#include <tweedie/random.hpp>

#include "pf_ode.hpp"
#include "names.hpp"

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
  return detail::from_name(name, std::array{Divergence::exact, Divergence::hutchinson}, "divergence");
}

std::string_view to_string(ProbeKind p) {
  switch (p) {
    case ProbeKind::rademacher: return "rademacher";
    case ProbeKind::gaussian: return "gaussian";
  }
  return "?";
}

ProbeKind probe_kind_from_string(std::string_view name) {
  return detail::from_name(name, std::array{ProbeKind::rademacher, ProbeKind::gaussian}, "probe kind");
}

void LikelihoodOptions::validate() const {
  FlowOptions::validate();
  if (probes < 1) throw InvalidArgument(fmt::format("probes must be >= 1, got {}", probes));
  if (seed > max_seed) throw InvalidArgument(fmt::format("seed must be < 2^32, got {}", seed));
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

/// How the divergence of the score is obtained (see log_likelihood).
enum class DivergenceSource { model, jvp_trace, jvp_probes, difference_probes };

DivergenceSource divergence_source(const ScoreModel& model, Divergence divergence) {
  if (divergence == Divergence::hutchinson) {
    return model.has_jvp() ? DivergenceSource::jvp_probes : DivergenceSource::difference_probes;
  }
  if (model.has_divergence()) return DivergenceSource::model;
  if (model.has_jvp()) return DivergenceSource::jvp_trace;
  throw InvalidArgument(
      "this model provides neither a divergence nor a Jacobian-vector product (use --divergence "
      "hutchinson)");
}

/// The joint ODE of one sample: the PF-ODE on z.head(d) = x, and d(delta)/dt = d f - g^2 div s / 2
/// on z(d).
class JointSystem final : public detail::FlowSystem {
 public:
  JointSystem(const Sde& sde, const ScoreModel& model, Eigen::Index dim, std::uint64_t sample, int label,
              DivergenceSource source, Matrix directions)
      : FlowSystem(sde, model, dim, sample, label), source_(source), directions_(std::move(directions)) {}

  void operator()(const Eigen::VectorXd& z, Eigen::VectorXd& dzdt, double t, std::size_t step) override {
    double div = 0.0;
    if (source_ == DivergenceSource::model) {
      drift(z, dzdt, t, step, &div);  // one fused model call
    } else {
      drift(z, dzdt, t, step);
      div = divergence(z.head(dim_).transpose(), t, step);
    }
    dzdt(dim_) = static_cast<double>(dim_) * sde_.f(t) - 0.5 * sde_.g2(t) * div;
  }

 private:
  /// The divergence from JVPs or score differences (source_ is not `model`).
  double divergence(const Eigen::RowVectorXd& x, double t, std::size_t step) {
    // The directions (rows of the identity, or the probes) as one batch at the point x.
    const Eigen::Index k = directions_.rows();
    if (source_ != DivergenceSource::difference_probes) {
      points_ = x.replicate(k, 1);
      times_.setConstant(k, t);
      products_.resize(k, dim_);
      score_jvp(model_, sde_, input(times_, points_), directions_, products_);
      nfe += static_cast<double>(k);
      check_finite(products_, "the model's Jacobian-vector product, as the score's,", t, step);
      // The trace of J over the basis, or Hutchinson's mean of v_k^T J v_k.
      const double sum = (products_.array() * directions_.array()).sum();
      return source_ == DivergenceSource::jvp_trace ? sum : sum / static_cast<double>(k);
    }
    // Central differences of the score along each probe, in one batched call:
    // rows 2j = x + h v_j, 2j + 1 = x - h v_j.
    const double h = 1e-4 * std::max(1.0, x.cwiseAbs().maxCoeff());
    points_.resize(2 * k, dim_);
    for (Eigen::Index j = 0; j < k; ++j) {
      points_.row(2 * j) = x + h * directions_.row(j);
      points_.row(2 * j + 1) = x - h * directions_.row(j);
    }
    times_.setConstant(2 * k, t);
    products_.resize(2 * k, dim_);
    evaluate_as(model_, sde_, Prediction::score, input(times_, points_), products_);
    nfe += static_cast<double>(2 * k);
    check_finite(products_, "the model's output, as score,", t, step);
    double div = 0.0;
    for (Eigen::Index j = 0; j < k; ++j) {
      div += (products_.row(2 * j) - products_.row(2 * j + 1)).dot(directions_.row(j)) / (2.0 * h);
    }
    return div / static_cast<double>(k);
  }

  DivergenceSource source_;
  Matrix directions_;  // the basis (jvp_trace), the probes (hutchinson), or empty (model)
  Vector times_;
  Matrix points_, products_;
};

}  // namespace

LikelihoodResult log_likelihood(const Sde& sde, const ScoreModel& model, const ConstMatrixRef& data,
                                const LikelihoodOptions& options) {
  options.validate();
  detail::check_flow_inputs(sde, model, data, options, "data");
  const DivergenceSource source = divergence_source(model, options.divergence);
  const Eigen::Index n = data.rows(), d = data.cols();
  const PhiloxNoise noise(options.seed);
  detail::FlowRun run = detail::integrate_rows(
      data, 1, options.t_min, sde.T(), options, [&](std::uint64_t sample, int label) {
        Matrix directions;
        if (source == DivergenceSource::jvp_trace) directions = Matrix::Identity(d, d);
        if (options.divergence == Divergence::hutchinson) {
          directions = draw_probes(noise, sample, options.probes, d, options.probe_kind);
        }
        return std::make_unique<JointSystem>(sde, model, d, sample, label, source, std::move(directions));
      });

  LikelihoodResult r;
  r.latent = run.state.leftCols(d);
  r.log_likelihood.resize(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    const Eigen::RowVectorXd latent = r.latent.row(i);
    const double prior = options.prior_log_density ? options.prior_log_density(latent)
                                                   : sde.prior_log_density(latent);
    r.log_likelihood(i) = prior + run.state(i, d);
  }
  r.nfe = std::move(run.nfe);
  r.accepted_steps = std::move(run.accepted_steps);
  r.rejected_steps = std::move(run.rejected_steps);
  return r;
}

}  // namespace tweedie
