#include "compare_runs.hpp"
#include "compare_truth.hpp"
#include "grid_choice.hpp"
#include "sample_by_rank.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <utility>

namespace tweedie::cli {
namespace {

// The ODE solver of the reference, and its tolerance options.
constexpr const char* reference_sampler = "dopri5";

std::string tolerance_text(double tol) { return fmt::format("tol {:g}", tol); }

// The grid of an adaptive sampler (only its end points matter): T to the family's t_end.
std::vector<double> adaptive_grid(const std::string& sampler, const Sde& sde) {
  GridOptions g = default_grid(sampler, sde, 1);
  g.append_zero = false;
  return make_grid(sde, g);
}

// The largest number of steps whose NFE fits the budget (0 when even one step does not).
int steps_for_budget(const Sampler& sampler, bool to_noiseless, int budget) {
  auto cost = [&](int steps) {
    const auto n = static_cast<std::size_t>(steps);
    return to_noiseless ? sampler.nfe_to_noiseless(n) : sampler.nfe(n);
  };
  int steps = 0;
  while (steps < budget && cost(steps + 1) <= static_cast<std::size_t>(budget)) ++steps;
  return steps;
}

// The tolerances an adaptive choice runs at: the sweep, or once (0: none set) when the choice
// sets its own.
std::vector<double> tolerance_sweep(const SamplerChoice& choice, const CompareSettings& s) {
  const bool own = choice.options.get("rtol") || choice.options.get("atol");
  return own ? std::vector<double>{0.0} : s.tolerances;
}

// The comparison's one bar: every sample() call (the runs and the reference solutions) is a
// pass over this rank's block, counted into the total of all of them, so that the ETA is the
// whole comparison's.
class ComparisonBar {
 public:
  ComparisonBar(ProgressOutput output, std::size_t calls, std::size_t rows_per_call)
      : bar_(std::move(output), "compare"), rows_(rows_per_call), total_(calls * rows_per_call) {}
  // `execution` counting into the bar under `label`, until call_ended().
  Execution attach(Execution execution, std::string label) {
    bar_.relabel(std::move(label));
    execution.progress = [this](std::size_t done, std::size_t) {
      return bar_.update(std::min(before_ + done, total_), total_);
    };
    return execution;
  }
  // The call ended, finished or failed: its rows count as done.
  void call_ended() { before_ = std::min(before_ + rows_, total_); }

 private:
  ProgressBar bar_;
  std::size_t rows_, total_, before_ = 0;
};

// A row of the table as planned before anything runs: the sampler and the grid it runs on, or
// none when it failed while planned (no step fits its budget, a grid refused).
struct ComparisonRun {
  RunRow row;
  std::shared_ptr<const Sampler> sampler;
  std::vector<double> grid;
};

class Comparison {
 public:
  Comparison(const Problem& p, const GroundTruth& ground, const CompareSettings& s, ProgressOutput progress)
      : p_(p), ground_(ground), s_(s) {
    results_.settings = s;
    results_.description = p.description;
    results_.family = p.sde->name();
    results_.dim = p.dim();
    results_.data_rows = ground.data_rows();
    for (const auto& choice : s.samplers) {
      const SamplerEntry& entry = sampler_entry(choice.name);
      if (entry.traits.adaptive) {
        plan_adaptive(choice, entry);
      } else {
        for (const auto& grid : s.grids) plan_fixed(choice, entry, grid);
      }
    }
    // The calls: every planned run, and two reference solutions per end time.
    std::size_t calls = 0;
    std::vector<double> ends;
    for (const auto& run : runs_) {
      if (!run.sampler) continue;
      ++calls;
      if (std::find(ends.begin(), ends.end(), run.grid.back()) == ends.end()) ends.push_back(run.grid.back());
    }
    bar_.emplace(std::move(progress), calls + 2 * ends.size(), Ranks::get().block(s.count).count);
  }

  ComparisonResults run_all() {
    for (std::size_t k = 0; k < runs_.size(); ++k) {
      ComparisonRun& run = runs_[k];
      if (run.sampler) {
        try {
          measure_run(run.row, k + 1, *run.sampler, run.grid);
        } catch (const InvalidArgument& e) {
          run.row.failure = e.what();
        }
      }
      results_.rows.push_back(std::move(run.row));
    }
    return std::move(results_);
  }

