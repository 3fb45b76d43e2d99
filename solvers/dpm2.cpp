// k-diffusion's DPM-2 sampler (k_diffusion/sampling.py:sample_dpm_2).
#include "karras.hpp"

namespace tweedie::solvers {
namespace {

/// "A sampler inspired by DPM-Solver-2 and Algorithm 2 from Karras et al. (2022)": the midpoint
/// method on the Karras ODE dx~/dsigma~ = (x~ - D)/sigma~ with the midpoint at the geometric mean
/// sigma_mid = exp((log sigma_hat + log sigma_{i+1}) / 2), and the same churn as sample_heun.
/// The last step is an Euler step whatever its end (k-diffusion: only onto sigma = 0), so that,
/// as for heun, NFE = 2N - 1 on every grid; the global order stays 2 (see heun.cpp for what
/// the Euler last step costs on grids whose last step is long in sigma~).
class Dpm2 final : public karras::TwoStageSampler {
 public:
  explicit Dpm2(karras::Churn churn)
      : TwoStageSampler(churn, {.name = "dpm2",
                                .summary = "k-diffusion's DPM-2: log-sigma midpoint method in "
                                           "sigma/alpha",
                                .order = 2}) {}

 private:
  void second_stage(const Sde& sde, karras::Denoiser& denoise, const karras::Level& hat,
                    const karras::Level& next, std::size_t step, MatrixRef x,
                    Scratch& s) const override {
    const karras::Level mid = karras::level_of_lambda(sde, 0.5 * (hat.lambda + next.lambda));
    s.x2 = x + s.d * (mid.sigma - hat.sigma);
    denoise(mid, s.x2, s.denoised, step);
    karras::karras_slope(s.x2, s.denoised, mid.sigma, s.d);
    x += s.d * (next.sigma - hat.sigma);
  }
};

std::unique_ptr<Sampler> make_dpm2(const OptionValues& o) {
  return std::make_unique<Dpm2>(karras::Churn::read(o));
}

}  // namespace
}  // namespace tweedie::solvers

namespace tweedie::detail {
void register_dpm2() {
  using namespace solvers;
  // k-diffusion's and EDM's grid (get_sigmas_karras, edm_sampler's time steps).
  register_sampler(karras::Churn::options(), GridSpacing::karras, make_dpm2);
}
}  // namespace tweedie::detail
