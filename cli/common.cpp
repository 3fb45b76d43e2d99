#include "common.hpp"

#include <fmt/format.h>

#include <cmath>

namespace tweedie::cli {

void ProblemOptions::add_to(CLI::App& app) {
  app.add_option("--target", target, "Gaussian-mixture target: a JSON file or builtin:ring")
      ->required();
  app.add_option("--sde", sde.family, "forward SDE family: vp, subvp, ve, cosine or edm")
      ->capture_default_str();
  app.add_option("--beta-min", sde.beta_min, "VP/sub-VP beta_min (0.1)");
  app.add_option("--beta-max", sde.beta_max, "VP/sub-VP beta_max (20)");
  app.add_option("--sigma-min", sde.sigma_min, "VE sigma_min (0.01); EDM sigma_min (0.002)");
  app.add_option("--sigma-max", sde.sigma_max, "VE sigma_max (50); EDM sigma_max (80)");
  app.add_option("--cosine-s", sde.cosine_s, "cosine schedule offset s (0.008)");
}

std::unique_ptr<Sde> ProblemOptions::make_sde() const { return tweedie::make_sde(sde); }

GaussianMixture ProblemOptions::load_target() const {
  if (target == "builtin:ring") return GaussianMixture::ring();
  if (target.starts_with("builtin:")) {
    throw InvalidArgument(fmt::format("unknown built-in target '{}' (known: builtin:ring)", target));
  }
  return GaussianMixture::load(target);
}

void RunOptions::add_to(CLI::App& app) {
  app.add_option("--threads", threads, "worker threads (0 = all cores)")->capture_default_str();
  app.add_option("--seed", seed, "seed of all noise (< 2^32)")->capture_default_str();
  app.add_option("--chunk", chunk, "rows per chunk; results do not depend on it")
      ->capture_default_str();
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
  const Matrix y = read_npy_matrix(path, "--data");
  if (y.cols() != dim) {
    throw InvalidArgument(fmt::format("--data has {} columns but the target's dimension is {}", y.cols(), dim));
  }
  if (y.rows() < 1) throw InvalidArgument("--data has no rows");
  return to_model_data(y, e, seed, execution);  // its errors name the data's row and column
}

void write_output(const std::string& path, const ConstMatrixRef& m) { write_matrix(path, m); }

}  // namespace tweedie::cli
