// Compiled only into a program built with tweedie::torch (the rest of this file is empty otherwise).
#if TWEEDIE_WITH_TORCH
#include "torch_plugin.hpp"

#include <fmt/format.h>

#include <dlfcn.h>

#include <filesystem>
#include <stdexcept>
#include <vector>

namespace tweedie::cli {
namespace {

TorchScriptLoader open_plugin() {
  const auto program_dir = std::filesystem::read_symlink("/proc/self/exe").parent_path();
  std::vector<std::string> tried;
  for (const auto& dir : {program_dir, program_dir / TWEEDIE_TORCH_PLUGIN_INSTALL_DIR}) {
    const auto path = (dir / TWEEDIE_TORCH_PLUGIN_FILE).lexically_normal();
    if (!std::filesystem::exists(path)) {
      tried.push_back(path.string());
      continue;
    }
    // Never closed: the models it makes run its code until the program ends.
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) throw std::runtime_error(fmt::format("cannot load the TorchScript plugin: {}", dlerror()));
    void* symbol = dlsym(handle, torchscript_loader_symbol);
    if (symbol == nullptr) {
      throw std::runtime_error(
          fmt::format("{} is not tweedie's TorchScript plugin (no {})", path.string(), torchscript_loader_symbol));
    }
    return reinterpret_cast<TorchScriptLoader>(symbol);
  }
  throw std::runtime_error(fmt::format("this tweedie's TorchScript plugin is missing (looked for {})",
                                       fmt::join(tried, " and ")));
}

}  // namespace

LoadedModel load_torchscript_plugin(const std::string& path, const TorchScriptOptions& options) {
  static const TorchScriptLoader loader = open_plugin();
  return loader(path, options);
}

}  // namespace tweedie::cli
#endif
