// tweedie compare: samplers x grids x NFE budgets against an exact target, or a learned network
// against its own tight ODE solution and --data, with a report folder.
#include "commands.hpp"
#include "common.hpp"
#include "compare_report.hpp"
#include "compare_runs.hpp"
#include "interrupt.hpp"
#include "ranks.hpp"

#include <fmt/format.h>

#include <memory>

namespace tweedie::cli {
namespace {

struct CompareCommand {
  ProblemOptions problem;
  RunOptions run;
  std::vector<std::string> samplers;
  std::vector<std::string> grids{"default"};
  std::vector<int> budgets{5, 10, 20, 50};
  std::vector<double> tolerances{1e-2, 1e-3, 1e-4, 1e-5};
  std::size_t count = 10000;
  int projections = 128;
  double reference_tolerance = 1e-10;
  std::string data;
  std::string report;

  void execute() const {
    CompareSettings s;
    s.target = problem.target;
    s.model = problem.model.path;
    s.data = data;
    s.sde = problem.sde;
    for (const auto& text : samplers) s.samplers.push_back(parse_sampler_choice(text));
    for (const auto& g : grids) s.grids.push_back(g == "default" ? std::nullopt : std::optional<std::string>(g));
    s.budgets = budgets;
    s.tolerances = tolerances;
    s.count = count;
    s.seed = run.seed;
    s.noise_stream = run.noise_stream;
    s.execution = run.execution();
    s.projections = projections;
    s.reference_tolerance = reference_tolerance;
    s.validate();
    const Problem p = problem.load(run.seed);
    const ComparisonResults r = run_comparison(p, s, run.progress_output());
    if (!Ranks::get().root()) return;  // rank 0 holds the metrics and writes the report
    stop_if_interrupted();  // nothing written after an interrupt
    const std::string plot_message = write_report(r, report);
    fmt::print("{}\nreport: {}/report.md (table also in results.csv, every setting in report.json", report_markdown(r),
               report);
    if (plot_message.empty()) fmt::print("; plots {} as .png and .svg", plot_names(r));
    fmt::print(")\n");
    if (!plot_message.empty()) fmt::print(stderr, "tweedie: {}\n", plot_message);
  }
};

}  // namespace

Runner add_compare_command(CLI::App& app) {
  auto cmd = std::make_shared<CompareCommand>();
  CLI::App* sub = app.add_subcommand("compare",
                                     "every sampler x grid x NFE budget against an exact target (or a model against "
                                     "its own ODE and --data), from the same noise; writes a report");
  // One of --target and --model (CompareSettings::validate). No --class, --labels or decorator
  // flags: the reference and the data would not follow them, so they are refused as unknown.
  cmd->problem.add_target_to(*sub);
  cmd->problem.model.add_to(*sub);
  sub->add_option("--data", cmd->data,
                  "with --model: data rows (n, d) .npy, in the model's space, that the distribution metrics compare "
                  "with (2n rows or more)");
  cmd->run.add_to(*sub);
  cmd->run.add_noise_stream_to(*sub);
  sub->add_option("--samplers", cmd->samplers,
                  "comma-separated samplers, each NAME or NAME:KEY=VALUE:... (its options, e.g. dpm-solver++:order=3)")
      ->delimiter(',')
      ->required();
  sub->add_option("--grids", cmd->grids,
                  "comma-separated grids: default (each sampler's), time-uniform, log-snr, time-quadratic, karras, optimized")
      ->delimiter(',')
      ->capture_default_str();
  sub->add_option("--nfe", cmd->budgets, "comma-separated NFE budgets per sample (fixed-step samplers)")
      ->delimiter(',')
      ->capture_default_str();
  sub->add_option("--tolerances", cmd->tolerances, "comma-separated rtol = atol of the adaptive samplers")
      ->delimiter(',')
      ->capture_default_str();
  sub->add_option("-n,--count", cmd->count, "samples per run (and exact samples or --data rows)")->capture_default_str();
  sub->add_option("--projections", cmd->projections, "directions of the sliced Wasserstein distance")
      ->capture_default_str();
  sub->add_option("--reference-tol", cmd->reference_tolerance, "rtol = atol of the dopri5 reference solution")
      ->capture_default_str();
  sub->add_option("--report", cmd->report, "report folder (created; its files are replaced)")->required();
  return [cmd] { cmd->execute(); };
}

}  // namespace tweedie::cli
