#include "euler.hpp"

#include <tweedie/reverse.hpp>


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
  const auto grid = ctx.grid();
  const auto dynamics = stochastic_ ? ReverseDynamics::reverse_sde(ctx.sde())
                                    : ReverseDynamics::probability_flow(ctx.sde());
  Matrix score(x.rows(), x.cols());
  Matrix z(stochastic_ ? x.rows() : 0, x.cols());
  for (std::size_t i = 0; i + 1 < grid.size(); ++i) {
    const double t = grid[i];
    const double dt = grid[i + 1] - t;  // negative: time runs backwards
    ctx.predict_for_step(Prediction::score, t, x, score, i);
    if (stochastic_) {
      ctx.noise(i, 0, NoiseStream::diffusion, z);
      dynamics.euler_maruyama_step(t, dt, score, z, x);
    } else {
      dynamics.euler_step(t, dt, score, x);
    }
    ctx.check_state(x, i, grid[i + 1]);
  }
}

}  // namespace tweedie::solvers

namespace tweedie::detail {
void register_euler() {
  for (bool stochastic : {true, false}) {
    // score_sde's samplers step uniformly in t (linspace(T, eps, N)).
    register_sampler({}, GridSpacing::time_uniform, [stochastic](const OptionValues&) {
      return std::make_unique<solvers::EulerKernel>(stochastic);
    });
  }
}
}  // namespace tweedie::detail
