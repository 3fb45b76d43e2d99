#include "common.hpp"
#include "interrupt.hpp"
#include "grid_choice.hpp"

#include <tweedie/sampler_grid.hpp>

#include <fmt/format.h>

#include <sys/ioctl.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <iostream>

namespace tweedie::cli {

void ProblemOptions::add_target_to(CLI::App& app) {
  app.add_option("--target", target,
                 "Gaussian-mixture target: a JSON file or builtin:NAME (ring, ring2d, checker2d, mix16, mix64)");
  family_flags_ = {
      app.add_option("--sde", sde.family, "forward SDE family: vp, subvp, ve, cosine or edm (a model's own by default)")
          ->capture_default_str(),
      app.add_option("--beta-min", sde.beta_min, "VP/sub-VP beta_min (0.1)"),
      app.add_option("--beta-max", sde.beta_max, "VP/sub-VP beta_max (20)"),
      app.add_option("--sigma-min", sde.sigma_min, "VE sigma_min (0.01); EDM sigma_min (0.002)"),
      app.add_option("--sigma-max", sde.sigma_max, "VE sigma_max (50); EDM sigma_max (80)"),
      app.add_option("--cosine-s", sde.cosine_s, "cosine schedule offset s (0.008)")};
}

void ProblemOptions::add_to(CLI::App& app) {
  add_target_to(app);
  model.add_to(app);
  app.get_option("--target")->excludes(app.get_option("--model"));
  labels.add_to(app);
  decorators.add_to(app);
}

std::optional<SdeSpec> ProblemOptions::given_sde() const {
  for (const auto* flag : family_flags_) {
    if (flag->count() > 0) return sde;
  }
  return std::nullopt;
}

Problem ProblemOptions::load(std::uint64_t seed) const {
  Problem p;
  if (model.given()) {
    LoadedModel loaded = load_model(model, given_sde());
    p.sde = tweedie::make_sde(loaded.sde.value_or(sde));
    p.model = std::move(loaded.model);
    p.description = std::move(loaded.description);
  } else {
    if (target.empty()) throw InvalidArgument("give the distribution: --target FILE.json|builtin:ring or --model FILE");
    p.sde = tweedie::make_sde(sde);
    p.target = load_target();
    p.model = exact_model(*p.target, *p.sde);
    p.description = fmt::format("exact Gaussian mixture {} (d = {}, {} components{})", target, p.target->dim(),
                                p.target->components(),
                                p.target->classes() > 0 ? fmt::format(", {} classes", p.target->classes()) : "");
  }
  Decorated d = decorate(decorators, std::move(p.model), *p.sde, p.target ? &*p.target : nullptr, labels.given(), seed,
                         load_unconditional(*p.sde));
  p.model = std::move(d.model);
  p.imputation = std::move(d.imputation);
  return p;
}

std::shared_ptr<const ScoreModel> ProblemOptions::load_unconditional(const Sde& family) const {
  if (decorators.unconditional.empty()) return nullptr;
  if (!model.given()) {
    throw InvalidArgument("--unconditional needs --model (the conditional network of the pair)");
  }
  ModelOptions second = model;
  second.path = decorators.unconditional;
  LoadedModel loaded = load_model(second, given_sde());
  if (loaded.sde && !same_family(*make_sde(*loaded.sde), family)) {
    throw InvalidArgument(fmt::format("--unconditional {} was trained with {}, not the family of --model {}",
                                      second.path, describe(*loaded.sde), model.path));
  }
  return std::move(loaded.model);
}

GaussianMixture ProblemOptions::load_target() const {
  if (target.starts_with("builtin:")) return GaussianMixture::builtin(target.substr(8));
  return GaussianMixture::load(target);
}

GridOptions grid_options(const std::string& sampler, const Sde& sde, int steps, const std::optional<std::string>& grid) {
  // "optimized" keeps the sampler's default end points; run_grid (grid_choice.hpp) builds it.
  return default_grid(sampler, sde, steps, grid ? run_grid_spacing(*grid) : std::nullopt);
}

void RunOptions::add_to(CLI::App& app) {
  app.add_option("--threads", threads, "worker threads (0 = all cores)")->capture_default_str();
  app.add_option("--seed", seed, "seed of all noise (< 2^32)")->capture_default_str();
  app.add_option("--chunk", chunk, "rows per chunk; results do not depend on it")
      ->capture_default_str();
  app.add_flag("--quiet", quiet, "no progress bar (drawn on standard error only when it is a terminal)");
}

ProgressOutput RunOptions::progress_output() const {
  ProgressOutput out;
  if (quiet || !::isatty(STDERR_FILENO) || !Ranks::get().root()) return out;
  out.stream = &std::cerr;
  winsize size{};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) out.columns = size.ws_col;
  return out;
}

