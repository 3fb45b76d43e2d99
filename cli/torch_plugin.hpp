// The TorchScript plugin of the tweedie program. libtorch is about 290 shared libraries whose
// loading and static initialisation take most of a second, so the program does not link it: a
// .pt model loads the plugin (a module built with tweedie::torch) with dlopen, once, and every
// other run starts without libtorch.
#pragma once

#include "model_options.hpp"

#include <tweedie/torchscript_model.hpp>

#include <string>

namespace tweedie::cli {

/// The plugin's one exported function, looked up by the name below.
using TorchScriptLoader = LoadedModel (*)(const std::string& path, const TorchScriptOptions& options);
inline constexpr const char* torchscript_loader_symbol = "tweedie_cli_load_torchscript";

/// Loads the plugin on first use (next to the program, then where `make install` puts it) and runs
/// its loader. Throws std::runtime_error naming the paths tried when the plugin is missing.
LoadedModel load_torchscript_plugin(const std::string& path, const TorchScriptOptions& options);

}  // namespace tweedie::cli
