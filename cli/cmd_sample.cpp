// tweedie sample: draw samples through the reverse SDE or the probability-flow ODE.
#include "commands.hpp"
#include "common.hpp"
#include "grid_choice.hpp"
#include "library_terms.hpp"
#include "trajectory.hpp"

#include <tweedie/split.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tweedie::cli {
namespace {

// Every option a sampler declares is a flag (--NAME, '_' written '-'), given to the sampler as its
// option NAME; the sampler refuses the ones it does not declare (so --eta with em is an error).
// One flag per name, its help from the declarations: adding an option to a sampler adds its flag.
struct SamplerFlag {
  std::string name;  // the option's name
  std::string help;
};
std::vector<SamplerFlag> sampler_flags() {
  std::vector<SamplerFlag> flags;
  for (const auto& e : sampler_entries()) {
    for (const auto& o : e.options) {
      auto f = std::find_if(flags.begin(), flags.end(), [&](const SamplerFlag& s) { return s.name == o.name; });
      if (f == flags.end()) f = flags.insert(flags.end(), {o.name, o.help + "; default by sampler:"});
      f->help += fmt::format(" {} {}", e.traits.name, o.default_value.empty() ? "auto" : o.default_value);
    }
  }
  return flags;
}

struct SampleCommand {
  ProblemOptions problem;
  RunOptions run;
  std::string sampler = "em";
  int steps = 100;
  std::optional<std::string> grid;  // none: the sampler's default grid
  std::optional<double> t_start, t_end;
  double rho = 7.0;
  std::string times_path, init_path, out_path;
  std::size_t count = 1000;
  bool denoise = false;
  std::string trajectory_path;
  std::size_t every = 1;
  std::map<std::string, std::string> sampler_options;  // key -> value as given

  void execute() const {
    if (!trajectory_path.empty()) check_trajectory_path(trajectory_path);
    const Problem p = problem.load(run.seed);
    const Sde& sde = *p.sde;
    SamplerOptions options;
    for (const auto& [key, value] : sampler_options) options.set(key, value);
    auto solver = make_sampler(sampler, options);

    std::vector<double> times;
    std::string grid_note;  // the optimised grid's cost, for the summary
    if (!times_path.empty()) {
      times = read_npy_vector(times_path, "--times");
      validate_grid(sde, times);
    } else {
      GridOptions g = grid_options(sampler, sde, steps, grid);
      g.t_start = t_start.value_or(-1.0);
      g.t_end = t_end.value_or(-1.0);
      g.rho = rho;
      RunGrid planned = run_grid(sde, *p.model, *solver, g, grid, run.seed);
      times = std::move(planned.times);
      grid_note = optimized_grid_note(planned);
    }
    std::optional<Matrix> init;
    if (!init_path.empty()) {
      init = read_npy_matrix(init_path, "--init");
      if (p.dim() != 0 && init->cols() != p.dim()) {
        throw InvalidArgument(
            fmt::format("--init has {} columns but the model's dimension is {}", init->cols(), p.dim()));
      }
    }
    SampleOptions o;
    o.num_samples = count;
    o.seed = run.seed;
    o.noise_stream = run.noise_stream;
    o.execution = run.execution();
    o.denoise = denoise;
    o.init = init ? &*init : nullptr;
    const std::size_t n = init ? static_cast<std::size_t>(init->rows()) : count;
    o.labels = problem.labels.labels(n);
    if (p.imputation && p.imputation->observation_rows() > 1 &&
        static_cast<std::size_t>(p.imputation->observation_rows()) != n) {
      throw InvalidArgument(fmt::format("--observe/--mask have {} rows for {} samples (give 1 or {})",
                                        p.imputation->observation_rows(), n, n));
    }
    // The whole job's checks on every rank, so that their messages name its rows as one call's.
    validate_sample_job(sde, *p.model, times, o);
    Ranks& ranks = Ranks::get();
    const SampleBlock block = ranks.block(n);
    SampleOptions part = o;
    part.first_sample = block.first;
    part.num_samples = block.count;
    part.labels = labels_of(o.labels, block);
    Matrix init_rows;
    if (init && ranks.size() > 1) {
      init_rows = init->middleRows(static_cast<Eigen::Index>(block.first), static_cast<Eigen::Index>(block.count));
      part.init = &init_rows;
    }
    std::optional<TrajectoryRecorder> trajectory;
    if (!trajectory_path.empty()) {
      trajectory.emplace(times.size() - 1, every, block.first, block.count, init ? init->cols() : p.dim());
      part.observer = trajectory->observer();
    }
    ProgressBar bar(run.progress_output(), "sample");  // rank 0's block
    part.execution = bar.attach(part.execution);
    const SampleResult r = ranks.run_part([&] {
      if (block.count == 0) return SampleResult{};
      SampleResult mine = sample(sde, *p.model, *solver, times, part);
      if (p.imputation) p.imputation->restore_observed(block.first, mine.samples);
      return mine;
    });
    const Matrix samples = ranks.gather_rows(r.samples);
    const SampleStats stats = gather_sample_stats(ranks, r.stats, block.count);
    const std::size_t saved = trajectory ? trajectory->write(ranks, trajectory_path) : 0;
    if (!ranks.root()) return;
    write_output(out_path, samples);
    const std::string steps_text =
        solver->traits().adaptive
            ? fmt::format("adaptive, accepted/rejected steps per sample {:.1f}/{:.1f}",
                          stats.accepted_steps_per_sample, stats.rejected_steps_per_sample)
            : fmt::format("{} steps{}", stats.steps, grid_note);
    fmt::print("{}: {}, NFE/sample {:g}, {:.3f} s, {:.4g} samples/s{}, {} x {} -> {} ({})\n", stats.sampler,
               steps_text, stats.nfe_per_sample, stats.wall_seconds, stats.samples_per_second, ranks_note(ranks),
               samples.rows(), samples.cols(), out_path, run.noise_settings());
    if (trajectory) {
      fmt::print("trajectory: {} saved steps x {} x {} -> {}\n", saved, samples.rows(), samples.cols(),
                 trajectory_path);
    }
  }
};

}  // namespace

