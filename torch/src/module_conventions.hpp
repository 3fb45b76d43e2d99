// The conventions of a TorchScript module: its attributes merged with the load options.
#pragma once

#include <tweedie/torchscript_model.hpp>

#include <torch/script.h>

#include <memory>
#include <optional>
#include <string>

namespace tweedie::detail {

struct ModuleConventions {
  Prediction prediction = Prediction::noise;
  std::optional<SdeSpec> sde;       ///< the family, when the module or the options name one
  std::unique_ptr<Sde> family;      ///< built from `sde`; null when none
  TimeInput time_input;
  Eigen::Index dim = 0;
  Conditioning conditioning;
};

/// Whether forward takes the labels y: not at all (x, s), as a Tensor (x, s, y), or as an
/// Optional[Tensor] (x, s, y=None: the module is conditional when it declares classes).
enum class LabelArgument { none, required, optional };

/// Reads the attributes (or constants) of `module`, loaded from `file`, and merges them with
/// `options`. Throws InvalidArgument prefixed
/// with the file on a wrongly typed or invalid value, on a disagreement (both values given),
/// and on a missing prediction, time input or needed family.
ModuleConventions read_conventions(const torch::jit::Module& module, LabelArgument labels,
                                   const TorchScriptOptions& options, const std::string& file);

}  // namespace tweedie::detail
