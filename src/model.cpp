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

// Each conversion goes through the pair (x0, eps) of x = alpha x0 + sigma eps, entry by entry,
// in the form that stays exact where it can: data and noise are never divided by a zero sigma
// when the input already is the wanted quantity, and score <-> noise never touches alpha. An
// entry depends only on the same entry of x and of the input, so out may alias the input.
struct Coefficients {
  double a, s, n2;  // alpha, sigma, alpha^2 + sigma^2
};

template <Prediction From>
double eps_of(Coefficients c, double x, double in) {
  if constexpr (From == Prediction::score) return -c.s * in;
  if constexpr (From == Prediction::noise) return in;
  if constexpr (From == Prediction::data) return (x - c.a * in) / c.s;
  if constexpr (From == Prediction::velocity) return (c.a * in + c.s * x) / c.n2;
}

template <Prediction From>
double x0_of(Coefficients c, double x, double in) {
  if constexpr (From == Prediction::score) return (x + c.s * c.s * in) / c.a;
  if constexpr (From == Prediction::noise) return (x - c.s * in) / c.a;
  if constexpr (From == Prediction::data) return in;
  if constexpr (From == Prediction::velocity) return (c.a * x - c.s * in) / c.n2;
}

template <Prediction From, Prediction To>
double convert_entry(Coefficients c, double x, double in) {
  if constexpr (To == Prediction::score) {
    // -eps / sigma; from data this is (alpha x0 - x) / sigma^2.
    if constexpr (From == Prediction::data) return (c.a * in - x) / (c.s * c.s);
    else return -eps_of<From>(c, x, in) / c.s;
  }
  if constexpr (To == Prediction::noise) return eps_of<From>(c, x, in);
  if constexpr (To == Prediction::data) return x0_of<From>(c, x, in);
  if constexpr (To == Prediction::velocity) return c.a * eps_of<From>(c, x, in) - c.s * x0_of<From>(c, x, in);
}

template <Prediction From, Prediction To>
void convert_rows(const Sde& sde, const ConstVectorRef& t, const ConstMatrixRef& x, const ConstMatrixRef& in,
                  MatrixRef out) {
  double last_t = 0.0;
  Coefficients c{};
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    if (i == 0 || t(i) != last_t) {  // rows of a chunk usually share their time
      last_t = t(i);
      const double a = sde.alpha(last_t), s = sde.sigma(last_t);
      c = {a, s, a * a + s * s};
    }
    const double* xi = x.row(i).data();
    const double* ini = in.row(i).data();
    double* outi = out.row(i).data();
    for (Eigen::Index j = 0; j < x.cols(); ++j) outi[j] = convert_entry<From, To>(c, xi[j], ini[j]);
  }
}

template <Prediction From>
void convert_rows_from(Prediction to, const Sde& sde, const ConstVectorRef& t, const ConstMatrixRef& x,
                       const ConstMatrixRef& in, MatrixRef out) {
  switch (to) {
    case Prediction::score: return convert_rows<From, Prediction::score>(sde, t, x, in, out);
    case Prediction::noise: return convert_rows<From, Prediction::noise>(sde, t, x, in, out);
    case Prediction::data: return convert_rows<From, Prediction::data>(sde, t, x, in, out);
    case Prediction::velocity: return convert_rows<From, Prediction::velocity>(sde, t, x, in, out);
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
  switch (from) {
    case Prediction::score: return convert_rows_from<Prediction::score>(to, sde, t, x, in, out);
    case Prediction::noise: return convert_rows_from<Prediction::noise>(to, sde, t, x, in, out);
    case Prediction::data: return convert_rows_from<Prediction::data>(to, sde, t, x, in, out);
    case Prediction::velocity: return convert_rows_from<Prediction::velocity>(to, sde, t, x, in, out);
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
  // Every conversion of convert_entry is linear and homogeneous in (x, prediction) with
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
