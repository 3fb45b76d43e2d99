// k-diffusion's DPM-2 sampler (k_diffusion/sampling.py:sample_dpm_2).
#include "karras.hpp"

#include <fmt/format.h>

namespace tweedie::solvers {
namespace {

/// "A sampler inspired by DPM-Solver-2 and Algorithm 2 from Karras et al. (2022)": the midpoint
/// method on the Karras ODE dx~/dsigma~ = (x~ - D)/sigma~ with the midpoint at the geometric mean
/// sigma_mid = exp((log sigma_hat + log sigma_{i+1}) / 2), and the same churn as sample_heun.
/// The last step is an Euler step whatever its end (k-diffusion: only onto sigma = 0), so that,
/// as for heun, NFE = 2N - 1 on every grid; the global order stays 2 (see heun.cpp for what
/// the Euler last step costs on grids whose last step is long in sigma~).
class Dpm2 final : public Sampler {
 public:
  explicit Dpm2(karras::Churn churn) : churn_(churn) {
    traits_.name = "dpm2";
    traits_.summary = "k-diffusion's DPM-2: log-sigma midpoint method in sigma/alpha";
    traits_.order = 2;  // with churn too: weak order 2 (see heun.cpp)
    traits_.nfe_per_step = 2;
    traits_.stochastic = churn.stochastic();
    traits_.consumes = Prediction::data;
  }
  const SamplerTraits& traits() const override { return traits_; }
  std::size_t nfe(std::size_t steps) const override { return steps == 0 ? 0 : 2 * steps - 1; }

  void run(ChunkContext& ctx, MatrixRef x) const override {
    const Sde& sde = ctx.sde();
    const auto levels = karras::grid_levels(sde, ctx.grid());
    const std::size_t n = levels.size() - 1;
    karras::Denoiser denoise(ctx, x.rows(), x.cols());
    Matrix denoised(x.rows(), x.cols()), d(x.rows(), x.cols()), x2(x.rows(), x.cols());
    Matrix z(churn_.stochastic() ? x.rows() : 0, x.cols());
    x /= levels[0].alpha;  // x~ from here on
    for (std::size_t i = 0; i < n; ++i) {
      const karras::Level hat = churn_.raise(ctx, levels[i], i, x, z);
      const karras::Level& next = levels[i + 1];
      denoise(hat, x, denoised, i);
      karras::karras_slope(x, denoised, hat.sigma, d);
      if (i + 1 == n || next.noiseless()) {
        karras::euler_to(x, denoised, d, hat.sigma, next.sigma);  // Euler step
      } else {
        const karras::Level mid = karras::level_of_lambda(sde, 0.5 * (hat.lambda + next.lambda));
        x2 = x + d * (mid.sigma - hat.sigma);
        denoise(mid, x2, denoised, i);
        karras::karras_slope(x2, denoised, mid.sigma, d);
        x += d * (next.sigma - hat.sigma);
      }
      ctx.check_state(x, i, next.t);
    }
    x *= levels[n].alpha;
  }

 private:
  karras::Churn churn_;
  SamplerTraits traits_;
};

std::unique_ptr<Sampler> make_dpm2(const SamplerOptions& o) {
  return std::make_unique<Dpm2>(karras::Churn::read(o, "dpm2"));
}

}  // namespace
}  // namespace tweedie::solvers

namespace tweedie::detail {
void register_dpm2() {
  register_sampler({solvers::make_dpm2({})->traits(), solvers::karras::Churn::help,
                    solvers::make_dpm2});
}
}  // namespace tweedie::detail
