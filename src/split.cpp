#include <tweedie/split.hpp>

#include "pf_ode.hpp"
#include "sample_stats.hpp"

#include <fmt/format.h>

#include <algorithm>

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

SampleStats combine_sample_stats(std::span<const SampleStats> parts) {
  SampleStats s;
  for (const SampleStats& p : parts) {
    if (p.samples == 0) continue;
    if (s.samples == 0) {
      s.sampler = p.sampler;
      s.steps = p.steps;
    }
    s.samples += p.samples;
    s.evaluations += p.evaluations;
    s.accepted_steps += p.accepted_steps;
    s.rejected_steps += p.rejected_steps;
    s.wall_seconds = std::max(s.wall_seconds, p.wall_seconds);
  }
  if (s.samples == 0) throw InvalidArgument("the parts computed no samples");
  detail::set_averages(s);
  return s;
}

}  // namespace tweedie
