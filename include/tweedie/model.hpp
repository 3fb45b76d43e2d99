// The score-model interface, the four parameterisations and Tweedie's formula between them.
#pragma once

#include <tweedie/sde.hpp>
#include <tweedie/types.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>

namespace tweedie {

/// What a network outputs for x_t = alpha x_0 + sigma eps.
enum class Prediction {
  score,     ///< grad_x log p_t(x)          = -eps / sigma
  noise,     ///< eps                         = (x - alpha x0) / sigma
  data,      ///< x0 = E[x_0 | x_t]           = (x + sigma^2 score) / alpha   (Tweedie)
  velocity,  ///< v = alpha eps - sigma x0
};
std::string_view to_string(Prediction p);
Prediction prediction_from_string(std::string_view name);

/// The rows of one model call: the states, one time per row, each row's global sample index
/// and, for a conditional model, each row's class label. One small view, so that what crosses the
/// seam can grow (a conditioning vector) without changing every signature.
struct ModelInput {
  ConstVectorRef t;  ///< one time per row
  ConstMatrixRef x;  ///< the rows, n x d
  /// Each row's global sample index (the index its noise is keyed by); empty when the caller has
  /// none (a direct evaluation outside the drivers).
  std::span<const std::uint64_t> samples = {};
  /// Each row's class label; empty means every row is unconditional (the model's null class).
  std::span<const int> labels = {};
  Eigen::Index rows() const { return x.rows(); }
  /// Row i's label, or `fallback` when no labels are given.
  int label(Eigen::Index i, int fallback) const {
    return labels.empty() ? fallback : labels[static_cast<std::size_t>(i)];
  }
};

/// What a model is conditioned on: class labels 0 .. classes-1, and the label that means "no
/// class" when it has one (a classifier-free model's null class, the whole mixture of an exact
/// labelled target).
struct Conditioning {
  int classes = 0;      ///< 0: the model is unconditional
  int null_class = -1;  ///< -1: none (every row needs a label in [0, classes))
  bool conditional() const { return classes > 0; }
  bool has_null_class() const { return null_class >= 0; }
  /// Whether `label` is a class or the null class.
  bool accepts(int label) const {
    return (label >= 0 && label < classes) || (has_null_class() && label == null_class);
  }
};

/// A learned or analytic model of the score, in any parameterisation.
///
/// Thread-safety contract: every member is const and is called concurrently from several
/// threads, each time on a distinct chunk of rows; it must be reentrant (no unsynchronised
/// mutable state). A model that parallelises internally is called inside an isolated TBB region,
/// so its nested tasks do not steal the caller's chunks. Rows must not interact: row i of the
/// output may depend only on row i of the input (its x, t, label). A model whose row i is
/// moreover bitwise independent of the other rows of the call and of their number declares
/// `batch_invariant()`: the drivers then give the same bits for every chunk size; otherwise they
/// promise the same bits for every thread count at a fixed chunk size. An exception thrown by a
/// model reaches the caller of the driver with its own type.
class ScoreModel {
 public:
  virtual ~ScoreModel() = default;
  /// The parameterisation that `evaluate` returns.
  virtual Prediction prediction() const = 0;
  /// Dimension of a sample, or 0 when the model accepts any.
  virtual Eigen::Index dim() const = 0;
  /// The labels the model takes (unconditional by default). The drivers refuse labels that
  /// `accepts` refuses, naming the sample, and pass empty labels when the user gave none.
  virtual Conditioning conditioning() const { return {}; }
  /// Whether row i of every output is bitwise independent of the other rows of the call.
  virtual bool batch_invariant() const { return false; }
  /// out.row(i) = prediction at row i of `in`; out has the shape of in.x.
  virtual void evaluate(const ModelInput& in, MatrixRef out) const = 0;
  /// The same for unlabelled rows without sample indices (a direct call).
  void evaluate(const ConstVectorRef& t, const ConstMatrixRef& x, MatrixRef out) const {
    evaluate(ModelInput{t, x}, out);
  }
  /// Whether `score_divergence` is available (the exact divergence used by log_likelihood).
  virtual bool has_divergence() const { return false; }
  /// out(i) = divergence (trace of the Jacobian in x) of the SCORE grad_x log p_t at row i,
  /// whatever `prediction()` is. The default throws InvalidArgument.
  virtual void score_divergence(const ModelInput& in, VectorRef out) const;
  /// `evaluate` and `score_divergence` at once (what log_likelihood needs per right-hand side).
  /// The default makes the two calls; a model that computes both in one pass (the Gaussian
  /// mixture) overrides it. Must give the bits of the two calls.
  virtual void evaluate_with_divergence(const ModelInput& in, MatrixRef out, VectorRef divergence) const;
  /// Whether `jvp` is available (e.g. a network with forward-mode automatic differentiation).
  virtual bool has_jvp() const { return false; }
  /// out.row(i) = J_i v.row(i), with J_i the Jacobian in x of the model's OWN output (in its
  /// `prediction()` parameterisation) at row i; v and out have the shape of in.x. The default
  /// throws InvalidArgument.
  virtual void jvp(const ModelInput& in, const ConstMatrixRef& v, MatrixRef out) const;
  /// Whether `vjp` is available (reverse-mode automatic differentiation).
  virtual bool has_vjp() const { return false; }
  /// out.row(i) = J_i^T w.row(i): the gradient in x of <w.row(i), output row i> (what classifier
  /// guidance needs); w and out have the shape of in.x. The default throws InvalidArgument.
  virtual void vjp(const ModelInput& in, const ConstMatrixRef& w, MatrixRef out) const;
};

/// Converts a prediction `in` made at (x, t) from one parameterisation to another, row by row,
/// with alpha(t) and sigma(t) of `sde` (one place for Tweedie's formula). `out` may alias `in`.
void convert_prediction(const Sde& sde, Prediction from, Prediction to, const ConstVectorRef& t,
                        const ConstMatrixRef& x, const ConstMatrixRef& in, MatrixRef out);

/// Evaluates `model` and returns its output as `want` (converting when needed).
void evaluate_as(const ScoreModel& model, const Sde& sde, Prediction want, const ModelInput& in,
                 MatrixRef out);

/// The Jacobian-vector product of the SCORE, out.row(i) = J_i v.row(i) with J_i the Jacobian in x
/// of grad_x log p_t at row i of `in`, from the model's own `jvp` whatever its parameterisation.
/// Throws InvalidArgument when the model has no JVP.
void score_jvp(const ScoreModel& model, const Sde& sde, const ModelInput& in, const ConstMatrixRef& v,
               MatrixRef out);

/// A callable as an unconditional model: fn(t, x, out), out.row(i) = prediction at (x.row(i), t(i)).
using ModelFunction = std::function<void(const ConstVectorRef&, const ConstMatrixRef&, MatrixRef)>;
/// A callable Jacobian-vector product: jvp(t, x, v, out), as ScoreModel::jvp.
using JvpFunction = std::function<void(const ConstVectorRef&, const ConstMatrixRef&,
                                       const ConstMatrixRef&, MatrixRef)>;
std::unique_ptr<ScoreModel> make_model(Prediction prediction, Eigen::Index dim, ModelFunction fn);
/// The same with a Jacobian-vector product of the model's output (has_jvp() is then true).
std::unique_ptr<ScoreModel> make_model(Prediction prediction, Eigen::Index dim, ModelFunction fn,
                                       JvpFunction jvp);

/// A callable that sees the whole ModelInput (labels, sample indices): fn(in, out).
using InputFunction = std::function<void(const ModelInput&, MatrixRef)>;
/// fn(in, v, out) for the JVP and fn(in, w, out) for the VJP, as ScoreModel::jvp and ::vjp.
using InputProductFunction = std::function<void(const ModelInput&, const ConstMatrixRef&, MatrixRef)>;
/// What make_model declares for a callable that sees the whole input.
struct FunctionModelTraits {
  Prediction prediction = Prediction::score;
  Eigen::Index dim = 0;
  Conditioning conditioning;
  bool batch_invariant = false;  ///< declare it only when row i is bitwise independent of the others
  InputProductFunction jvp;      ///< empty: no JVP
  InputProductFunction vjp;      ///< empty: no VJP
};
std::unique_ptr<ScoreModel> make_model(FunctionModelTraits traits, InputFunction fn);

}  // namespace tweedie
