// The module the tweedie program loads for TorchScript models (cli/torch_plugin.hpp): the only
// part of the program that links libtorch.
#include "../torch_plugin.hpp"

#include <fmt/format.h>

#include <memory>

extern "C" __attribute__((visibility("default"))) tweedie::cli::LoadedModel tweedie_cli_load_torchscript(
    const std::string& path, const tweedie::TorchScriptOptions& options) {
  auto model = std::make_unique<tweedie::TorchScriptModel>(path, options);
  tweedie::cli::LoadedModel r;
  r.sde = model->sde_spec();
  r.description = fmt::format("TorchScript network ({}), time input {}", model->dtype(),
                              tweedie::to_string(model->time_input().kind));
  r.model = std::move(model);
  return r;
}
