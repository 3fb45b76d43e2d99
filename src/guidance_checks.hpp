// The checks that classifier-free and classifier guidance share.
#pragma once

#include <tweedie/types.hpp>

#include <fmt/format.h>

#include <cmath>

namespace tweedie::detail {

/// Throws InvalidArgument naming `what` ("classifier guidance") unless the scale is finite.
inline void check_scale(double scale, const char* what) {
  if (!std::isfinite(scale)) throw InvalidArgument(fmt::format("{}: the guidance scale must be finite, got {}", what, scale));
}

}  // namespace tweedie::detail