Runner add_sample_command(CLI::App& app) {
  auto cmd = std::make_shared<SampleCommand>();
  CLI::App* sub = app.add_subcommand("sample", "draw samples from a Gaussian-mixture target or a trained model");
  cmd->problem.add_to(*sub);
  cmd->run.add_to(*sub);
  cmd->run.add_noise_stream_to(*sub);
  sub->add_option("--sampler", cmd->sampler, "sampler name (see tweedie info)")->capture_default_str();
  for (const auto& f : sampler_flags()) {
    const std::string name = f.name;
    sub->add_option_function<std::string>(
        flag_of(name), [cmd, name](const std::string& v) { cmd->sampler_options[name] = v; }, f.help);
  }
  sub->add_option("--steps", cmd->steps, "number of grid steps")->capture_default_str();
  sub->add_option("--grid", cmd->grid,
                  "time-uniform, log-snr, time-quadratic, karras or optimized (from a pilot solve; default: the sampler's, see tweedie info; "
                  "karras on edm, ending with the step to sigma = 0)");
  sub->add_option("--t-start", cmd->t_start, "first grid time (default: the family's T)");
  sub->add_option("--t-end", cmd->t_end,
                  "last grid time (default 1e-3 VP/sub-VP/cosine, 1e-5 VE, sigma_min EDM)");
  sub->add_option("--rho", cmd->rho, "Karras grid exponent")->capture_default_str();
  sub->add_option("--times", cmd->times_path,
                  "explicit decreasing time grid (.npy); replaces --steps/--grid/--t-start/--t-end")
      ->excludes(sub->get_option("--steps"))
      ->excludes(sub->get_option("--grid"))
      ->excludes(sub->get_option("--t-start"))
      ->excludes(sub->get_option("--t-end"));
  sub->add_option("--init", cmd->init_path, "initial state (.npy, rows = samples, already scaled)");
  sub->add_option("-n,--count", cmd->count, "number of samples (without --init)")
      ->capture_default_str();
  sub->add_flag("--denoise", cmd->denoise, "finish with Tweedie's denoising step (one more NFE)");
  sub->add_option("--trajectory", cmd->trajectory_path,
                  "also write the states after steps K, 2K, ... and the last step as a (saved steps, n, d) .npy "
                  "(K = --every; the steps the sampler reports: adaptive samplers only the last; before "
                  "--denoise)");
  sub->add_option("--every", cmd->every, "with --trajectory: keep every K-th step")->capture_default_str();
  sub->add_option("--out", cmd->out_path, "output file (.npy, or .csv)")->required();
  return [cmd] { cmd->execute(); };
}

}  // namespace tweedie::cli
