// The reverse-time dynamics against the closed-form probability-flow map of a Gaussian.
#include "sampling_util.hpp"

#include <doctest/doctest.h>

using namespace tweedie;

TEST_CASE("the probability-flow drift is the time derivative of the exact flow map") {
  // For one Gaussian the PF-ODE maps x_t to alpha_u mu + (x_t - alpha_t mu) sqrt(v_u / v_t);
  // its derivative in u at u = t, by central differences, must equal f x - g^2 s / 2.
  const auto target = test::single_gaussian({1.0, -2.0, 0.3}, {0.5, 0.1, 1.5});
  const VpSde vp;
  const SubVpSde subvp;
  const VeSde ve;
  const CosineSde cosine;
  const EdmSde edm;
  for (const Sde* sde : std::initializer_list<const Sde*>{&vp, &subvp, &ve, &cosine, &edm}) {
    CAPTURE(sde->name());
    for (double frac : {0.1, 0.5, 0.9}) {
      const double t = frac * sde->T(), h = 1e-5 * sde->T();
      const Matrix x = target.sample(*sde, t, 5, PhiloxNoise(2));
      Matrix score(x.rows(), x.cols()), drift(x.rows(), x.cols());
      target.score(*sde, Vector::Constant(x.rows(), t), x, score);
      ReverseDynamics::probability_flow(*sde).drift(t, x, score, drift);
      const Matrix numeric = (test::exact_flow(target, *sde, t, t + h, x) -
                              test::exact_flow(target, *sde, t, t - h, x)) / (2 * h);
      // central differences: truncation O(h^2) and rounding ~1e-16/h, both below 1e-6 relative
      CHECK((drift - numeric).cwiseAbs().maxCoeff() <= 1e-6 * (1.0 + numeric.cwiseAbs().maxCoeff()));
    }
  }
}

TEST_CASE("the reverse SDE drift carries the full g^2 score and the noise g") {
  const VpSde sde;
  const auto target = test::single_gaussian({0.5}, {0.3});
  const Matrix x = Matrix::Constant(1, 1, 0.7);
  Matrix score(1, 1), sde_drift(1, 1), ode_drift(1, 1);
  target.score(sde, Vector::Constant(1, 0.4), x, score);
  ReverseDynamics::reverse_sde(sde).drift(0.4, x, score, sde_drift);
  ReverseDynamics::probability_flow(sde).drift(0.4, x, score, ode_drift);
  const double f = sde.f(0.4), g2 = sde.g2(0.4);
  CHECK(sde_drift(0, 0) == doctest::Approx(f * 0.7 - g2 * score(0, 0)).epsilon(1e-14));
  CHECK(ode_drift(0, 0) == doctest::Approx(f * 0.7 - 0.5 * g2 * score(0, 0)).epsilon(1e-14));
  CHECK(ReverseDynamics::reverse_sde(sde).diffusion(0.4) == doctest::Approx(std::sqrt(g2)));
  CHECK(ReverseDynamics::probability_flow(sde).diffusion(0.4) == 0.0);
}
