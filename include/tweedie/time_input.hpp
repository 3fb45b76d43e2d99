// The time input a trained network expects, computed from the continuous time t of the family
// (shared by MlpModel's safetensors schema and TorchScriptModel's attributes).
#pragma once

#include <tweedie/sde.hpp>

#include <string_view>

namespace tweedie {

/// What a network takes as its time argument s (the conventions of the field).
enum class TimeInputKind {
  t,          ///< s = t, the continuous time
  scaled_t,   ///< s = scale t + shift (score_sde's VP/sub-VP: 999 t; DPM-Solver's discrete wrapper: 1000 t - 1)
  sigma,      ///< s = sigma(t) of the family (score_sde's VE models)
  log_sigma,  ///< s = ln sigma(t) (NCSN++'s Fourier features)
  c_noise,    ///< s = ln(sigma(t)) / 4 (EDM's c_noise)
};
std::string_view to_string(TimeInputKind kind);  ///< "t", "scaled_t", "sigma", "log_sigma", "c_noise"
TimeInputKind time_input_from_string(std::string_view name);

struct TimeInput {
  TimeInputKind kind = TimeInputKind::t;
  double scale = 1.0, shift = 0.0;  ///< only for scaled_t
  /// Whether s needs the family's sigma(t).
  bool needs_family() const {
    return kind == TimeInputKind::sigma || kind == TimeInputKind::log_sigma || kind == TimeInputKind::c_noise;
  }
  /// s(t); `sde` is read only when needs_family().
  double operator()(const Sde& sde, double t) const;
};

}  // namespace tweedie
