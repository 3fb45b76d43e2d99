// What this build of the program is: its version and the commit it was built from.
#pragma once

#include <string_view>

namespace tweedie::cli {

/// The project's version ("0.1.0").
std::string_view build_version();
/// The short commit the build was configured at, or "unknown" outside a git checkout.
std::string_view build_commit();

}  // namespace tweedie::cli
