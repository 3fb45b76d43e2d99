#include <tweedie/split.hpp>

#include "pf_ode.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace tweedie {

SampleBlock split_samples(std::size_t n, int part, int parts) {
  if (parts < 1 || part < 0 || part >= parts) {
    throw InvalidArgument(fmt::format("part {} of {}: expected 0 <= part < parts", part, parts));
  }
  const auto k = static_cast<std::size_t>(parts), p = static_cast<std::size_t>(part);
  const std::size_t base = n / k, longer = n % k;
  return {p * base + std::min(p, longer), base + (p < longer ? 1 : 0)};
}

void validate_flow_job(const Sde& sde, const ScoreModel& model, const ConstMatrixRef& x,
                       const FlowOptions& options, std::string_view what) {
  detail::check_flow_inputs(sde, model, x, options, what);
}

SampleStats combine_sample_stats(std::span<const SampleStats> parts, std::span<const std::size_t> samples) {
  if (parts.empty() || parts.size() != samples.size()) {
    throw InvalidArgument(fmt::format("{} part statistics for {} sample counts", parts.size(), samples.size()));
  }
  std::size_t n = 0;
  double evaluations = 0.0, accepted = 0.0, rejected = 0.0, wall = 0.0;
  for (std::size_t k = 0; k < parts.size(); ++k) {
    // Each average is count / samples[k] of an integer count: rounding its product recovers it.
    const auto count = [&](double per_sample) { return std::round(per_sample * static_cast<double>(samples[k])); };
    n += samples[k];
    evaluations += count(parts[k].nfe_per_sample);
    accepted += count(parts[k].accepted_steps_per_sample);
    rejected += count(parts[k].rejected_steps_per_sample);
    wall = std::max(wall, parts[k].wall_seconds);
  }
  if (n == 0) throw InvalidArgument("the parts computed no samples");
  SampleStats s;
  s.sampler = parts.front().sampler;
  s.steps = parts.front().steps;
  const auto total = static_cast<double>(n);
  s.nfe_per_sample = evaluations / total;
  s.accepted_steps_per_sample = accepted / total;
  s.rejected_steps_per_sample = rejected / total;
  s.wall_seconds = wall;
  s.samples_per_second = wall > 0.0 ? total / wall : 0.0;
  return s;
}

}  // namespace tweedie
