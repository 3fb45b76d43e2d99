#include "ddim.hpp"

#include <fmt/format.h>

#include <limits>

namespace tweedie::solvers {

Ddim::Ddim(double eta) : eta_(eta) {
  traits_.name = "ddim";
  traits_.summary = fmt::format("DDIM, eta = {:g} (deterministic at eta = 0)", eta);
  traits_.order = 1;
  traits_.nfe_per_step = 1;
  traits_.stochastic = eta > 0.0;
  traits_.consumes = Prediction::noise;
}

void Ddim::run(ChunkContext& ctx, MatrixRef x) const {
  const auto points = schedule_points(ctx.sde(), ctx.grid());
  Matrix eps(x.rows(), x.cols()), z(traits_.stochastic ? x.rows() : 0, x.cols());
  for (std::size_t i = 0; i + 1 < points.size(); ++i) {
    const SchedulePoint &s = points[i], &t = points[i + 1];
    ctx.predict_for_step(Prediction::noise, s.t, x, eps, i);
    const Matrix x0 = (x - s.sigma * eps) / s.alpha;
    if (t.noiseless()) {
      x = t.alpha * x0;
    } else {
      const double s_eta = eta_ * t.sigma * std::sqrt(-std::expm1(-2.0 * (t.lambda - s.lambda)));
      // eta > 1 asks for more noise than sigma_t: the deterministic part then vanishes.
      const double s_det = std::sqrt(std::max(t.sigma * t.sigma - s_eta * s_eta, 0.0));
      x = t.alpha * x0 + s_det * eps;
      if (s_eta > 0.0) {
        ctx.noise(i, 0, NoiseStream::diffusion, z);
        x += s_eta * z;
      }
    }
    ctx.check_state(x, i, t.t);
  }
}

}  // namespace tweedie::solvers

namespace tweedie::detail {
void register_ddim() {
  // DDIM's uniform skip of the timesteps: the time-uniform grid.
  register_sampler({OptionSpec::real("eta", "0", 0.0, std::numeric_limits<double>::infinity(),
                                     "noise of each step: 0 deterministic, 1 DDPM's posterior variance")},
                   GridSpacing::time_uniform,
                   [](const OptionValues& o) { return std::make_unique<solvers::Ddim>(o.number("eta")); });
}
}  // namespace tweedie::detail