void RunOptions::add_noise_stream_to(CLI::App& app) {
  app.add_option("--noise-stream", noise_stream,
                 fmt::format("layout version of the noise ({} .. {}; earlier versions reproduce earlier runs)",
                             oldest_rng_stream_version, rng_stream_version))
      ->capture_default_str();
}

std::string RunOptions::noise_settings() const {
  return fmt::format("seed {}, noise stream {}", seed, noise_stream);
}

MeanSe mean_se(const Vector& v) {
  const auto n = static_cast<double>(v.size());
  const double m = v.mean();
  const double var = v.size() > 1 ? (v.array() - m).square().sum() / (n - 1) : 0.0;
  return {m, std::sqrt(var / n)};
}

std::string nats_and_bits(const Vector& log_likelihood, const DataEncoding& encoding, Eigen::Index dim) {
  Vector bpd(log_likelihood.size());
  for (Eigen::Index i = 0; i < bpd.size(); ++i) bpd(i) = bits_per_dim(log_likelihood(i), dim, encoding);
  const MeanSe nats = mean_se(log_likelihood), bits = mean_se(bpd);
  return fmt::format("{:.6f} +- {:.6f} nats (of x), {:.6f} +- {:.6f} bits/dim{}", nats.mean, nats.se,
                     bits.mean, bits.se, encoding.bits > 0 ? fmt::format(" ({}-bit)", encoding.bits) : "");
}

void FlowFlags::add_to(CLI::App& app) {
  app.add_option("--t-min", t_min, "time of the data (the ODE runs between t_min and T)")
      ->capture_default_str();
  app.add_option("--rtol", rtol, "relative tolerance of dopri5")->capture_default_str();
  app.add_option("--atol", atol, "absolute tolerance of dopri5")->capture_default_str();
  app.add_option("--max-steps", max_steps, "step attempts allowed per sample")->capture_default_str();
}

FlowOptions FlowFlags::options(const RunOptions& run) const {
  if (max_steps < 1) throw InvalidArgument(fmt::format("--max-steps must be >= 1, got {}", max_steps));
  FlowOptions o;
  o.t_min = t_min;
  o.rtol = rtol;
  o.atol = atol;
  o.max_steps = static_cast<std::size_t>(max_steps);
  o.execution = run.execution();
  o.validate();
  return o;
}

Matrix read_rows(const std::string& path, const std::string& flag, Eigen::Index dim) {
  Matrix m = read_npy_matrix(path, flag);
  if (dim != 0 && m.cols() != dim) {
    throw InvalidArgument(fmt::format("{} has {} columns but the model's dimension is {}", flag, m.cols(), dim));
  }
  if (m.rows() < 1) throw InvalidArgument(fmt::format("{} has no rows", flag));
  return m;
}

void DataOptions::add_to(CLI::App& app) {
  app.add_option("--data", path, "data points y (n, d) .npy")->required();
  app.add_option("--data-scale", scale, "the model's data x = scale * y + shift (scale > 0)")
      ->capture_default_str();
  app.add_option("--data-shift", shift, "see --data-scale (does not change densities)")->capture_default_str();
  app.add_option("--bits", bits,
                 fmt::format("declare the data quantised to 2^bits levels (1..{}): bits/dim then count "
                             "bits more (a bound on -log2 P per value)",
                             max_data_bits));
  app.add_option("--dequantize", dequantize,
                 "with --bits: uniform (--data holds integers k, y = (k + u) / 2^bits, the default) "
                 "or none (--data holds y in [0, 1) already dequantised)");
}

