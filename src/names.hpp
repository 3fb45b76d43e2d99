// Parsing the names of the library's enumerations (to_string's inverse), with one error format.
#pragma once

#include <tweedie/types.hpp>

#include <fmt/format.h>

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

namespace tweedie::detail {

/// The value among `values` whose to_string is `name`. Otherwise InvalidArgument
/// "unknown <what> '<name>' (expected a, b or c)", listing the names in the order given.
template <class Enum, std::size_t N>
Enum from_name(std::string_view name, const std::array<Enum, N>& values, std::string_view what) {
  std::string expected;
  for (std::size_t i = 0; i < N; ++i) {
    if (name == to_string(values[i])) return values[i];
    expected += (i == 0 ? "" : i + 1 == N ? " or " : ", ") + std::string(to_string(values[i]));
  }
  throw InvalidArgument(fmt::format("unknown {} '{}' (expected {})", what, name, expected));
}

}  // namespace tweedie::detail
