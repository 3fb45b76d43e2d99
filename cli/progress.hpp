// A progress bar on one line of a terminal, fed by the library's progress callback
// (tweedie::Progress): rows done and total, rows per second and the time left.
#pragma once

#include <tweedie/parallel.hpp>

#include <cstddef>
#include <functional>
#include <iosfwd>
#include <string>

namespace tweedie::cli {

/// Seconds of a steady clock (what a bar measures rates with; tests give their own).
double steady_seconds();

/// Where a bar draws: a stream (none: nowhere), the width of its line (a terminal's columns: a
/// longer line would wrap, and '\r' would no longer rewrite it) and the clock of its rates.
struct ProgressOutput {
  std::ostream* stream = nullptr;
  std::size_t columns = 80;
  std::function<double()> clock = steady_seconds;
};

/// Draws "LABEL [#####...........] 4096/10000 rows 2.1k/s ETA 3s" (the label cut to fit the
/// line), rewriting the line with '\r' at most ten times per second, and blanks the line when its
/// task ends, when finish() is called or when it is destroyed (an error unwinding past it), so
/// that the next line (a summary, an error) starts clean. A bar without a stream draws nothing.
/// Either way it is the command's progress callback, which cancels the library's call once the
/// program is interrupted (interrupt.hpp).
class ProgressBar {
 public:
  /// A bar on `output` (no stream: drawing nothing) whose first task is start(label, passes).
  ProgressBar(ProgressOutput output, std::string label, std::size_t passes = 1);
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  /// Starts a task of `passes` library calls over the same rows (encode and its round trip's
  /// decode: 2): its rows are those of all its passes, its rate and ETA measured from now.
  void start(std::string label, std::size_t passes = 1);
  /// Shows `label` from the next line on, the task's count and clock kept (compare: the run in
  /// progress of its one task).
  void relabel(std::string label);
  /// `execution` reporting to this bar (its progress callback replaced by update()). The bar
  /// must outlive the calls made with it.
  Execution attach(Execution execution);
  /// The callback's body: the pass in progress has `done` of its `total` rows. Returns false
  /// once the program is interrupted (the library then cancels the call), else true.
  bool update(std::size_t done, std::size_t total);
  /// Blanks the line if the bar is drawn; the bar draws again on the next update.
  void finish();

 private:
  void draw(double now);
  ProgressOutput out_;
  std::string label_;
  std::size_t passes_ = 1, passes_done_ = 0;
  std::size_t rows_before_ = 0;  ///< rows of the finished passes
  double started_ = 0.0, last_draw_ = 0.0;
  std::size_t done_ = 0, total_ = 0;  ///< of the task
  std::size_t drawn_width_ = 0;       ///< 0: nothing on the line
};

/// "999", "2.05k", "32M": a rate in three significant digits ("--" when unknown).
std::string short_count(double value);
/// "42s", "3m05s", "2h07m": a duration for the ETA ("--" when unknown).
std::string short_duration(double seconds);

}  // namespace tweedie::cli
