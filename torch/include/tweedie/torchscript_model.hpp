// A PyTorch network saved as TorchScript, evaluated through libtorch (the optional tweedie::torch).
#pragma once

#include <tweedie/model.hpp>
#include <tweedie/sde.hpp>
#include <tweedie/time_input.hpp>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

namespace tweedie {

/// The conventions of a TorchScript module that its attributes may leave out (what the CLI's
/// --prediction, --sde with the family options, --time-input, --time-scale and --time-shift
/// give). An unset field is "not given". A field given here and as a module attribute must agree.
struct TorchScriptOptions {
  std::optional<Prediction> prediction;
  /// The family the network was trained with: its name and the parameters given (unset ones take
  /// the module's attribute, else the family's default).
  std::optional<SdeSpec> sde;
  std::optional<TimeInputKind> time_input;
  std::optional<double> time_scale;  ///< scaled_t only (required there)
  std::optional<double> time_shift;  ///< scaled_t only (default 0)
  std::optional<Eigen::Index> dim;
  std::optional<int> classes;
  std::optional<int> null_class;
  /// libtorch intra-op threads inside one model call (tweedie already runs one call per chunk on
  /// each TBB thread, so 1 avoids oversubscription; docs/models.md has the measurements).
  int intra_op_threads = 1;
};

/// A TorchScript module whose `forward(x [B, D], s [B])`, or `forward(x, s, y [B] int64)` for a
/// class-conditional module (y may be Optional[Tensor] = None, as examples/train/tweedie_net.py
/// exports every network), returns the prediction [B, D]; s is the network's time input,
/// computed per row from the continuous t (TimeInput). The module's conventions are read from
/// its attributes (or TorchScript constants) when present:
///   prediction: str (score|noise|data|velocity), sde: str (vp|subvp|ve|cosine|edm),
///   beta_min, beta_max, sigma_min, sigma_max, cosine_s: float (or under "sde" in a JSON `spec`
///   attribute), time_input: str (t|scaled_t|sigma|log_sigma|c_noise), time_scale,
///   time_shift: float, dim: int, classes: int (0: unconditional), null_class: int (-1: none);
/// otherwise from TorchScriptOptions (docs/models.md, "TorchScript"). The arithmetic runs in the module's own dtype (that of its
/// parameters and buffers, float32 or float64; float64 when it has none): inputs are converted
/// to it, outputs back to double.
///
/// Calls run with libtorch's graph-executor optimisation off (no profiling runs, no fusion), so
/// each call runs the same kernels whatever was called before and on which thread. Rows are not
/// computed independently of their batch (libtorch's kernels pick their own blocking), so
/// batch_invariant() is false: results are bitwise identical across thread counts at a fixed
/// chunk size, not across chunk sizes.
///
/// jvp and vjp use libtorch's reverse-mode autograd (the JVP by the double-backward trick:
/// J v = d/du <J^T u, v>), so exact-divergence likelihoods work; the module's operations must be
/// twice differentiable for the JVP. Thread-safe: concurrent calls share the loaded module.
class TorchScriptModel final : public ScoreModel {
 public:
  /// Loads `path`. Throws InvalidArgument naming the file when it does not load, when forward
  /// does not take (x, s) or (x, s, y) or does not return one tensor, when an attribute has the
  /// wrong type or value, when an attribute and an option disagree (the message gives both),
  /// when the prediction or the time input is given neither way, when the time input needs the
  /// family (sigma, log_sigma, c_noise) and none is given, or when the labels of forward and the
  /// number of classes do not go together.
  explicit TorchScriptModel(const std::filesystem::path& path, const TorchScriptOptions& options = {});
  ~TorchScriptModel() override;
  TorchScriptModel(const TorchScriptModel&) = delete;
  TorchScriptModel& operator=(const TorchScriptModel&) = delete;
  using ScoreModel::evaluate;  // the direct call evaluate(t, x, out)

  Prediction prediction() const override;
  Eigen::Index dim() const override;  ///< from `dim` (attribute or option); 0 when neither
  Conditioning conditioning() const override;
  bool batch_invariant() const override { return false; }
  /// Throws InvalidArgument naming the file and the call's samples when forward throws or
  /// returns another shape than [B, D] (non-finite outputs are the drivers' to report).
  void evaluate(const ModelInput& in, MatrixRef out) const override;
  bool has_jvp() const override { return true; }
  void jvp(const ModelInput& in, const ConstMatrixRef& v, MatrixRef out) const override;
  bool has_vjp() const override { return true; }
  void vjp(const ModelInput& in, const ConstMatrixRef& w, MatrixRef out) const override;

  /// The family the network was trained with, when the module or the options name one.
  const std::optional<SdeSpec>& sde_spec() const;
  TimeInput time_input() const;
  /// "float32" or "float64": the dtype the module computes in.
  std::string dtype() const;
  const std::filesystem::path& path() const;

 private:
  struct Impl;
  std::unique_ptr<const Impl> impl_;
};

}  // namespace tweedie
