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

void ScoreModel::score_divergence(const ConstVectorRef&, const ConstMatrixRef&, VectorRef) const {
  throw InvalidArgument("this model provides no divergence");
}

void ScoreModel::evaluate_with_divergence(const ConstVectorRef& t, const ConstMatrixRef& x, MatrixRef out,
                                          VectorRef divergence) const {
  evaluate(t, x, out);
  score_divergence(t, x, divergence);
}

void ScoreModel::jvp(const ConstVectorRef&, const ConstMatrixRef&, const ConstMatrixRef&, MatrixRef) const {
  throw InvalidArgument("this model provides no Jacobian-vector product");
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

class FunctionModel final : public ScoreModel {
 public:
  FunctionModel(Prediction p, Eigen::Index dim, ModelFunction fn, JvpFunction jvp)
      : prediction_(p), dim_(dim), fn_(std::move(fn)), jvp_(std::move(jvp)) {}
  Prediction prediction() const override { return prediction_; }
  Eigen::Index dim() const override { return dim_; }
  void evaluate(const ConstVectorRef& t, const ConstMatrixRef& x, MatrixRef out) const override {
    fn_(t, x, out);
  }
  bool has_jvp() const override { return static_cast<bool>(jvp_); }
  void jvp(const ConstVectorRef& t, const ConstMatrixRef& x, const ConstMatrixRef& v,
           MatrixRef out) const override {
    if (!jvp_) ScoreModel::jvp(t, x, v, out);  // throws
    jvp_(t, x, v, out);
  }

 private:
  Prediction prediction_;
  Eigen::Index dim_;
  ModelFunction fn_;
  JvpFunction jvp_;  // empty: no JVP
};

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

void evaluate_as(const ScoreModel& model, const Sde& sde, Prediction want, const ConstVectorRef& t,
                 const ConstMatrixRef& x, MatrixRef out) {
  model.evaluate(t, x, out);
  convert_prediction(sde, model.prediction(), want, t, x, out, out);
}

void score_jvp(const ScoreModel& model, const Sde& sde, const ConstVectorRef& t,
               const ConstMatrixRef& x, const ConstMatrixRef& v, MatrixRef out) {
  if (!model.has_jvp()) throw InvalidArgument("this model provides no Jacobian-vector product");
  model.jvp(t, x, v, out);
  // Every conversion of convert_row is linear and homogeneous in (x, prediction) with
  // coefficients that depend on t only, e.g. score = (alpha x0 - x) / sigma^2. Differentiating
  // along v maps (x, prediction) to (v, J_pred v): the JVP of the score is the same conversion
  // applied to the pair (v, J_pred v).
  convert_prediction(sde, model.prediction(), Prediction::score, t, v, out, out);
}

std::unique_ptr<ScoreModel> make_model(Prediction prediction, Eigen::Index dim, ModelFunction fn) {
  if (!fn) throw InvalidArgument("make_model: the model function is empty");
  return std::make_unique<FunctionModel>(prediction, dim, std::move(fn), JvpFunction{});
}

std::unique_ptr<ScoreModel> make_model(Prediction prediction, Eigen::Index dim, ModelFunction fn,
                                       JvpFunction jvp) {
  if (!fn) throw InvalidArgument("make_model: the model function is empty");
  if (!jvp) throw InvalidArgument("make_model: the Jacobian-vector product function is empty");
  return std::make_unique<FunctionModel>(prediction, dim, std::move(fn), std::move(jvp));
}

}  // namespace tweedie