DataEncoding DataOptions::encoding() const {
  DataEncoding e;
  if (!(scale > 0.0) || !std::isfinite(scale)) {
    throw InvalidArgument(fmt::format("--data-scale must be a finite number > 0, got {}", scale));
  }
  if (!std::isfinite(shift)) throw InvalidArgument(fmt::format("--data-shift must be finite, got {}", shift));
  e.data_scale = scale;
  e.data_shift = shift;
  if (bits && (*bits < 1 || *bits > max_data_bits)) {
    throw InvalidArgument(fmt::format("--bits must be in 1..{}, got {}", max_data_bits, *bits));
  }
  e.bits = bits.value_or(0);
  const Dequantization by_default = bits ? Dequantization::uniform : Dequantization::none;
  e.dequantize = dequantize ? dequantization_from_string(*dequantize) : by_default;
  if (!bits && e.dequantize == Dequantization::uniform) {
    throw InvalidArgument("--dequantize uniform needs --bits");
  }
  e.validate();
  return e;
}

Matrix DataOptions::model_data(Eigen::Index dim, std::uint64_t seed, const Execution& execution) const {
  const DataEncoding e = encoding();
  const Matrix y = read_rows(path, "--data", dim);
  return to_model_data(y, e, seed, execution);  // its errors name the data's row and column
}

DataProblem load_data_problem(const ProblemOptions& problem, const DataOptions& data, const RunOptions& run) {
  DataProblem p;
  p.problem = problem.load(run.seed);
  p.encoding = data.encoding();
  p.x = data.model_data(p.problem.dim(), run.seed, run.execution());
  return p;
}

void write_output(const std::string& path, const ConstMatrixRef& m) {
  stop_if_interrupted();  // an interrupt after the last chunk: nothing is written
  if (path != "-") return write_matrix(path, m);
  std::fflush(stdout);
  write_matrix(path, m);
  // The data took standard output: the summary printed after them goes to standard error.
  std::fflush(stdout);
  ::dup2(STDERR_FILENO, STDOUT_FILENO);
}

std::vector<int> labels_of(const std::vector<int>& labels, const SampleBlock& block) {
  if (labels.empty()) return {};
  const auto first = labels.begin() + static_cast<std::ptrdiff_t>(block.first);
  return {first, first + static_cast<std::ptrdiff_t>(block.count)};
}

Matrix gather_values(Ranks& ranks, std::initializer_list<double> values) {
  Matrix row(1, static_cast<Eigen::Index>(values.size()));
  Eigen::Index j = 0;
  for (const double v : values) row(0, j++) = v;
  return ranks.gather_rows(row);
}

SampleStats gather_sample_stats(Ranks& ranks, const SampleStats& own, std::size_t samples) {
  // One row per rank of (samples, evaluations, accepted and rejected steps, seconds): counts
  // below 2^53, exact as doubles.
  const Matrix parts = gather_values(ranks, {static_cast<double>(samples), static_cast<double>(own.evaluations),
                                             static_cast<double>(own.accepted_steps),
                                             static_cast<double>(own.rejected_steps), own.wall_seconds});
  if (!ranks.root()) return own;
  std::vector<SampleStats> stats(static_cast<std::size_t>(parts.rows()), own);
  for (std::size_t k = 0; k < stats.size(); ++k) {
    const auto row = parts.row(static_cast<Eigen::Index>(k));
    stats[k].samples = static_cast<std::size_t>(row(0));
    stats[k].evaluations = static_cast<std::uint64_t>(row(1));
    stats[k].accepted_steps = static_cast<std::uint64_t>(row(2));
    stats[k].rejected_steps = static_cast<std::uint64_t>(row(3));
    stats[k].wall_seconds = row(4);
  }
  return combine_sample_stats(stats);
}

std::string ranks_note(const Ranks& ranks) {
  return ranks.size() > 1 ? fmt::format(", {} ranks", ranks.size()) : "";
}

}  // namespace tweedie::cli
