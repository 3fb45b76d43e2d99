// The variational bound: closed-form reconstruction and prior terms, and a stratified Monte
// Carlo estimate of the denoising terms in continuous or discrete time.
#include <tweedie/elbo.hpp>
#include <tweedie/random.hpp>

#include "checks.hpp"
#include "lowest_failure.hpp"
#include "names.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <span>
#include <vector>

namespace tweedie {

std::string_view to_string(ElboTimeSampling s) {
  switch (s) {
    case ElboTimeSampling::time_uniform: return "time-uniform";
    case ElboTimeSampling::log_snr: return "log-snr";
  }
  return "?";
}

ElboTimeSampling elbo_time_sampling_from_string(std::string_view name) {
  return detail::from_name(name, std::array{ElboTimeSampling::log_snr, ElboTimeSampling::time_uniform},
                           "time sampling");
}

ElboOptions ElboSettings::options(std::uint64_t seed, int noise_stream, Execution execution,
                                  std::vector<int> labels) const {
  ElboOptions o;
  o.t_min = t_min;
  o.steps = steps;
  o.spacing = grid_spacing_from_string(spacing);
  o.time_sampling = elbo_time_sampling_from_string(time_sampling);
  o.draws = draws;
  o.seed = seed;
  o.noise_stream = noise_stream;
  o.execution = std::move(execution);
  o.labels = std::move(labels);
  return o;
}

void ElboOptions::validate() const {
  if (!(std::isfinite(t_min) && t_min > 0.0)) {
    throw InvalidArgument(fmt::format("t_min must be > 0, got {}", t_min));
  }
  if (steps < 0) throw InvalidArgument(fmt::format("steps must be >= 0 (0 = continuous time), got {}", steps));
  if (draws < 2 || draws % 2 != 0) {
    throw InvalidArgument(fmt::format("draws must be even and >= 2 (strata are paired), got {}", draws));
  }
  if (seed > max_seed) throw InvalidArgument(fmt::format("seed must be < 2^32, got {}", seed));
  check_stream_version(noise_stream);
  execution.validate();
}

namespace {

/// Maps a stratified u in (0, 1] to the time of a draw and its importance weight, so that the
/// diffusion term is the mean over draws of weight * ||eps - eps_hat(z_t, t)||^2.
class TimeProposal {
 public:
  TimeProposal(const Sde& sde, const ElboOptions& o)
      : sde_(sde), log_snr_(o.time_sampling == ElboTimeSampling::log_snr), t_min_(o.t_min),
        t_max_(sde.T()) {
    if (o.steps > 0) {
      GridOptions g;
      g.spacing = o.spacing;
      g.steps = o.steps;
      g.t_start = t_max_;
      g.t_end = t_min_;
      grid_ = make_grid(sde, g);
      std::reverse(grid_.begin(), grid_.end());  // ascending: t_0 = t_min, ..., t_N = T
      for (double t : grid_) coord_.push_back(coordinate(t));
    }
    c0_ = coordinate(t_min_);
    c1_ = coordinate(t_max_);
  }

  struct Draw {
    double t, weight;
  };

  Draw operator()(double u) const {
    const double c = c0_ + u * (c1_ - c0_);
    if (grid_.empty()) {
      // The integrand is 1/2 |dgamma/dt| E||eps - eps_hat||^2 and t has density
      // 1 / ((c1 - c0) dt/dc). In log-SNR, c = -gamma / 2: the weight is the constant c1 - c0.
      if (log_snr_) return {std::clamp(sde_.t_of_lambda(-c), t_min_, t_max_), c1_ - c0_};
      // 1/2 |dgamma/dt| = g^2 / (2 sigma^2) for every linear SDE (SNR' = -alpha^2 g^2 / sigma^4).
      const double sigma = sde_.sigma(c);
      return {c, 0.5 * sde_.g2(c) / (sigma * sigma) * (c1_ - c0_)};
    }
    // The grid step i that contains c (rounded up to its right end t_i), chosen with
    // probability (coord_i - coord_{i-1}) / (c1 - c0).
    const auto it = std::upper_bound(coord_.begin() + 1, coord_.end() - 1, c);
    const auto i = static_cast<std::size_t>(it - coord_.begin());
    const double dgamma = 2.0 * (sde_.lambda(grid_[i - 1]) - sde_.lambda(grid_[i]));
    const double share = (coord_[i] - coord_[i - 1]) / (c1_ - c0_);
    return {grid_[i], 0.5 * std::expm1(dgamma) / share};
  }

 private:
  /// The coordinate in which the proposal is uniform, increasing in t: t or -lambda(t).
  double coordinate(double t) const { return log_snr_ ? -sde_.lambda(t) : t; }

