// tweedie info: the families, samplers (with their traits) and grids.
#include "commands.hpp"
#include "common.hpp"
#include "model_options.hpp"

#include <tweedie/tweedie.hpp>

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

namespace tweedie::cli {

namespace {

// The model card shipped beside a model (models/ring.md for models/ring.safetensors or .pt).
void print_card(const std::string& model_path) {
  const auto card = std::filesystem::path(model_path).replace_extension(".md");
  std::ifstream in(card);
  if (!in) return;
  std::ostringstream text;
  text << in.rdbuf();
  fmt::print("\nmodel card ({}):\n{}", card.string(), text.str());
}

// What a model declares: tweedie info --model FILE.
void print_model(const ModelOptions& options) {
  const LoadedModel loaded = load_model(options, std::nullopt);
  const ScoreModel& m = *loaded.model;
  const Conditioning c = m.conditioning();
  fmt::print("{}\n  {}\n", options.path, loaded.description);
  fmt::print("  prediction {}, dimension {}, family {}\n", to_string(m.prediction()),
             m.dim() == 0 ? std::string("any") : std::to_string(m.dim()),
             loaded.sde ? describe(*loaded.sde) : std::string("not declared (give --sde)"));
  fmt::print("  conditioning: {}\n",
             !c.conditional() ? std::string("none")
                              : fmt::format("{} classes (--class 0 .. {}){}", c.classes, c.classes - 1,
                                            c.has_null_class() ? fmt::format(", null class {}", c.null_class) : ""));
  fmt::print("  divergence {}, JVP {}, VJP {}, batch-invariant {}\n", m.has_divergence() ? "yes" : "no",
             m.has_jvp() ? "yes" : "no", m.has_vjp() ? "yes" : "no", m.batch_invariant() ? "yes" : "no");
  print_card(options.path);
}

// A target or model with decorators: tweedie info --target FILE --class 1 --guidance 2 ...
void print_problem(const ProblemOptions& options) {
  const Problem p = options.load(0);
  const ScoreModel* base = p.model.get();
  while (const auto* d = dynamic_cast<const ModelDecorator*>(base)) base = &d->inner();
  fmt::print("{}\n  {}\n", p.description, describe_capabilities(*base));
  const auto stack = describe_stack(*p.model);
  if (stack.empty()) return;
  fmt::print("decorators, outermost first:\n");
  for (const auto& line : stack) fmt::print("  {}\n", line);
}

}  // namespace

Runner add_info_command(CLI::App& app) {
  auto* sub = app.add_subcommand("info", "list the SDE families, samplers and time grids, or describe a model and its decorators");
  auto problem = std::make_shared<ProblemOptions>();
  problem->add_to(*sub);
  return [problem] {
    if (problem->model.given() && !problem->decorators.any()) return print_model(problem->model);
    if (problem->model.given() || !problem->target.empty()) return print_problem(*problem);
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
    fmt::print("Noise: Philox4x32-10 + Box-Muller, stream layout version {} (--noise-stream {} .. {})\n",
               rng_stream_version, oldest_rng_stream_version, rng_stream_version);
  };
}

}  // namespace tweedie::cli
