// The weights of an MlpModel in one precision and their evaluation on tiles of rows.
#pragma once

#include <tweedie/mlp_model.hpp>
#include <tweedie/safetensors.hpp>

#include <memory>

namespace tweedie {

/// What a call computes besides the output: nothing, J v (forward mode) or J^T w (reverse).
enum class NetworkMode { evaluate, jvp, vjp };

class MlpModel::Network {
 public:
  virtual ~Network() = default;
  /// out = the network's output (evaluate: n x outputs), J dir (jvp: n x outputs) or J^T dir
  /// (vjp: n x D), row by row, for rows already checked by the caller; `dir` is null for evaluate.
  virtual void run(NetworkMode mode, const ModelInput& in, const ConstMatrixRef* dir, MatrixRef out) const = 0;
};

namespace detail {
/// The spec in the file's metadata (InvalidArgument naming the file when absent or bad).
MlpSpec read_spec(const SafetensorsFile& file);
/// Reads every tensor that `spec` implies from `file` (checking shapes, refusing unused ones)
/// and converts the weights to the precision once.
std::unique_ptr<MlpModel::Network> make_network(const MlpSpec& spec, const Sde& sde, const SafetensorsFile& file,
                                                Precision precision);
}  // namespace detail

}  // namespace tweedie
