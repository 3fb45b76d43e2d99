#include "plugins.hpp"

#include <fmt/format.h>

#include <dlfcn.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace tweedie::cli {

void* plugin_symbol(const char* file, const char* symbol, const char* what, int flags) {
  const auto program_dir = std::filesystem::read_symlink("/proc/self/exe").parent_path();
  std::vector<std::string> tried;
  for (const auto& dir : {program_dir, program_dir / TWEEDIE_PLUGIN_INSTALL_DIR}) {
    const auto path = (dir / file).lexically_normal();
    if (!std::filesystem::exists(path)) {
      tried.push_back(path.string());
      continue;
    }
    void* handle = dlopen(path.c_str(), flags);
    if (handle == nullptr) throw std::runtime_error(fmt::format("cannot load the {} plugin: {}", what, dlerror()));
    void* found = dlsym(handle, symbol);
    if (found == nullptr) {
      throw std::runtime_error(fmt::format("{} is not tweedie's {} plugin (no {})", path.string(), what, symbol));
    }
    return found;
  }
  throw std::runtime_error(
      fmt::format("this tweedie's {} plugin is missing (looked for {})", what, fmt::join(tried, " and ")));
}

}  // namespace tweedie::cli