 private:
  void plan_fixed(const SamplerChoice& choice, const SamplerEntry& entry, const std::optional<std::string>& grid) {
    const std::shared_ptr<const Sampler> sampler = make_sampler(choice.name, choice.options);
    const std::string grid_label =
        grid ? *grid : fmt::format("{} (default)", to_string(grid_options(choice.name, *p_.sde, 1, grid).spacing));
    for (int budget : s_.budgets) {
      ComparisonRun run;
      run.row.sampler = choice.label;
      run.row.grid = grid_label;
      run.row.budget = std::to_string(budget);
      run.row.deterministic = !entry.traits.stochastic;
      try {
        GridOptions g = grid_options(choice.name, *p_.sde, 1, grid);
        const bool to_noiseless = g.append_zero && reaches_zero_noise(*p_.sde);
        run.row.steps = steps_for_budget(*sampler, to_noiseless, budget);
        if (run.row.steps == 0) {
          throw InvalidArgument(fmt::format("one step takes more than {} NFE", budget));
        }
        g.steps = run.row.steps;
        RunGrid planned = run_grid(*p_.sde, *p_.model, *sampler, g, grid, s_.seed);
        run.grid = std::move(planned.times);
        run.row.grid_search = std::move(planned.optimized);
        run.sampler = sampler;
      } catch (const InvalidArgument& e) {
        run.row.failure = e.what();
      }
      runs_.push_back(std::move(run));
    }
  }

  void plan_adaptive(const SamplerChoice& choice, const SamplerEntry& entry) {
    // Tolerances the choice sets itself are kept: then it runs once.
    const bool own = choice.options.get("rtol") || choice.options.get("atol");
    for (double tol : tolerance_sweep(choice, s_)) {
      SamplerOptions options = choice.options;
      if (!own) {
        options.set("rtol", fmt::format("{:g}", tol));
        options.set("atol", fmt::format("{:g}", tol));
      }
      ComparisonRun run;
      run.row.sampler = choice.label;
      run.row.grid = "adaptive";
      run.row.budget = own ? "own tol" : tolerance_text(tol);
      run.row.deterministic = !entry.traits.stochastic;
      try {
        run.sampler = make_sampler(choice.name, options);
        run.grid = adaptive_grid(choice.name, *p_.sde);
      } catch (const InvalidArgument& e) {
        run.row.failure = e.what();
        run.sampler.reset();
      }
      runs_.push_back(std::move(run));
    }
  }

  // One sample() call over the ranks, counted in the bar under `label`: the samples and their
  // statistics at rank 0, nullopt elsewhere.
  std::optional<SampleResult> call(const Sampler& sampler, const std::vector<double>& grid, std::string label) {
    SampleOptions o;
    o.num_samples = s_.count;
    o.seed = s_.seed;  // the same seed: every run starts from the same prior draws
    o.noise_stream = s_.noise_stream;
    o.execution = bar_->attach(s_.execution, std::move(label));
    struct Ended {
      ComparisonBar& bar;
      ~Ended() { bar.call_ended(); }
    } ended{*bar_};
    return sample_by_rank(*p_.sde, *p_.model, sampler, grid, o);
  }

  // The truth of runs ending at grid.back(), made on first use (at rank 0; the ranks' blocks of
  // its reference solutions everywhere).
  std::size_t truth_for(const std::vector<double>& grid) {
    for (std::size_t i = 0; i < results_.truths.size(); ++i) {
      if (results_.truths[i].t_end == grid.back()) return i;
    }
    results_.truths.push_back(make_truth(grid));
    return results_.truths.size() - 1;
  }

  Truth make_truth(const std::vector<double>& grid) {
    Truth truth;
    truth.t_end = grid.back();
    // A grid ending at sigma = 0 (EDM) ends its samplers with a jump onto the denoiser, which
    // dopri5 would make too: the reference instead integrates to t = 1e-8 T, where the drift of
    // the PF-ODE (f x - g^2 score / 2, O(t) on EDM) leaves a displacement O(t^2 |score|) to 0.
    const std::vector<double> span{grid.front(), grid.back() > 0.0 ? grid.back() : 1e-8 * grid.front()};
    auto solve = [&](double tol) {
      const std::string t = fmt::format("{:g}", tol);
      return call(*make_sampler(reference_sampler, {{"rtol", t}, {"atol", t}}), span,
                  fmt::format("reference {} tol {}", reference_sampler, t));
    };
    std::optional<SampleResult> reference = solve(s_.reference_tolerance);
    const std::optional<SampleResult> check = solve(10.0 * s_.reference_tolerance);
    if (!reference) return truth;  // not rank 0
    GroundTruth::Sets sets = ground_.sets(truth.t_end, s_);
    truth.exact = std::move(sets.partner);
    truth.floor = ground_.measure(truth.t_end, sets.second, truth.exact, s_);
    truth.reference = std::move(reference->samples);
    truth.reference_nfe = reference->stats.nfe_per_sample;
    truth.reference_check = ode_error(check->samples, truth.reference);
    return truth;
  }

