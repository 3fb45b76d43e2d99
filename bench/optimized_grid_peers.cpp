// The aim of `--grid optimized` (issue 11, docs/compare.md "Optimised grids"): tweedie's best
// sampler on its best grid against the best of the 48 DPM-Solver configurations of the reference
// (dpm-solver and dpm-solver++, multistep and singlestep, orders 1 to 3, on the four spacings),
// by median PF-ODE error at 10 and 20 NFE, on mixtures drawn as builtin:mix16 is but from other
// seeds (held out: the search was developed on ring2d and mix16), with run samples of seed 0 (the
// pilot draws its own, pilot_seed(0)). Not a Google Benchmark: prints Markdown.
//
//   optimized_grid_peers [dimension] [samples] [first mixture seed] [mixtures]
#include <tweedie/tweedie.hpp>

#include <fmt/format.h>

#include <chrono>
#include <limits>
#include <string>
#include <vector>

namespace {

using tweedie::GridSpacing;

// builtin:mix16's construction (src/builtin_targets.cpp) in d dimensions from another seed.
tweedie::GaussianMixture held_out_mixture(Eigen::Index d, std::uint64_t seed) {
  constexpr Eigen::Index components = 6;
  tweedie::Matrix means(components, d), stds(components, d), w(components, 1);
  const tweedie::PhiloxNoise noise(seed, 2);
  noise.normal(0, 0, 0, tweedie::NoiseStream::marginal, means);
  noise.normal(0, 1, 0, tweedie::NoiseStream::marginal, stds);
  noise.normal(0, 2, 0, tweedie::NoiseStream::marginal, w);
  return tweedie::GaussianMixture(w.col(0).array().abs() + 0.2, 2.0 * means, stds.array().abs() * 0.3 + 0.1);
}

struct Config {
  std::string name;
  tweedie::SamplerOptions options;
  bool peer;       // one of the reference's 48
  bool optimise;   // also run on --grid optimized
  std::string label() const {
    std::string s = name;
    for (const auto& [k, v] : options.values()) s += fmt::format(":{}={}", k, v);
    return s;
  }
};

std::vector<Config> configs() {
  std::vector<Config> c;
  for (const char* name : {"dpm-solver", "dpm-solver++"}) {
    for (const char* method : {"multistep", "singlestep"}) {
      for (const char* order : {"1", "2", "3"}) {
        const bool opt = std::string(order) != "1";
        c.push_back({name, {{"method", method}, {"order", order}}, true, opt});
      }
    }
  }
  for (const char* order : {"1", "2", "3"}) c.push_back({"unipc", {{"order", order}}, false, std::string(order) != "1"});
  c.push_back({"euler", {}, false, true});
  c.push_back({"heun", {}, false, true});
  c.push_back({"ddim", {}, false, false});
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  const Eigen::Index d = argc > 1 ? std::stol(argv[1]) : 16;
  const std::size_t n = argc > 2 ? std::stoul(argv[2]) : 1000;
  const std::uint64_t first = argc > 3 ? std::stoull(argv[3]) : 101;
  const int mixtures = argc > 4 ? std::stoi(argv[4]) : 3;
  const tweedie::VpSde sde;
  const auto ends = tweedie::make_grid(sde, {.steps = 1});
  fmt::print("VP, d = {}, {} samples of seed 0, median ODE error against dopri5 at 1e-10; mixtures of seeds {}..{}\n\n",
             d, n, first, first + static_cast<std::uint64_t>(mixtures) - 1);
  fmt::print("| mixture | NFE | best peer (of 48) | its error | best tweedie, fixed grid | error | best tweedie, optimized | "
             "error | pilot NFE/row | search s | tweedie best / peer best |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (int m = 0; m < mixtures; ++m) {
    const std::uint64_t seed = first + static_cast<std::uint64_t>(m);
    const auto target = held_out_mixture(d, seed);
    const auto model = tweedie::exact_model(target, sde);
    const tweedie::Matrix start =
        tweedie::sample_prior(sde, d, n, 0, tweedie::PhiloxNoise(0));
    tweedie::SampleOptions so;
    so.init = &start;
    const auto dopri5 = tweedie::make_sampler("dopri5", {{"rtol", "1e-10"}, {"atol", "1e-10"}});
    const tweedie::Matrix reference = tweedie::sample(sde, *model, *dopri5, ends, so).samples;
    for (int budget : {10, 20}) {
      struct Best {
        std::string what;
        double error = std::numeric_limits<double>::infinity();
        void offer(const std::string& w, double e) {
          if (e < error) {
            error = e;
            what = w;
          }
        }
      } peer, fixed, optimized;
      double pilot_nfe = 0.0, search_seconds = 0.0;
      for (const Config& c : configs()) {
        const auto sampler = tweedie::make_sampler(c.name, c.options);
        int steps = 1;
        while (sampler->nfe(static_cast<std::size_t>(steps) + 1) <= static_cast<std::size_t>(budget)) ++steps;
        auto run = [&](const std::vector<double>& grid) {
          try {
            return tweedie::ode_error(tweedie::sample(sde, *model, *sampler, grid, so).samples, reference).median;
          } catch (const tweedie::NonFiniteError&) {
            return std::numeric_limits<double>::infinity();
          }
        };
        for (GridSpacing s : {GridSpacing::time_uniform, GridSpacing::log_snr, GridSpacing::time_quadratic,
                              GridSpacing::karras}) {
          const double e = run(tweedie::make_grid(sde, {.spacing = s, .steps = steps}));
          const std::string w = fmt::format("{} {}", c.label(), tweedie::to_string(s));
          if (c.peer) peer.offer(w, e);
          fixed.offer(w, e);
        }
        if (!c.optimise) continue;
        tweedie::OptimizedGridOptions o;
        o.steps = steps;
        o.seed = 0;
        const auto t0 = std::chrono::steady_clock::now();
        const tweedie::OptimizedGrid g = tweedie::optimize_grid(sde, *model, *sampler, o);
        search_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const double e = run(g.times);
        if (e < optimized.error) pilot_nfe = g.pilot_nfe;
        optimized.offer(fmt::format("{} (from {})", c.label(), g.start), e);
      }
      const double best = std::min(fixed.error, optimized.error);
      fmt::print("| {} | {} | {} | {:.3e} | {} | {:.3e} | {} | {:.3e} | {:.0f} | {:.1f} | {:.2f} |\n", seed, budget,
                 peer.what, peer.error, fixed.what, fixed.error, optimized.what, optimized.error, pilot_nfe,
                 search_seconds, best / peer.error);
      std::fflush(stdout);
    }
  }
}
