// k-diffusion's DPM-Solver++(2M) SDE and DPM-Solver++(3M) SDE
// (k_diffusion/sampling.py:sample_dpmpp_2m_sde, sample_dpmpp_3m_sde).
#include "karras.hpp"

#include <fmt/format.h>

#include <utility>

namespace tweedie::solvers {
namespace {

/// Multistep data-prediction exponential integrators of the SDE family
///   dx~ = (1 + eta)(D - x~) dlambda + sigma~ sqrt(2 eta) dW   (lambda = -log sigma~),
/// whose marginals are those of the forward process for every eta >= 0 (eta = 0: the PF-ODE).
/// With h = lambda_{i+1} - lambda_i and h_eta = (1 + eta) h, one step is
///   x~ <- e^{-h_eta} x~ + (1 - e^{-h_eta}) D_i + [correction from D_{i-1}, D_{i-2}]
///         + s_noise sigma~_{i+1} sqrt(1 - e^{-2 eta h}) z_i,
/// e^{-h_eta} being k-diffusion's (sigma_{i+1}/sigma_i) e^{-eta h}. The step onto sigma = 0
/// returns x~ = D_i (k-diffusion's "denoising step").
///   2M (order 2): with r = h_{i-1}/h, midpoint: + (1 - e^{-h_eta})/(2r) (D_i - D_{i-1});
///                 heun: + h_eta psi_2(h_eta)/r (D_i - D_{i-1}). First step first order.
///   3M (nominally order 3): k-diffusion's d1, d2 from two past values: + phi_2 d1 - phi_3 d2 with
///                 phi_2 = h_eta psi_2, phi_3 = -h_eta psi_3; one past value: + phi_2 (D_i - D_{i-1})/r.
/// The reference's d2 is half the second derivative term (d2 ~ h^2 D''/2 where the exact
/// integral has h^3 psi_3 D''), so its local error is h^3 D''/12: the reference 3M is globally
/// second order. --variant taylor doubles the d2 term (the Taylor coefficient), which restores
/// order 3; the default stays the reference update.
/// Noise: k-diffusion draws z_i from a BrownianTreeNoiseSampler (W(sigma_{i+1}) - W(sigma_i) of a
/// torchsde Brownian tree over sigma, normalised); here z_i is ctx.noise(i, 0, diffusion), the
/// counter-based normal of step i. Same distribution (independent standard normals per step),
/// different numbers; and the numbers do not stay on one Brownian path when the grid is refined.
class DpmppMultistepSde final : public Sampler {
 public:
  enum class Variant { midpoint, heun, reference, taylor };

  DpmppMultistepSde(int order, Variant variant, double eta, double s_noise)
      : order_(order), variant_(variant), eta_(eta), s_noise_(s_noise) {
    traits_.name = order == 2 ? "dpm++2m-sde" : "dpm++3m-sde";
    traits_.summary = order == 2 ? "k-diffusion's DPM-Solver++(2M) SDE in sigma/alpha"
                                 : "k-diffusion's DPM-Solver++(3M) SDE in sigma/alpha";
    traits_.stochastic = eta > 0.0 && s_noise > 0.0;
    // eta = 0: the order of the multistep formula on the PF-ODE (reference 3M: 2, see above).
    // eta > 0: weak order 2, measured exactly on Gaussian data in tests/test_karras.cpp (the
    // Taylor d2 term does not raise it: the path of D is rough).
    traits_.order = order == 3 && variant == Variant::taylor && !traits_.stochastic ? 3 : 2;
    traits_.nfe_per_step = 1;
    traits_.consumes = Prediction::data;
  }
  const SamplerTraits& traits() const override { return traits_; }

