#include <tweedie/time_input.hpp>

#include "names.hpp"

#include <cmath>

namespace tweedie {

std::string_view to_string(TimeInputKind kind) {
  switch (kind) {
    case TimeInputKind::t: return "t";
    case TimeInputKind::scaled_t: return "scaled_t";
    case TimeInputKind::sigma: return "sigma";
    case TimeInputKind::log_sigma: return "log_sigma";
    case TimeInputKind::c_noise: return "c_noise";
  }
  return "?";
}

TimeInputKind time_input_from_string(std::string_view name) {
  return detail::from_name(name,
                           std::array{TimeInputKind::t, TimeInputKind::scaled_t, TimeInputKind::sigma,
                                      TimeInputKind::log_sigma, TimeInputKind::c_noise},
                           "time input");
}

double TimeInput::operator()(const Sde& sde, double t) const {
  switch (kind) {
    case TimeInputKind::t: return t;
    case TimeInputKind::scaled_t: return scale * t + shift;
    case TimeInputKind::sigma: return sde.sigma(t);
    case TimeInputKind::log_sigma: return std::log(sde.sigma(t));
    case TimeInputKind::c_noise: return 0.25 * std::log(sde.sigma(t));
  }
  return t;
}

}  // namespace tweedie