  const Sde& sde_;
  bool log_snr_;
  double t_min_, t_max_, c0_ = 0.0, c1_ = 0.0;
  std::vector<double> grid_, coord_;
};

/// Weight of the newest draw in the running estimate a of the share of eps that the model
/// predicts: about the last 20 draws (strata), over which a(t) changes little.
constexpr double kPredictedDecay = 0.05;

}  // namespace

ElboResult elbo(const Sde& sde, const ScoreModel& model, const ConstMatrixRef& data,
                const ElboOptions& options) {
  options.validate();
  detail::check_t_min(sde, options.t_min);
  detail::check_batch(model, data, "data");
  detail::check_sample_range(options.first_sample, static_cast<std::size_t>(data.rows()));
  detail::check_labels(model, options.labels, static_cast<std::size_t>(data.rows()), options.first_sample);
  const Eigen::Index n = data.rows(), d = data.cols();

  const auto dd = static_cast<double>(d);
  const double t_max = sde.T(), alpha_t = sde.alpha(t_max), sigma_t = sde.sigma(t_max);
  const double prior_var = sde.prior_std() * sde.prior_std();
  const double reconstruction = dd * (sde.lambda(options.t_min) - 0.5 * (1.0 + std::log(2.0 * std::numbers::pi)));
  const PhiloxNoise noise(options.seed, options.noise_stream);
  const Eigen::Index draws = options.draws;
  // The times are shared by all samples (stage 0 of sample 0's stream), so that each model call
  // evaluates a whole chunk at one time; the noises are each sample's own (stage 1).
  std::vector<TimeProposal::Draw> times(static_cast<std::size_t>(draws));
  {
    const TimeProposal proposal(sde, options);
    Vector u(1);
    for (Eigen::Index j = 0; j < draws; ++j) {
      noise.uniform(0, static_cast<std::uint32_t>(j), 0, NoiseStream::elbo, u);
      times[static_cast<std::size_t>(j)] = proposal((static_cast<double>(j) + u(0)) / static_cast<double>(draws));
    }
  }

  ElboResult r;
  r.elbo.resize(n);
  r.standard_error.resize(n);
  r.reconstruction.setConstant(n, reconstruction);
  r.prior_kl.resize(n);
  r.diffusion.resize(n);
  r.nfe = static_cast<double>(draws);

  const double var_ratio = sigma_t * sigma_t / prior_var;
  for_each_chunk(static_cast<std::size_t>(n), options.execution, [&](std::size_t chunk_begin, std::size_t chunk_end) {
    detail::run_naming_lowest_failure(chunk_begin, chunk_end, options.first_sample,
                                      [&](std::size_t begin, std::size_t end, bool /*again*/) {
      const auto first = static_cast<Eigen::Index>(begin), rows = static_cast<Eigen::Index>(end - begin);
      const auto x = data.middleRows(first, rows);
      Matrix eps(rows, d), z(rows, d), eps_hat(rows, d);
      Vector t(rows), term(rows), even(rows);
      Vector sum = Vector::Zero(rows), paired = Vector::Zero(rows);
      Vector predicted = Vector::Zero(rows);  // a: running mean of eps . eps_hat / d over past draws
      std::vector<std::uint64_t> samples(static_cast<std::size_t>(rows));
      const std::uint64_t first_sample = options.first_sample + begin;
      for (std::size_t k = 0; k < samples.size(); ++k) samples[k] = first_sample + k;
      const std::span<const int> labels =
          options.labels.empty() ? std::span<const int>() : std::span(options.labels).subspan(begin, end - begin);
      for (Eigen::Index j = 0; j < draws; ++j) {
        const auto [tj, weight] = times[static_cast<std::size_t>(j)];
        noise.normal(first_sample, static_cast<std::uint32_t>(j), 1, NoiseStream::elbo, eps);
        z = sde.alpha(tj) * x + sde.sigma(tj) * eps;
        t.setConstant(tj);
        evaluate_as(model, sde, Prediction::noise, ModelInput{t, z, samples, labels}, eps_hat);
        if (!detail::all_finite(eps_hat)) {
          const auto [k, c] = detail::first_non_finite(eps_hat);
          throw NonFiniteError(first_sample + static_cast<std::uint64_t>(k), static_cast<std::size_t>(j), tj,
                               detail::non_finite_output(model.prediction(), Prediction::noise, eps_hat(k, c), c) +
                                   " (ELBO draw; step = draw index)");
        }
        // The control variate h = |eps|^2 - d (mean 0) with c = (1 - a)^2, a from this sample's
        // earlier draws only, so that c is independent of this eps and the term stays unbiased.
        // Where the model cannot tell noise from data (high SNR, eps_hat ~ a eps, a ~ 0) the
        // chi-square fluctuation of |eps - eps_hat|^2 is (1 - a)^2 h, which it removes.
        const Vector h = eps.rowwise().squaredNorm().array() - static_cast<double>(d);
        const Vector c = (1.0 - predicted.array()).max(0.0).min(1.0).square();
        term = weight * ((eps - eps_hat).rowwise().squaredNorm() - c.cwiseProduct(h));
        const double w = std::max(1.0 / static_cast<double>(j + 1), kPredictedDecay);
        predicted = (1.0 - w) * predicted + (w / static_cast<double>(d)) * eps.cwiseProduct(eps_hat).rowwise().sum();
        sum += term;
        // Paired strata: each pair is a stratum of width 2 / draws with two draws in it.
        if (j % 2 == 0) {
          even = term;
        } else {
          paired += (even - term).cwiseAbs2();
        }
      }
      const double m = static_cast<double>(draws);
      for (Eigen::Index k = 0; k < rows; ++k) {
        const Eigen::Index i = first + k;
        r.prior_kl(i) = 0.5 * (dd * (var_ratio - 1.0 - std::log(var_ratio)) +
                               alpha_t * alpha_t * x.row(k).squaredNorm() / prior_var);
        r.diffusion(i) = sum(k) / m;
        r.standard_error(i) = std::sqrt(paired(k)) / m;
        r.elbo(i) = reconstruction - r.prior_kl(i) - r.diffusion(i);
      }
    });
  });
  return r;
}

}  // namespace tweedie