  void run(ChunkContext& ctx, MatrixRef x) const override {
    const auto levels = karras::grid_levels(ctx.sde(), ctx.grid());
    const std::size_t n = levels.size() - 1;
    karras::Denoiser denoise(ctx, x.rows(), x.cols());
    // The newest model value and the two before it (swapped, never copied).
    Matrix denoised(x.rows(), x.cols()), prev1(x.rows(), x.cols()), prev2(x.rows(), x.cols());
    Matrix z(traits_.stochastic ? x.rows() : 0, x.cols());
    Matrix d1_0(order_ == 3 ? x.rows() : 0, x.cols()), d1_1(order_ == 3 ? x.rows() : 0, x.cols());
    double h1 = 0.0, h2 = 0.0;  // the lambda steps before this one
    std::size_t history = 0;     // how many of prev1, prev2 hold values
    x /= levels[0].alpha;        // x~ from here on
    for (std::size_t i = 0; i < n; ++i) {
      const karras::Level& cur = levels[i];
      const karras::Level& next = levels[i + 1];
      denoise(cur, x, denoised, i);
      if (next.noiseless()) {
        x = denoised;  // the denoising step
      } else {
        const double h = next.lambda - cur.lambda;
        const double h_eta = (1.0 + eta_) * h;
        const double phi1 = h_eta * karras::psi(1, h_eta);  // 1 - e^{-h_eta} = -expm1(-h_eta)
        x = std::exp(-h_eta) * x + phi1 * denoised;
        if (order_ == 2 && history >= 1) {
          const double r = h1 / h;
          const double c = variant_ == Variant::midpoint ? 0.5 * phi1
                                                         : h_eta * karras::psi(2, h_eta);
          x += (c / r) * (denoised - prev1);
        } else if (order_ == 3 && history >= 2) {
          const double r0 = h1 / h, r1 = h2 / h;
          const double phi2 = h_eta * karras::psi(2, h_eta);
          const double phi3 = -h_eta * karras::psi(3, h_eta);
          d1_0 = (denoised - prev1) / r0;
          d1_1 = (prev1 - prev2) / r1;
          const double d2_scale = variant_ == Variant::taylor ? 2.0 : 1.0;
          // x += phi_2 d1 - phi_3 d2, d1 = d1_0 + (d1_0 - d1_1) r0/(r0 + r1),
          // d2 = (d1_0 - d1_1)/(r0 + r1).
          x += phi2 * d1_0 + (phi2 * r0 - d2_scale * phi3) / (r0 + r1) * (d1_0 - d1_1);
        } else if (order_ == 3 && history == 1) {
          const double r = h1 / h;
          x += (h_eta * karras::psi(2, h_eta) / r) * (denoised - prev1);
        }
        if (traits_.stochastic) {
          ctx.noise(i, 0, NoiseStream::diffusion, z);
          // sqrt(1 - e^{-2 eta h}) = sqrt(-expm1(-2 eta h))
          x += (s_noise_ * next.sigma * std::sqrt(-std::expm1(-2.0 * eta_ * h))) * z;
        }
        h2 = h1;
        h1 = h;
      }
      ctx.check_state(x, i, next.t, next.alpha);  // x is x~: the observer sees alpha x~
      std::swap(prev2, prev1);
      std::swap(prev1, denoised);
      history = std::min<std::size_t>(history + 1, 2);
    }
    x *= levels[n].alpha;
  }

 private:
  int order_;
  Variant variant_;
  double eta_, s_noise_;
  SamplerTraits traits_;
};

std::vector<OptionSpec> dpmpp_sde_options(int order) {
  std::vector<OptionSpec> o = karras::ancestral_options();
  o.push_back(order == 2 ? OptionSpec::choice("variant", {"midpoint", "heun"}, "k-diffusion's solver_type")
                         : OptionSpec::choice("variant", {"reference", "taylor"},
                                              "reference: k-diffusion's update; taylor: third order at eta = 0"));
  return o;
}

std::unique_ptr<Sampler> make_dpmpp_sde(int order, const OptionValues& o) {
  using Variant = DpmppMultistepSde::Variant;
  const std::string& variant = o.text("variant");
  const Variant v = order == 2 ? (variant == "midpoint" ? Variant::midpoint : Variant::heun)
                               : (variant == "reference" ? Variant::reference : Variant::taylor);
  return std::make_unique<DpmppMultistepSde>(order, v, o.number("eta"), o.number("s_noise"));
}

}  // namespace
}  // namespace tweedie::solvers

namespace tweedie::detail {
void register_dpmpp_sde() {
  for (int order : {2, 3}) {
    // "DPM++ 2M SDE Karras" / "DPM++ 3M SDE": k-diffusion's samplers on its Karras grid.
    register_sampler(solvers::dpmpp_sde_options(order), GridSpacing::karras,
                     [order](const OptionValues& o) { return solvers::make_dpmpp_sde(order, o); });
  }
}
}  // namespace tweedie::detail
