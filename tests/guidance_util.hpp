// Problems shared by the decorator tests: a labelled mixture and a model in another
// parameterisation.
#pragma once

#include <tweedie/tweedie.hpp>

#include <memory>

namespace tweedie::test {

/// Five components in 3-D with labels 0, 1, 0, 2, 1: classes of one or two components.
inline GaussianMixture labelled_mixture() {
  Matrix means(5, 3), stds(5, 3);
  means << -2.0, 0.5, 1.0, 1.5, 1.0, -0.5, 0.5, -2.0, 0.0, 2.5, -1.5, 1.5, -1.0, 2.0, -1.0;
  stds << 0.3, 0.5, 0.4, 0.4, 0.2, 0.3, 0.6, 0.35, 0.5, 0.25, 0.45, 0.3, 0.4, 0.3, 0.2;
  return GaussianMixture(Vector{{1.0, 2.0, 3.0, 1.5, 1.0}}, means, stds, {0, 1, 0, 2, 1});
}

/// `model`'s predictions converted to `as` under `sde` (a conditional network in another
/// parameterisation); keeps the conditioning, the batch invariance and the JVP.
inline std::shared_ptr<const ScoreModel> reparameterised(std::shared_ptr<const ScoreModel> model, const Sde& sde,
                                                         Prediction as) {
  FunctionModelTraits traits;
  traits.prediction = as;
  traits.dim = model->dim();
  traits.conditioning = model->conditioning();
  traits.batch_invariant = model->batch_invariant();
  traits.jvp = [model, &sde, as](const ModelInput& in, const ConstMatrixRef& v, MatrixRef out) {
    model->jvp(in, v, out);
    convert_prediction(sde, model->prediction(), as, in.t, v, out, out);
  };
  return make_model(traits, [model, &sde, as](const ModelInput& in, MatrixRef out) {
    evaluate_as(*model, sde, as, in, out);
  });
}

}  // namespace tweedie::test
