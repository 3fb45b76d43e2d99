// The sampler interface, the context a sampler runs in, and the registry of samplers by name.
#pragma once

#include <tweedie/grid.hpp>
#include <tweedie/model.hpp>
#include <tweedie/observer.hpp>
#include <tweedie/random.hpp>
#include <tweedie/sde.hpp>

#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace tweedie {

/// What a sampler is, as `tweedie info` prints it and the tests read it.
struct SamplerTraits {
  std::string name;
  std::string summary;
  int order = 1;             ///< global order on the probability-flow ODE (weak order for SDEs)
  int nfe_per_step = 1;      ///< model evaluations per grid step
  bool stochastic = false;   ///< draws noise at each step
  Prediction consumes = Prediction::score;  ///< the parameterisation its update rule uses
  bool adaptive = false;     ///< chooses its own steps per sample (the grid gives the end points)
};

/// Everything a sampler needs while it integrates one chunk of rows over the grid. Made by the
/// driver for each chunk; the sampler never sees threads or other chunks.
class ChunkContext {
 public:
  /// `labels`: the chunk's class labels, one per row (empty: unconditional).
  ChunkContext(const Sde& sde, const ScoreModel& model, const NoiseSource& noise,
               std::span<const double> grid, std::uint64_t first_row, Eigen::Index rows,
               std::span<const int> labels = {});

  const Sde& sde() const { return sde_; }
  std::span<const double> grid() const { return grid_; }
  std::size_t steps() const { return grid_.size() - 1; }
  std::uint64_t first_row() const { return first_row_; }

  /// out = the model's prediction at (x, t) for every row of the chunk, as `want`; the model sees
  /// each row's global sample index and label. Counts one evaluation per row and throws
  /// NonFiniteError (naming the sample, step and t) if any output is not finite.
  void predict(Prediction want, double t, const ConstMatrixRef& x, MatrixRef out, std::size_t step);
  /// The same for a step whose new state depends on every entry of `out` (a non-finite output
  /// then makes the state non-finite) and which leaves `out` unchanged until the step's
  /// check_state: the output is not searched here but only when that check_state finds the state
  /// non-finite, and the error still names the model output, the sample, `step` and t. So a step
  /// costs one finiteness pass, over the state. (A later predict or finish_checks checks an output
  /// no check_state has covered.)
  void predict_for_step(Prediction want, double t, const ConstMatrixRef& x, MatrixRef out,
                        std::size_t step);
  /// Checks the output of a predict_for_step that no check_state has covered yet (the driver
  /// calls it after the sampler; it costs nothing when there is none).
  void finish_checks();
  /// The same with one time per row, for rows given by their index in the chunk (samplers with
  /// a step size per sample evaluate only the rows still running; empty `rows`: every row in
  /// order). The model sees the sample index and label of each of those rows.
  void predict(Prediction want, const ConstVectorRef& t, const ConstMatrixRef& x, MatrixRef out,
               std::size_t step, std::span<const Eigen::Index> rows);
  /// The same for rows that each have their own step count (steps[k] for rows[k], in the error
  /// messages), without throwing: the rows whose output is not finite are handed to
  /// `on_non_finite` in order, each with the NonFiniteError that names it (one vectorised check of
  /// the whole output; the rows are searched only when it fails). Returns whether all were finite.
  bool predict(Prediction want, const ConstVectorRef& t, const ConstMatrixRef& x, MatrixRef out,
               std::span<const std::size_t> steps, std::span<const Eigen::Index> rows,
               const std::function<void(Eigen::Index, const NonFiniteError&)>& on_non_finite);
  /// out = standard normals for these rows at (step, stage, stream).
  void noise(std::size_t step, std::uint32_t stage, NoiseStream stream, MatrixRef out) const;
  /// The end of step `step` (0-based; the state is now at time t): throws NonFiniteError if the
  /// state has a non-finite entry, naming the model output of the last predict_for_step instead
  /// when that output is the cause; then calls the observer, if any, with the state scale * x
  /// (`scale`: the Karras samplers keep x~ = x / alpha(t)). Every sampler calls it once after
  /// each of its steps, and only there: the one seam of observers (observer.hpp).
  void check_state(const ConstMatrixRef& x, std::size_t step, double t, double scale = 1.0);
  /// The same check inside a step (score_sde's corrector steps before its predictor): not observed.
  void check_substep(const ConstMatrixRef& x, std::size_t step, double t);
  /// Whether an observer watches this chunk (adaptive samplers then compute their dense output).
  bool observed() const { return observer_ != nullptr; }
  /// The event of grid point `k` (1 .. N-1) of an adaptive sampler, whose rows `x` are each
  /// row's state at grid[k] by dense output (src/dense_output.hpp), without x0. Its event of
  /// grid point N is check_state's, as for every sampler.
  void observe_grid_point(std::size_t k, const ConstMatrixRef& x);
  /// Observes this chunk's steps with `observer` (not owned; nullptr or an empty function: none).
  /// With one, the first model evaluation after each step's start is also kept as x0 for it.
  void set_observer(const StepObserver* observer);
  /// Model evaluations made so far, summed over rows.
  std::size_t row_evaluations() const { return row_evaluations_; }
  /// Adaptive samplers report their accepted and rejected steps (summed over rows).
  void count_steps(std::size_t accepted, std::size_t rejected) {
    accepted_steps_ += accepted;
    rejected_steps_ += rejected;
  }
  std::size_t accepted_steps() const { return accepted_steps_; }
  std::size_t rejected_steps() const { return rejected_steps_; }

