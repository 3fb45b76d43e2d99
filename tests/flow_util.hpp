// Helpers shared by the probability-flow tests (likelihoods, JVPs, encode/decode): exact samples
// of p_{t_min} with their closed-form log-density, and the mixture's own p_T as the prior.
#pragma once

#include <tweedie/gaussian_mixture.hpp>
#include <tweedie/likelihood.hpp>

#include <cstdint>

namespace tweedie::test {

struct ExactCase {
  Matrix x;      ///< exact samples of p_{t_min}
  Vector exact;  ///< log p_{t_min}(x), closed form
};

inline ExactCase exact_case(const GaussianMixture& g, const Sde& sde, double t_min, std::size_t n,
                            std::uint64_t seed) {
  ExactCase c;
  c.x = g.sample(sde, t_min, n, PhiloxNoise(seed));
  c.exact.resize(c.x.rows());
  g.log_density(sde, Vector::Constant(c.x.rows(), t_min), c.x, c.exact);
  return c;
}

/// The mixture's own p_T as the prior: the closed-form check is then exact.
inline LikelihoodOptions with_exact_prior(const GaussianMixture& g, const Sde& sde) {
  LikelihoodOptions o;
  o.prior_log_density = [&g, &sde](const Eigen::Ref<const Eigen::RowVectorXd>& x) {
    Vector out(1);
    g.log_density(sde, Vector::Constant(1, sde.T()), Matrix(x), out);
    return out(0);
  };
  return o;
}

}  // namespace tweedie::test
