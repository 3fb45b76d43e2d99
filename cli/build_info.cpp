// Compiled with TWEEDIE_VERSION and TWEEDIE_GIT_COMMIT (CMakeLists.txt), so that a new commit
// recompiles this file alone.
#include "build_info.hpp"

namespace tweedie::cli {

std::string_view build_version() { return TWEEDIE_VERSION; }
std::string_view build_commit() { return TWEEDIE_GIT_COMMIT; }

}  // namespace tweedie::cli
