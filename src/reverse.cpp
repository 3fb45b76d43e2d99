#include <tweedie/reverse.hpp>

#include <cmath>

namespace tweedie {

void ReverseDynamics::drift(const ConstVectorRef& t, const ConstMatrixRef& x,
                            const ConstMatrixRef& score, MatrixRef out) const {
  Eigen::ArrayXd f(t.size()), c(t.size());
  for (Eigen::Index k = 0; k < t.size(); ++k) {
    f(k) = sde_.f(t(k));
    c(k) = score_factor_ * sde_.g2(t(k));
  }
  out = (x.array().colwise() * f - score.array().colwise() * c).matrix();
}

void ReverseDynamics::drift(double t, const ConstMatrixRef& x, const ConstMatrixRef& score,
                            MatrixRef out) const {
  out = sde_.f(t) * x - (score_factor_ * sde_.g2(t)) * score;
}

void ReverseDynamics::euler_step(double t, double dt, const ConstMatrixRef& score, MatrixRef x) const {
  // (1 + f dt) x - c g^2 dt s: the same arithmetic as x + drift dt with f x dt folded in.
  x = (1.0 + sde_.f(t) * dt) * x - (score_factor_ * sde_.g2(t) * dt) * score;
}

void ReverseDynamics::euler_maruyama_step(double t, double dt, const ConstMatrixRef& score,
                                          const ConstMatrixRef& z, MatrixRef x) const {
  if (!stochastic_) return euler_step(t, dt, score, x);
  const double noise_scale = diffusion(t) * std::sqrt(-dt);
  x = ((1.0 + sde_.f(t) * dt) * x - (score_factor_ * sde_.g2(t) * dt) * score) + noise_scale * z;
}

}  // namespace tweedie
