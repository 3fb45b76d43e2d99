// --model and its flags: a learned network (safetensors or TorchScript) in place of a --target.
#pragma once

#include <tweedie/model.hpp>
#include <tweedie/sde.hpp>

#include <CLI/CLI.hpp>

#include <memory>
#include <optional>
#include <string>

namespace tweedie::cli {

struct ModelOptions {
  std::string path;                          ///< --model FILE.safetensors|FILE.pt
  std::optional<std::string> precision;      ///< --precision float64|float32 (safetensors)
  std::optional<std::string> prediction;     ///< --prediction (TorchScript without the attribute)
  std::optional<std::string> time_input;     ///< --time-input t|scaled-t|sigma|c-noise (TorchScript)
  std::optional<double> time_scale;          ///< --time-scale (TorchScript, scaled-t)
  std::optional<double> time_shift;          ///< --time-shift (TorchScript, scaled-t)
  void add_to(CLI::App& app);
  bool given() const { return !path.empty(); }
};

/// A loaded network, the family it was trained with when it says, and one line describing it.
struct LoadedModel {
  std::unique_ptr<ScoreModel> model;
  std::optional<SdeSpec> sde;
  std::string description;
};

/// Loads --model by its extension. `sde` holds the family flags the user gave explicitly (empty:
/// none): a TorchScript module checks them against its attributes; a safetensors model carries
/// its family, and flags that describe another family are refused with both in the message.
LoadedModel load_model(const ModelOptions& options, const std::optional<SdeSpec>& sde);

/// "vp (beta_min 0.1, beta_max 20)": a family and the parameters it was given.
std::string describe(const SdeSpec& spec);

}  // namespace tweedie::cli