 private:
  const Sde& sde_;
  const ScoreModel& model_;
  const NoiseSource& noise_;
  std::span<const double> grid_;
  std::uint64_t first_row_;
  std::span<const int> labels_;
  /// The ModelInput of rows `rows` of the chunk (all rows when empty) at times t.
  ModelInput input(const ConstVectorRef& t, const ConstMatrixRef& x, std::span<const Eigen::Index> rows);
  void check_output(Prediction want, const ConstVectorRef& t, const ConstMatrixRef& out,
                    std::size_t step, std::span<const Eigen::Index> rows) const;
  /// The output of a predict_for_step not yet covered by a check_state.
  struct PendingOutput {
    Prediction want;
    const double* data;
    Eigen::Index rows, cols, stride;
    std::size_t step;
  };
  std::optional<PendingOutput> pending_;
  /// Keeps the data prediction of the step's first evaluation (uniform time, every row) for the
  /// observer.
  void keep_x0(Prediction want, const ConstMatrixRef& x, const ConstMatrixRef& out);
  const StepObserver* observer_ = nullptr;
  Matrix x0_;              // the step's x0, when x0_kept_
  bool x0_kept_ = false;
  Matrix scaled_;          // scratch: scale * x for the observer
  Vector times_;  // scratch: one time per row
  std::vector<std::uint64_t> samples_;  // scratch: the global sample index of each row evaluated
  std::vector<int> row_labels_;         // scratch: the label of each row evaluated (gathered)
  std::size_t row_evaluations_ = 0;
  std::size_t accepted_steps_ = 0, rejected_steps_ = 0;
};

/// A sampler: immutable options plus a kernel that integrates one chunk in place over the grid
/// (grid[0] -> grid[N]). Stateless between calls, so one object serves every chunk concurrently.
class Sampler {
 public:
  virtual ~Sampler() = default;
  virtual const SamplerTraits& traits() const = 0;
  virtual void run(ChunkContext& ctx, MatrixRef x) const = 0;
  /// Model evaluations per sample over a grid of `steps` steps (fixed-step samplers).
  virtual std::size_t nfe(std::size_t steps) const {
    return steps * static_cast<std::size_t>(traits().nfe_per_step);
  }
  /// The same on a grid that ends at sigma = 0, where a sampler may replace its last step by the
  /// exact first-order step onto the data (one evaluation of the denoiser).
  virtual std::size_t nfe_to_noiseless(std::size_t steps) const { return nfe(steps); }
};

/// Named sampler options as strings, as a command line or code gives them ("eta" -> "0.5").
/// Plain data: make_sampler checks them against the sampler's declared options each time, so one
/// object can be reused for several samplers and nothing is remembered between calls.
class SamplerOptions {
 public:
  SamplerOptions() = default;
  SamplerOptions(std::initializer_list<std::pair<const std::string, std::string>> items)
      : values_(items) {}
  void set(const std::string& key, const std::string& value) { values_[key] = value; }
  /// The value given for `key`, if any.
  std::optional<std::string> get(const std::string& key) const;
  const std::map<std::string, std::string>& values() const { return values_; }

