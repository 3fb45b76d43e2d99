#include "euler.hpp"

#include <cmath>

namespace tweedie::solvers {
namespace {

SamplerTraits euler_traits(bool stochastic) {
  SamplerTraits t;
  t.name = stochastic ? "em" : "euler";
  t.summary = stochastic ? "Euler-Maruyama on the reverse SDE" : "Euler on the probability-flow ODE";
  t.order = 1;
  t.nfe_per_step = 1;
  t.stochastic = stochastic;
  t.consumes = Prediction::score;
  return t;
}

}  // namespace

EulerKernel::EulerKernel(bool stochastic)
    : stochastic_(stochastic), traits_(euler_traits(stochastic)) {}

void EulerKernel::run(ChunkContext& ctx, MatrixRef x) const {
  const Sde& sde = ctx.sde();
  const auto grid = ctx.grid();
  const double c = stochastic_ ? 1.0 : 0.5;  // reverse SDE vs probability-flow ODE
  Matrix score(x.rows(), x.cols());
  Matrix z(stochastic_ ? x.rows() : 0, x.cols());
  for (std::size_t i = 0; i + 1 < grid.size(); ++i) {
    const double t = grid[i];
    const double dt = grid[i + 1] - t;  // negative: time runs backwards
    ctx.predict(Prediction::score, t, x, score, i);
    const double g2 = sde.g2(t);
    x = (1.0 + sde.f(t) * dt) * x - (c * g2 * dt) * score;
    if (stochastic_) {
      ctx.noise(i, 0, NoiseStream::diffusion, z);
      x += std::sqrt(-g2 * dt) * z;
    }
    ctx.check_state(x, i, grid[i + 1]);
  }
}

}  // namespace tweedie::solvers

namespace tweedie::detail {
void register_euler() {
  for (bool stochastic : {true, false}) {
    register_sampler({solvers::EulerKernel(stochastic).traits(), "",
                      [stochastic](const SamplerOptions&) {
                        return std::make_unique<solvers::EulerKernel>(stochastic);
                      }});
  }
}
}  // namespace tweedie::detail
