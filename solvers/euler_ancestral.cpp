// k-diffusion's Euler ancestral sampler (k_diffusion/sampling.py:sample_euler_ancestral).
#include "karras.hpp"

#include <fmt/format.h>

namespace tweedie::solvers {
namespace {

/// Ancestral sampling with Euler steps in sigma~: an Euler step of the Karras ODE from sigma_i
/// down to sigma_down, then fresh noise of scale s_noise * sigma_up, where
/// sigma_down^2 + sigma_up^2 = sigma_{i+1}^2 and sigma_up = min(sigma_{i+1},
/// eta sqrt(sigma_{i+1}^2 (sigma_i^2 - sigma_{i+1}^2) / sigma_i^2)) (get_ancestral_step).
/// eta = 1 is DDPM's posterior variance; eta = 0 is Euler on the probability-flow ODE.
class EulerAncestral final : public Sampler {
 public:
  EulerAncestral(double eta, double s_noise) : eta_(eta), s_noise_(s_noise) {
    traits_.name = "euler-ancestral";
    traits_.summary = "k-diffusion's Euler ancestral sampler in sigma/alpha";
    traits_.order = 1;  // order 1 on the PF-ODE (eta = 0), weak order 1 otherwise
    traits_.nfe_per_step = 1;
    traits_.stochastic = eta > 0.0 && s_noise > 0.0;
    traits_.consumes = Prediction::data;
  }
  const SamplerTraits& traits() const override { return traits_; }

  void run(ChunkContext& ctx, MatrixRef x) const override {
    const auto levels = karras::grid_levels(ctx.sde(), ctx.grid());
    const std::size_t n = levels.size() - 1;
    karras::Denoiser denoise(ctx, x.rows(), x.cols());
    Matrix denoised(x.rows(), x.cols()), d(x.rows(), x.cols());
    Matrix z(traits_.stochastic ? x.rows() : 0, x.cols());
    x /= levels[0].alpha;  // x~ from here on
    for (std::size_t i = 0; i < n; ++i) {
      const karras::Level& cur = levels[i];
      const karras::Level& next = levels[i + 1];
      denoise(cur, x, denoised, i);
      const AncestralSplit split = ancestral_split(cur.sigma, next.sigma, eta_);
      karras::karras_slope(x, denoised, cur.sigma, d);
      karras::euler_to(x, denoised, d, cur.sigma, split.sigma_down);
      // sigma_up = 0 onto sigma = 0 (k-diffusion: `if sigmas[i + 1] > 0`) and when eta = 0.
      if (traits_.stochastic && split.sigma_up > 0.0) {
        ctx.noise(i, 0, NoiseStream::diffusion, z);
        x += (s_noise_ * split.sigma_up) * z;
      }
      ctx.check_state(x, i, next.t, next.alpha);  // x is x~: the observer sees alpha x~
    }
    x *= levels[n].alpha;
  }

 private:
  double eta_, s_noise_;
  SamplerTraits traits_;
};

std::unique_ptr<Sampler> make_euler_ancestral(const OptionValues& o) {
  return std::make_unique<EulerAncestral>(o.number("eta"), o.number("s_noise"));
}

}  // namespace
}  // namespace tweedie::solvers

namespace tweedie::detail {
void register_euler_ancestral() {
  // "Euler a": k-diffusion's sampler, used on its Karras grid.
  register_sampler(solvers::karras::ancestral_options(), GridSpacing::karras, solvers::make_euler_ancestral);
}
}  // namespace tweedie::detail