 private:
  std::map<std::string, std::string> values_;
};

/// What kind of value a sampler option takes.
enum class OptionType {
  real,     ///< a finite decimal number (the default may be inf)
  integer,  ///< a decimal integer
  choice,   ///< one of a list of words
};
std::string_view to_string(OptionType t);

/// One option a sampler declares: its name, type, default, allowed values and help. The registry
/// checks every given option against its sampler's declarations; `tweedie info`, the CLI's flags
/// (`--` + name with '_' as '-') and its help are derived from them.
struct OptionSpec {
  std::string name;                  ///< e.g. "eta", "s_noise"
  OptionType type = OptionType::real;
  std::string default_value;         ///< as text ("0", "inf", "multistep"); "" when chosen at run time
  double min = -std::numeric_limits<double>::infinity();  ///< numbers: allowed range
  double max = std::numeric_limits<double>::infinity();
  bool min_exclusive = false;        ///< numbers: min < value instead of min <= value
  std::vector<std::string> choices;  ///< choice: the allowed words, the default first
  std::string help;                  ///< what it sets (and the default when chosen at run time)

  /// A real option in [min, max] (or (min, max] when min_exclusive).
  static OptionSpec real(std::string name, std::string default_value, double min, double max,
                         std::string help, bool min_exclusive = false);
  static OptionSpec integer(std::string name, int default_value, int min, int max, std::string help);
  /// A choice among `choices`; the first is the default.
  static OptionSpec choice(std::string name, std::vector<std::string> choices, std::string help);
  /// "in [0, inf)", "in 1..3", "one of multistep, singlestep": the allowed values, as messages say them.
  std::string allowed() const;
};

/// A sampler's options after the registry checked them against its declarations: every declared
/// option has a value, the given one or its default. Asking for an undeclared option, or with
/// the wrong type, is a programming error (std::logic_error).
class OptionValues {
 public:
  OptionValues(std::string sampler, const std::vector<OptionSpec>& specs, const SamplerOptions& given);
  const std::string& sampler() const { return sampler_; }
  double number(const std::string& name) const;
  int integer(const std::string& name) const;
  const std::string& text(const std::string& name) const;
  /// Whether the caller gave the option (rather than leaving its default).
  bool given(const std::string& name) const;

 private:
  struct Value {
    const OptionSpec* spec;
    std::string text;
    double number = 0.0;
    bool given = false;
  };
  const Value& value(const std::string& name, OptionType type) const;
  std::string sampler_;
  std::map<std::string, Value, std::less<>> values_;
};

using SamplerFactory = std::function<std::unique_ptr<Sampler>(const OptionValues&)>;
struct SamplerEntry {
  SamplerTraits traits;
  std::vector<OptionSpec> options;  ///< what make_sampler accepts, with defaults and ranges
  /// The grid its reference samples on when none is given (see default_grid).
  GridSpacing default_grid = GridSpacing::time_uniform;
  SamplerFactory make;
};

/// Every registered sampler, in name order.
std::vector<SamplerEntry> sampler_entries();
/// The registry entry of `name`; an unknown name is refused with InvalidArgument listing the known.
const SamplerEntry& sampler_entry(const std::string& name);
/// Builds a sampler by name. Each given option is checked against the sampler's declarations
/// (InvalidArgument "sampler em takes no option eta", "option eta of sampler ddim must be in
/// [0, inf), got -1", ...), then the sampler checks how they combine.
std::unique_ptr<Sampler> make_sampler(const std::string& name, const SamplerOptions& options = {});
/// The grid `sampler` samples on when the caller gives none, over `steps` steps: its reference's
/// (SamplerEntry::default_grid) from T to the family's default t_end; on a family whose sigma
/// reaches 0 (EDM) the Karras grid for every sampler, as EDM and k-diffusion sample there, with
/// its final step to sigma = 0 (GridOptions::append_zero).
GridOptions default_grid(const std::string& sampler, const Sde& sde, int steps);
/// Adds a sampler to the registry (each file in solvers/ registers its own).
void register_sampler(SamplerEntry entry);
/// The same with the traits of the sampler `make` builds with every option at its default.
void register_sampler(std::vector<OptionSpec> options, GridSpacing default_grid, SamplerFactory make);

}  // namespace tweedie
