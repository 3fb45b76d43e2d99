// Exact log-likelihoods through the probability-flow ODE (instantaneous change of variables).
#include <tweedie/decorator.hpp>
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
  check_stream_version(noise_stream);
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
  const std::string dropped = decorator_dropping(
      model, [](const ScoreModel& m) { return m.has_divergence() || m.has_jvp(); });
  throw InvalidArgument(fmt::format(
      "this model provides neither a divergence nor a Jacobian-vector product{} (use "
      "LikelihoodOptions::divergence = hutchinson)",
      dropped.empty() ? "" : fmt::format(": its decorator {} forwards neither", dropped)));
}

/// The joint ODE of the rows of a chunk: the PF-ODE on z.leftCols(d) = x, and
/// d(delta)/dt = d f - g^2 div s / 2 on z.col(d).
class JointSystem final : public detail::FlowSystem {
 public:
  /// `directions`: the basis (jvp_trace, d x d, shared), the probes (hutchinson: K rows per
  /// chunk row, stacked), or empty (model).
  JointSystem(const Sde& sde, const ScoreModel& model, Eigen::Index dim, std::uint64_t first_sample,
              Eigen::Index rows, std::span<const int> labels, DivergenceSource source, Matrix directions,
              Eigen::Index per_row)
      : FlowSystem(sde, model, dim, first_sample, rows, labels), source_(source),
        directions_(std::move(directions)), per_row_(per_row) {}

  void operator()(const ConstVectorRef& t, const ConstMatrixRef& z, MatrixRef dzdt,
                  std::span<const Eigen::Index> rows, std::span<const std::size_t> steps,
                  detail::RowFailures& failures) override {
    if (source_ == DivergenceSource::model) {
      drift(t, z, dzdt, rows, steps, failures, &div_);  // one fused model call
    } else {
      drift(t, z, dzdt, rows, steps, failures);
      divergence(t, rows, steps, failures);
    }
    for (Eigen::Index k = 0; k < z.rows(); ++k) {
      dzdt(k, dim_) = static_cast<double>(dim_) * sde_.f(t(k)) - 0.5 * sde_.g2(t(k)) * div_(k);
    }
  }

 private:
  /// The directions of chunk row r: K x d.
  Matrix directions_of(Eigen::Index r) const {
    return source_ == DivergenceSource::jvp_trace ? directions_ : Matrix(directions_.middleRows(r * per_row_, per_row_));
  }

  /// div_ at the rows x_ from JVPs or score differences (source_ is not `model`): the directions
  /// of every row as one batch, one model call.
  void divergence(const ConstVectorRef& t, std::span<const Eigen::Index> rows, std::span<const std::size_t> steps,
                  detail::RowFailures& failures) {
    const Eigen::Index m = x_.rows(), k = per_row_;
    const bool differences = source_ == DivergenceSource::difference_probes;
    const Eigen::Index per = differences ? 2 * k : k;
    points_.resize(m * per, dim_);
    dirs_.resize(m * per, dim_);
    times_.resize(m * per);
    h_.resize(m);
    for (Eigen::Index i = 0; i < m; ++i) {
      const Matrix v = directions_of(rows[static_cast<std::size_t>(i)]);
      const Eigen::RowVectorXd x = x_.row(i);
      times_.segment(i * per, per).setConstant(t(i));
      if (!differences) {
        points_.middleRows(i * per, per) = x.replicate(k, 1);
        dirs_.middleRows(i * per, per) = v;
        continue;
      }
      // Central differences of the score along each probe: rows 2j = x + h v_j, 2j + 1 = x - h v_j.
      h_(i) = 1e-4 * std::max(1.0, x.cwiseAbs().maxCoeff());
      for (Eigen::Index j = 0; j < k; ++j) {
        points_.row(i * per + 2 * j) = x + h_(i) * v.row(j);
        points_.row(i * per + 2 * j + 1) = x - h_(i) * v.row(j);
      }
    }
    products_.resize(m * per, dim_);
    if (differences) {
      evaluate_as(model_, sde_, Prediction::score, input(times_, points_, rows, per), products_);
    } else {
      score_jvp(model_, sde_, input(times_, points_, rows, per), dirs_, products_);
    }
    div_.resize(m);
    for (Eigen::Index i = 0; i < m; ++i) {
      nfe(rows[static_cast<std::size_t>(i)]) += static_cast<double>(per);
      const Matrix p = products_.middleRows(i * per, per);
      if (!check_row(p, differences ? "the model's output, as score," : "the model's Jacobian-vector product, as the score's,",
                     t, rows, steps, i, failures)) {
        div_(i) = 0.0;
        continue;
      }
      const Matrix v = directions_of(rows[static_cast<std::size_t>(i)]);
      if (!differences) {
        // The trace of J over the basis, or Hutchinson's mean of v_k^T J v_k.
        const double sum = (p.array() * v.array()).sum();
        div_(i) = source_ == DivergenceSource::jvp_trace ? sum : sum / static_cast<double>(k);
        continue;
      }
      double div = 0.0;
      for (Eigen::Index j = 0; j < k; ++j) {
        div += (p.row(2 * j) - p.row(2 * j + 1)).dot(v.row(j)) / (2.0 * h_(i));
      }
      div_(i) = div / static_cast<double>(k);
    }
  }

  DivergenceSource source_;
  Matrix directions_;
  Eigen::Index per_row_;
  Vector div_, times_, h_;
  Matrix points_, dirs_, products_;
};

}  // namespace

LikelihoodResult log_likelihood(const Sde& sde, const ScoreModel& model, const ConstMatrixRef& data,
                                const LikelihoodOptions& options) {
  options.validate();
  detail::check_flow_inputs(sde, model, data, options, "data");
  const DivergenceSource source = divergence_source(model, options.divergence);
  const Eigen::Index n = data.rows(), d = data.cols();
  const PhiloxNoise noise(options.seed, options.noise_stream);
  detail::FlowRun run = detail::integrate_rows(
      data, 1, options.t_min, sde.T(), options,
      [&](std::uint64_t first, Eigen::Index rows, std::span<const int> labels) {
        Matrix directions;
        Eigen::Index per_row = 0;
        if (source == DivergenceSource::jvp_trace) {
          directions = Matrix::Identity(d, d);
          per_row = d;
        }
        if (options.divergence == Divergence::hutchinson) {
          per_row = options.probes;
          directions.resize(rows * per_row, d);
          for (Eigen::Index r = 0; r < rows; ++r) {
            directions.middleRows(r * per_row, per_row) =
                draw_probes(noise, first + static_cast<std::uint64_t>(r), options.probes, d, options.probe_kind);
          }
        }
        return std::make_unique<JointSystem>(sde, model, d, first, rows, labels, source, std::move(directions),
                                             per_row);
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
