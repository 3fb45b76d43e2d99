#include <tweedie/model.hpp>

#include "names.hpp"

#include <fmt/format.h>

namespace tweedie {

std::string_view to_string(Prediction p) {
  switch (p) {
    case Prediction::score: return "score";
    case Prediction::noise: return "noise";
    case Prediction::data: return "data";
    case Prediction::velocity: return "velocity";
  }
  return "?";
}

Prediction prediction_from_string(std::string_view name) {
  return detail::from_name(
      name, std::array{Prediction::score, Prediction::noise, Prediction::data, Prediction::velocity},
      "prediction");
}

void ScoreModel::score_divergence(const ModelInput&, VectorRef) const {
  throw InvalidArgument("this model provides no divergence");
}

void ScoreModel::evaluate_with_divergence(const ModelInput& in, MatrixRef out, VectorRef divergence) const {
  evaluate(in, out);
  score_divergence(in, divergence);
}

void ScoreModel::jvp(const ModelInput&, const ConstMatrixRef&, MatrixRef) const {
  throw InvalidArgument("this model provides no Jacobian-vector product");
}

void ScoreModel::vjp(const ModelInput&, const ConstMatrixRef&, MatrixRef) const {
  throw InvalidArgument("this model provides no vector-Jacobian product (input gradient)");
}

namespace {

// Each conversion of a row goes through the pair (x0, eps) of x = alpha x0 + sigma eps, in the
// form that stays exact where it can: data and noise are never divided by a zero sigma when the
// input already is the wanted quantity, and score <-> noise never touches alpha.
struct RowCoefficients {
  double a, s;
};

template <class In, class X, class Out>
void convert_row(Prediction from, Prediction to, RowCoefficients c, const X& x, const In& in,
                 Out&& out) {
  const double a = c.a, s = c.s, n2 = a * a + s * s;
  auto eps = [&]() -> Eigen::RowVectorXd {
    switch (from) {
      case Prediction::score: return -s * in;
      case Prediction::noise: return in;
      case Prediction::data: return (x - a * in) / s;
      case Prediction::velocity: return (a * in + s * x) / n2;
    }
    return in;
  };
  auto x0 = [&]() -> Eigen::RowVectorXd {
    switch (from) {
      case Prediction::score: return (x + s * s * in) / a;
      case Prediction::noise: return (x - s * in) / a;
      case Prediction::data: return in;
      case Prediction::velocity: return (a * x - s * in) / n2;
    }
    return in;
  };
  switch (to) {
    case Prediction::score:
      // -eps / sigma; from data this is (alpha x0 - x) / sigma^2.
      if (from == Prediction::data) {
        out = (a * in - x) / (s * s);
      } else {
        out = -eps() / s;
      }
      return;
    case Prediction::noise: out = eps(); return;
    case Prediction::data: out = x0(); return;
    case Prediction::velocity: {
      const Eigen::RowVectorXd e = eps(), d = x0();
      out = a * e - s * d;
      return;
    }
  }
}

// A callable as a model. The unconditional form (t, x, out) is adapted to the InputFunction form
// once, in make_model, so that one class serves both.
class FunctionModel final : public ScoreModel {
 public:
  FunctionModel(FunctionModelTraits traits, InputFunction fn) : traits_(std::move(traits)), fn_(std::move(fn)) {}
  Prediction prediction() const override { return traits_.prediction; }
  Eigen::Index dim() const override { return traits_.dim; }
  Conditioning conditioning() const override { return traits_.conditioning; }
  bool batch_invariant() const override { return traits_.batch_invariant; }
  void evaluate(const ModelInput& in, MatrixRef out) const override { fn_(in, out); }
  bool has_jvp() const override { return static_cast<bool>(traits_.jvp); }
  void jvp(const ModelInput& in, const ConstMatrixRef& v, MatrixRef out) const override {
    if (!traits_.jvp) ScoreModel::jvp(in, v, out);  // throws
    traits_.jvp(in, v, out);
  }
  bool has_vjp() const override { return static_cast<bool>(traits_.vjp); }
  void vjp(const ModelInput& in, const ConstMatrixRef& w, MatrixRef out) const override {
    if (!traits_.vjp) ScoreModel::vjp(in, w, out);  // throws
    traits_.vjp(in, w, out);
  }

