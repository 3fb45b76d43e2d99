// Error against NFE for every deterministic sampler on the probability-flow ODE of a Gaussian
// mixture, from exact samples of p_T, against a tight reference solution: the table behind
// docs/samplers.md. Prints Markdown.
//
//   compare_samplers [samples] [dimension]
#include <tweedie/tweedie.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <string>

namespace {

// The median over samples of the per-sample RMS error (tweedie::ode_error): the mean would be
// dominated by the rare samples that a coarse solver sends into the neighbouring mode (an O(1)
// error each). `tweedie compare` makes this table, and more, for any target (docs/compare.md).
double error(const tweedie::Matrix& a, const tweedie::Matrix& b) { return tweedie::ode_error(a, b).median; }

}  // namespace

int main(int argc, char** argv) {
  const std::size_t n = argc > 1 ? std::stoul(argv[1]) : 2000;
  const Eigen::Index d = argc > 2 ? std::stol(argv[2]) : 16;

  // A 6-component mixture with unequal weights and widths, VP SDE, t from 1 to 1e-3.
  tweedie::Matrix means(6, d), stds(6, d), w(6, 1);
  const tweedie::PhiloxNoise noise(2024);
  noise.normal(0, 0, 0, tweedie::NoiseStream::marginal, means);
  noise.normal(0, 1, 0, tweedie::NoiseStream::marginal, stds);
  noise.normal(0, 2, 0, tweedie::NoiseStream::marginal, w);
  const tweedie::GaussianMixture target(w.col(0).array().abs() + 0.2, 2.0 * means,
                                        stds.array().abs() * 0.3 + 0.1);
  const tweedie::VpSde sde;
  const auto model = tweedie::exact_model(target, sde);
  const double t_end = 1e-3;
  const tweedie::Matrix start = target.sample(sde, sde.T(), n, tweedie::PhiloxNoise(1));
  tweedie::SampleOptions options;
  options.init = &start;

  // Reference: DPM-Solver++ order 3 with the Taylor-consistent update on 4000 log-SNR steps,
  // checked against 2000 steps (their difference bounds its error).
  auto solve = [&](const std::string& name, const tweedie::SamplerOptions& o, int steps,
                   tweedie::GridSpacing spacing) {
    const auto grid = tweedie::make_grid(sde, {.spacing = spacing, .steps = steps, .t_end = t_end});
    return tweedie::sample(sde, *model, *tweedie::make_sampler(name, o), grid, options);
  };
  const tweedie::SamplerOptions taylor3{{"order", "3"}, {"variant", "taylor"}};
  const auto reference = solve("dpm-solver++", taylor3, 4000, tweedie::GridSpacing::log_snr).samples;
  const double floor = error(reference, solve("dpm-solver++", taylor3, 2000, tweedie::GridSpacing::log_snr).samples);

  fmt::print("PF-ODE error (median over {} samples of the RMS over {} dimensions; NFE per sample "
             "in brackets) against a reference whose own error is below {:.1e}; VP, log-SNR grid, "
             "t from 1 to {}.\n\n",
             n, d, floor, t_end);
  fmt::print("| sampler | NFE ~10 | NFE ~20 | NFE ~50 | NFE ~100 |\n|---|---|---|---|---|\n");
  for (const auto& entry : tweedie::sampler_entries()) {
    const auto& traits = entry.traits;
    if (traits.stochastic || traits.adaptive) continue;
    std::string row = fmt::format("| {} |", traits.name);
    for (int budget : {10, 20, 50, 100}) {
      const int steps = std::max(1, budget / traits.nfe_per_step);
      const auto r = solve(traits.name, {}, steps, tweedie::GridSpacing::log_snr);
      row += fmt::format(" {:.2e} ({:g}) |", error(r.samples, reference), r.stats.nfe_per_sample);
    }
    fmt::print("{}\n", row);
  }
  fmt::print("\nAdaptive samplers (error, mean NFE per sample) by tolerance:\n\n");
  fmt::print("| sampler | tol 1e-2 | tol 1e-3 | tol 1e-4 | tol 1e-5 |\n|---|---|---|---|---|\n");
  for (const auto& entry : tweedie::sampler_entries()) {
    const auto& traits = entry.traits;
    if (traits.stochastic || !traits.adaptive) continue;
    std::string row = fmt::format("| {} |", traits.name);
    for (const char* tol : {"1e-2", "1e-3", "1e-4", "1e-5"}) {
      const auto r = solve(traits.name, {{"rtol", tol}, {"atol", tol}}, 1, tweedie::GridSpacing::log_snr);
      row += fmt::format(" {:.2e} ({:.0f}) |", error(r.samples, reference), r.stats.nfe_per_sample);
    }
    fmt::print("{}\n", row);
  }
  return EXIT_SUCCESS;
}
