// The reverse-time SDE and the probability-flow ODE of a forward SDE, as drift and noise terms.
#pragma once

#include <tweedie/sde.hpp>
#include <tweedie/types.hpp>

namespace tweedie {

/// dx = [f(t) x - c g(t)^2 score(x, t)] dt + [g(t) dW_bar],  integrated backwards in time:
///   reverse SDE (Anderson; Song et al.): c = 1 with the noise term,
///   probability-flow ODE:                c = 1/2 without it.
/// Both have the marginals p_t of the forward process. Thread-safe; holds a reference to `sde`.
class ReverseDynamics {
 public:
  static ReverseDynamics reverse_sde(const Sde& sde) { return {sde, 1.0, true}; }
  static ReverseDynamics probability_flow(const Sde& sde) { return {sde, 0.5, false}; }

  /// out = f(t) x - c g(t)^2 score (out may alias x or score).
  void drift(double t, const ConstMatrixRef& x, const ConstMatrixRef& score, MatrixRef out) const;
  /// The same with one time per row (row k at t(k)), with the arithmetic of the one-time form.
  void drift(const ConstVectorRef& t, const ConstMatrixRef& x, const ConstMatrixRef& score,
             MatrixRef out) const;
  /// One explicit step of the drift over dt (< 0 going back): x += drift(t, x, score) dt, in place.
  void euler_step(double t, double dt, const ConstMatrixRef& score, MatrixRef x) const;
  /// One Euler-Maruyama step of the reverse SDE over dt (< 0) with standard normals z, in place:
  ///   x += drift(t, x, score) dt + g(t) sqrt(-dt) z,
  /// in one pass, with the arithmetic of euler_step followed by x += (g sqrt(-dt)) z (the em
  /// sampler and score_sde's EM predictor share it). Without noise (the probability-flow ODE)
  /// it is euler_step.
  void euler_maruyama_step(double t, double dt, const ConstMatrixRef& score, const ConstMatrixRef& z,
                           MatrixRef x) const;
  /// g(t): multiplies dW_bar; 0 for the probability-flow ODE.
  double diffusion(double t) const { return stochastic_ ? sde_.g(t) : 0.0; }
  bool stochastic() const { return stochastic_; }
  const Sde& sde() const { return sde_; }

 private:
  ReverseDynamics(const Sde& sde, double c, bool stochastic)
      : sde_(sde), score_factor_(c), stochastic_(stochastic) {}
  const Sde& sde_;
  double score_factor_;
  bool stochastic_;
};

}  // namespace tweedie