 private:
  FunctionModelTraits traits_;
  InputFunction fn_;
};

FunctionModelTraits unconditional_traits(Prediction prediction, Eigen::Index dim, JvpFunction jvp) {
  FunctionModelTraits traits;
  traits.prediction = prediction;
  traits.dim = dim;
  if (jvp) {
    traits.jvp = [jvp = std::move(jvp)](const ModelInput& in, const ConstMatrixRef& v, MatrixRef out) {
      jvp(in.t, in.x, v, out);
    };
  }
  return traits;
}

InputFunction unconditional_function(ModelFunction fn) {
  if (!fn) throw InvalidArgument("make_model: the model function is empty");
  return [fn = std::move(fn)](const ModelInput& in, MatrixRef out) { fn(in.t, in.x, out); };
}

}  // namespace

void convert_prediction(const Sde& sde, Prediction from, Prediction to, const ConstVectorRef& t,
                        const ConstMatrixRef& x, const ConstMatrixRef& in, MatrixRef out) {
  if (from == to) {
    if (out.data() != in.data()) out = in;
    return;
  }
  double last_t = 0.0;
  RowCoefficients c{};
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    if (i == 0 || t(i) != last_t) {  // rows of a chunk usually share their time
      last_t = t(i);
      c = {sde.alpha(last_t), sde.sigma(last_t)};
    }
    const Eigen::RowVectorXd row_in = in.row(i);  // a copy: out may alias in
    convert_row(from, to, c, x.row(i), row_in, out.row(i));
  }
}

void evaluate_as(const ScoreModel& model, const Sde& sde, Prediction want, const ModelInput& in,
                 MatrixRef out) {
  model.evaluate(in, out);
  convert_prediction(sde, model.prediction(), want, in.t, in.x, out, out);
}

void score_jvp(const ScoreModel& model, const Sde& sde, const ModelInput& in, const ConstMatrixRef& v,
               MatrixRef out) {
  if (!model.has_jvp()) throw InvalidArgument("this model provides no Jacobian-vector product");
  model.jvp(in, v, out);
  // Every conversion of convert_row is linear and homogeneous in (x, prediction) with
  // coefficients that depend on t only, e.g. score = (alpha x0 - x) / sigma^2. Differentiating
  // along v maps (x, prediction) to (v, J_pred v): the JVP of the score is the same conversion
  // applied to the pair (v, J_pred v).
  convert_prediction(sde, model.prediction(), Prediction::score, in.t, v, out, out);
}

std::unique_ptr<ScoreModel> make_model(Prediction prediction, Eigen::Index dim, ModelFunction fn) {
  return std::make_unique<FunctionModel>(unconditional_traits(prediction, dim, {}),
                                         unconditional_function(std::move(fn)));
}

std::unique_ptr<ScoreModel> make_model(Prediction prediction, Eigen::Index dim, ModelFunction fn,
                                       JvpFunction jvp) {
  if (!jvp) throw InvalidArgument("make_model: the Jacobian-vector product function is empty");
  auto f = unconditional_function(std::move(fn));
  return std::make_unique<FunctionModel>(unconditional_traits(prediction, dim, std::move(jvp)), std::move(f));
}

std::unique_ptr<ScoreModel> make_model(FunctionModelTraits traits, InputFunction fn) {
  if (!fn) throw InvalidArgument("make_model: the model function is empty");
  if (traits.conditioning.classes < 0 || traits.conditioning.null_class < -1) {
    throw InvalidArgument("make_model: classes must be >= 0 and null_class >= -1");
  }
  return std::make_unique<FunctionModel>(std::move(traits), std::move(fn));
}

}  // namespace tweedie
