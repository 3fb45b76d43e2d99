// Compiled only into a program built with tweedie::torch (the rest of this file is empty otherwise).
#if TWEEDIE_WITH_TORCH
#include "torch_plugin.hpp"

#include "plugins.hpp"

#include <dlfcn.h>

namespace tweedie::cli {

LoadedModel load_torchscript_plugin(const std::string& path, const TorchScriptOptions& options) {
  static const auto loader = reinterpret_cast<TorchScriptLoader>(
      plugin_symbol(TWEEDIE_TORCH_PLUGIN_FILE, torchscript_loader_symbol, "TorchScript", RTLD_NOW | RTLD_LOCAL));
  return loader(path, options);
}

}  // namespace tweedie::cli
#endif
