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

/// Reads the attributes (or constants) of `module`, loaded from `file`, and merges them with
/// `options`; `conditional` says whether forward takes labels. Throws InvalidArgument prefixed
/// with the file on a wrongly typed or invalid value, on a disagreement (both values given),
/// and on a missing prediction, time input or needed family.
ModuleConventions read_conventions(const torch::jit::Module& module, bool conditional,
                                   const TorchScriptOptions& options, const std::string& file);

}  // namespace tweedie::detail
