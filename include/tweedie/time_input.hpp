// The time input a trained network expects, computed from the continuous time t of the family.
#pragma once

#include <tweedie/sde.hpp>

#include <string_view>

namespace tweedie {

/// What a network takes as its time argument s (the conventions of the field).
enum class TimeInputKind {
  t,         ///< s = t, the continuous time
  scaled_t,  ///< s = scale * t (score_sde's VP and sub-VP models: 999 t)
  sigma,     ///< s = sigma(t) of the family (score_sde's VE models)
  c_noise,   ///< s = ln(sigma(t)) / 4 (EDM's c_noise)
};
std::string_view to_string(TimeInputKind kind);  ///< "t", "scaled-t", "sigma", "c-noise"
TimeInputKind time_input_from_string(std::string_view name);

struct TimeInput {
  TimeInputKind kind = TimeInputKind::t;
  double scale = 999.0;  ///< the factor of scaled-t (score_sde's 999); unused by the other kinds
  /// Whether computing s needs the family's sigma(t).
  bool needs_family() const { return kind == TimeInputKind::sigma || kind == TimeInputKind::c_noise; }
  /// s for time t; `sde` is read only when needs_family().
  double operator()(const Sde& sde, double t) const;
  /// Throws InvalidArgument when the scale of scaled-t is not positive and finite.
  void validate() const;
};

}  // namespace tweedie
