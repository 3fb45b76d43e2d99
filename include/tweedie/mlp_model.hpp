// MlpModel: an Eigen runtime for the score networks of examples/train/tweedie_net.py, stored as
// safetensors with their architecture in the metadata (docs/models.md, "safetensors schema").
#pragma once

#include <tweedie/model.hpp>
#include <tweedie/sde.hpp>
#include <tweedie/time_input.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tweedie {

/// The arithmetic a network is evaluated in; weights are converted once at load.
enum class Precision { float64, float32 };
std::string_view to_string(Precision p);
Precision precision_from_string(std::string_view name);

enum class Activation { silu, gelu, relu, tanh, none };  ///< gelu: the exact erf form
std::string_view to_string(Activation a);

enum class TimeEmbeddingKind { sinusoidal, fourier };
std::string_view to_string(TimeEmbeddingKind k);

/// The architecture of a network, as parsed from the "tweedie.mlp" metadata entry (version 1).
struct MlpSpec {
  static constexpr int version = 1;
  Eigen::Index dim = 0;    ///< D
  Eigen::Index width = 0;  ///< C, the residual stream
  Prediction prediction = Prediction::noise;  ///< of a score network (a classifier has none)
  SdeSpec sde;             ///< the family it was trained with (make_sde builds it)
  TimeInput time_input;
  std::optional<double> edm_sigma_data;  ///< EDM preconditioning when set
  TimeEmbeddingKind embedding = TimeEmbeddingKind::sinusoidal;
  Eigen::Index embedding_dim = 0;        ///< E (even)
  std::vector<Eigen::Index> time_mlp_widths;  ///< empty: the embedding itself is the time vector
  Activation time_mlp_activation = Activation::silu;
  Conditioning conditioning;  ///< classes, and the null class (== classes) when the table has one
  struct Block {
    Eigen::Index hidden = 0;
    Activation activation = Activation::silu;
    bool norm = false;
  };
  std::vector<Block> blocks;
  bool output_norm = false;
  Activation output_activation = Activation::none;
  /// K > 0: a classifier head ("output": {"logits": K}), the output layer gives the K logits of
  /// a noise-conditional classifier p_t(y | x_t) (no prediction, no preconditioning, no classes
  /// among its inputs); 0: a score network, whose output has the input's dimension D.
  Eigen::Index logits = 0;
  double layer_norm_eps = 1e-5;

  bool is_classifier() const { return logits > 0; }
  /// Width of the output layer: K logits or D.
  Eigen::Index outputs() const { return is_classifier() ? logits : dim; }

  /// Width of the time(+class) vector that the blocks receive.
  Eigen::Index time_width() const {
    return time_mlp_widths.empty() ? embedding_dim : time_mlp_widths.back();
  }
  /// Parses and checks the JSON text of the metadata entry; `source` names the file in messages.
  static MlpSpec parse(const std::string& json, const std::string& source);
  /// One line: dimension, layers, prediction, family, time input (for `tweedie info --model`).
  std::string description() const;
};

/// The metadata key under which a safetensors file holds its MlpSpec as JSON text.
inline constexpr const char* mlp_metadata_key = "tweedie.mlp";

struct MlpOptions {
  Precision precision = Precision::float64;
};

/// A network of the tweedie.mlp schema evaluated with Eigen.
///
/// Rows are evaluated in fixed zero-padded tiles of rows, so each row's output (and JVP, VJP) is
/// bitwise independent of the other rows of the call and of their number (batch_invariant()).
/// Calls are const and reentrant: each thread has its own scratch, allocated at its first call,
/// and no call allocates after that. The JVP (forward mode) and VJP (reverse mode) are exact
/// derivatives in x at fixed t, through the EDM preconditioning when the spec has it.
class MlpModel final : public ScoreModel {
 public:
  /// Loads the safetensors file at `path`: the spec from its metadata, then every tensor that
  /// the spec implies, with its shape. A missing, unused or misshapen tensor, or a bad spec, is
  /// refused with InvalidArgument naming the file (and the tensor); so is a classifier
  /// (MlpClassifier loads those, include/tweedie/mlp_classifier.hpp).
  static std::unique_ptr<MlpModel> load(const std::string& path, MlpOptions options = {});
  ~MlpModel() override;

  const MlpSpec& spec() const { return spec_; }
  Precision precision() const { return precision_; }
  /// The family the network was trained with (built from spec().sde).
  const Sde& sde() const { return *sde_; }
  /// spec().description() and the precision.
  std::string description() const;

  Prediction prediction() const override { return spec_.prediction; }
  Eigen::Index dim() const override { return spec_.dim; }
  Conditioning conditioning() const override { return spec_.conditioning; }
  bool batch_invariant() const override { return true; }
  /// Labels: one per row, each accepted by conditioning(); empty labels mean the null class
  /// (refused when the network has none). An unconditional network ignores labels.
  void evaluate(const ModelInput& in, MatrixRef out) const override;
  using ScoreModel::evaluate;  // the direct call evaluate(t, x, out)
  bool has_jvp() const override { return true; }
  void jvp(const ModelInput& in, const ConstMatrixRef& v, MatrixRef out) const override;
  bool has_vjp() const override { return true; }
  void vjp(const ModelInput& in, const ConstMatrixRef& w, MatrixRef out) const override;

  class Network;  ///< the weights in one precision (src/mlp_network.hpp)

 private:
  MlpModel() = default;
  void check(const ModelInput& in, Eigen::Index cols, std::string_view what) const;
  MlpSpec spec_;
  Precision precision_ = Precision::float64;
  std::unique_ptr<Sde> sde_;
  std::unique_ptr<Network> network_;
};

}  // namespace tweedie
