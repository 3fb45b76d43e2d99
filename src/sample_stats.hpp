// SampleStats' averages from its counts (internal): one definition for a call and for parts combined.
#pragma once

#include <tweedie/sample.hpp>

namespace tweedie::detail {

/// Sets the per-sample averages and the rate from the counts and the wall time.
inline void set_averages(SampleStats& s) {
  const auto n = static_cast<double>(s.samples);
  const auto per_sample = [n](std::uint64_t v) { return n > 0.0 ? static_cast<double>(v) / n : 0.0; };
  s.nfe_per_sample = per_sample(s.evaluations);
  s.accepted_steps_per_sample = per_sample(s.accepted_steps);
  s.rejected_steps_per_sample = per_sample(s.rejected_steps);
  s.samples_per_second = s.wall_seconds > 0.0 ? n / s.wall_seconds : 0.0;
}

}  // namespace tweedie::detail
