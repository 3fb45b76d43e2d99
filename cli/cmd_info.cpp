// tweedie info: the families, samplers (with their traits) and grids.
#include "commands.hpp"

#include <tweedie/tweedie.hpp>

#include <fmt/format.h>

namespace tweedie::cli {

Runner add_info_command(CLI::App& app) {
  app.add_subcommand("info", "list the SDE families, samplers and time grids");
  return [] {
    fmt::print("SDE families (T, default t_end, prior std):\n");
    for (const auto& name : sde_names()) {
      SdeSpec spec;
      spec.family = name;
      const auto sde = make_sde(spec);
      fmt::print("  {:<8} T = {:<8g} t_end = {:<8g} prior N(0, {:g}^2 I)\n", name, sde->T(),
                 sde->default_t_end(), sde->prior_std());
    }
    fmt::print("\nSamplers:\n  {:<20} {:>5} {:>9} {:>10} {:>9}  {}\n", "name", "order", "NFE/step",
               "stochastic", "consumes", "summary");
    for (const auto& e : sampler_entries()) {
      const auto& t = e.traits;
      fmt::print("  {:<20} {:>5} {:>9} {:>10} {:>9}  {}{}\n", t.name, t.order, t.nfe_per_step,
                 t.stochastic ? "yes" : "no", to_string(t.consumes), t.summary,
                 e.options_help.empty() ? "" : fmt::format(" [{}]", e.options_help));
    }
    fmt::print("\nGrids: time-uniform, log-snr, time-quadratic, karras (--rho, default 7)\n");
    fmt::print("Noise: Philox4x32-10 + Box-Muller, stream layout version {}\n", rng_stream_version);
  };
}

}  // namespace tweedie::cli