  void measure_run(RunRow& row, std::size_t index, const Sampler& sampler, const std::vector<double>& grid) {
    row.truth = truth_for(grid);
    std::optional<SampleResult> r;
    try {
      r = call(sampler, grid, fmt::format("run {}/{} {} {} {}", index, runs_.size(), row.sampler, row.grid, row.budget));
    } catch (const SampleRunError& e) {
      row.failure = e.what();
      return;
    }
    if (!r) return;  // not rank 0: the metrics are rank 0's
    const Truth& truth = results_.truths[row.truth];
    if (row.deterministic) row.ode = ode_error(r->samples, truth.reference);
    row.metrics = ground_.measure(truth.t_end, r->samples, truth.exact, s_);
    row.nfe_per_sample = r->stats.nfe_per_sample;
    row.wall_seconds = r->stats.wall_seconds;
    row.samples_per_second = r->stats.samples_per_second;
    row.preview = r->samples.topRows(std::min<Eigen::Index>(preview_rows, r->samples.rows()));
  }

  const Problem& p_;
  const GroundTruth& ground_;
  const CompareSettings& s_;
  std::vector<ComparisonRun> runs_;  // the rows of the table, planned
  std::optional<ComparisonBar> bar_;
  ComparisonResults results_;
};

}  // namespace

SamplerChoice parse_sampler_choice(const std::string& text) {
  SamplerChoice c;
  c.label = text;
  std::size_t at = text.find(':');
  c.name = text.substr(0, at);
  while (at != std::string::npos) {
    const std::size_t next = text.find(':', at + 1);
    const std::string item = text.substr(at + 1, next == std::string::npos ? std::string::npos : next - at - 1);
    const std::size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw InvalidArgument(fmt::format("--samplers: '{:.64}' is not NAME:KEY=VALUE (in '{:.64}')", item, text));
    }
    c.options.set(item.substr(0, eq), item.substr(eq + 1));
    at = next;
  }
  static_cast<void>(make_sampler(c.name, c.options));  // refuses an unknown name or option now, naming it
  return c;
}

void CompareSettings::validate() const {
  if (target.empty() == model.empty()) {
    throw InvalidArgument("compare needs exactly one of --target (an exact target) and --model (a learned network)");
  }
  if (!model.empty() && data.empty()) {
    throw InvalidArgument("--model needs --data FILE.npy (rows of the data the distribution metrics compare with)");
  }
  if (model.empty() && !data.empty()) {
    throw InvalidArgument("--data is for --model: with --target the exact target is the truth");
  }
  if (samplers.empty()) throw InvalidArgument("--samplers: give at least one sampler");
  if (grids.empty()) throw InvalidArgument("--grids: give at least one grid");
  for (const auto& g : grids) {
    if (g && !is_optimized(g)) grid_spacing_named(*g);  // refuses an unknown name
  }
  if (budgets.empty()) throw InvalidArgument("--nfe: give at least one budget");
  for (int b : budgets) {
    if (b < 1 || b > 1000000) throw InvalidArgument(fmt::format("--nfe: each budget must be in 1..1000000, got {}", b));
  }
  if (tolerances.empty()) throw InvalidArgument("--tolerances: give at least one tolerance");
  for (double t : tolerances) {
    if (!(t > 0.0 && t < 1.0)) throw InvalidArgument(fmt::format("--tolerances: each must be in (0, 1), got {:g}", t));
  }
  if (count < 2) throw InvalidArgument(fmt::format("-n: the metrics need two samples or more, got {}", count));
  if (projections < 1) throw InvalidArgument(fmt::format("--projections must be >= 1, got {}", projections));
  if (!(reference_tolerance >= 1e-14 && reference_tolerance <= 1e-6)) {
    throw InvalidArgument(fmt::format("--reference-tol must be in [1e-14, 1e-6], got {:g}", reference_tolerance));
  }
  execution.validate();
}

ComparisonResults run_comparison(const Problem& problem, const CompareSettings& settings, ProgressOutput progress) {
  settings.validate();
  const GroundTruth ground = problem.target ? GroundTruth(*problem.target, *problem.sde)
                                            : GroundTruth(read_compare_data(settings.data, problem.dim(), settings.count),
                                                          *problem.sde);
  return Comparison(problem, ground, settings, std::move(progress)).run_all();
}

}  // namespace tweedie::cli
