#include "progress.hpp"
#include "interrupt.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ostream>
#include <utility>

namespace tweedie::cli {
namespace {

constexpr double redraw_seconds = 0.1;  // at most ten lines per second
constexpr std::size_t bar_width = 16;

// `text` in at most `room` characters, "..." marking a cut.
std::string cut(const std::string& text, std::size_t room) {
  if (text.size() <= room) return text;
  if (room <= 3) return std::string(room, '.');
  return text.substr(0, room - 3) + "...";
}

}  // namespace

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string short_count(double value) {
  if (!std::isfinite(value) || value < 0.0) return "--";
  // Below 999.5 of a unit: three digits round up to at most 999 of it, never "1e+03".
  if (value < 999.5) return fmt::format("{:.3g}", value);
  if (value < 999.5e3) return fmt::format("{:.3g}k", value / 1e3);
  if (value < 999.5e6) return fmt::format("{:.3g}M", value / 1e6);
  return fmt::format("{:.3g}G", value / 1e9);
}

std::string short_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0.0 || seconds > 99.0 * 3600.0) return "--";
  const auto s = static_cast<long>(std::lround(seconds));
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, s % 3600 / 60);
}

ProgressBar::ProgressBar(ProgressOutput output, std::string label, std::size_t passes) : out_(std::move(output)) {
  start(std::move(label), passes);
}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::start(std::string label, std::size_t passes) {
  label_ = std::move(label);
  passes_ = std::max<std::size_t>(passes, 1);
  passes_done_ = rows_before_ = done_ = total_ = 0;
  if (out_.stream) started_ = out_.clock();
}

void ProgressBar::relabel(std::string label) { label_ = std::move(label); }

Execution ProgressBar::attach(Execution execution) {
  // Installed without a stream too: the interrupt reaches the library through it.
  execution.progress = [this](std::size_t done, std::size_t total) { return update(done, total); };
  return execution;
}

bool ProgressBar::update(std::size_t done, std::size_t total) {
  if (interrupted()) return false;
  if (!out_.stream || passes_done_ >= passes_) return true;  // a pass beyond the task's: not counted
  done_ = rows_before_ + done;
  // The passes still to come are taken to be as long as this one.
  total_ = rows_before_ + total * (passes_ - passes_done_);
  if (done == total) {
    rows_before_ += total;
    if (++passes_done_ == passes_) {
      finish();  // the task is done: its summary follows on a clean line
      return true;
    }
  }
  const double now = out_.clock();
  if (drawn_width_ == 0 || now - last_draw_ >= redraw_seconds) draw(now);
  return true;
}

void ProgressBar::draw(double now) {
  const double fraction = total_ > 0 ? static_cast<double>(done_) / static_cast<double>(total_) : 0.0;
  const auto filled = static_cast<std::size_t>(fraction * static_cast<double>(bar_width));
  const double elapsed = now - started_;
  const double rate = elapsed > 0.0 ? static_cast<double>(done_) / elapsed : -1.0;
  const double eta = rate > 0.0 ? static_cast<double>(total_ - done_) / rate : -1.0;
  std::string line = fmt::format(" [{}{}] {}/{} rows {}/s ETA {}", std::string(filled, '#'),
                                 std::string(bar_width - filled, '.'), done_, total_, short_count(rate),
                                 short_duration(eta));
  // One column short of the width: a line filling the last column wraps on some terminals.
  const std::size_t room = out_.columns > line.size() + 1 ? out_.columns - line.size() - 1 : 0;
  line.insert(0, cut(label_, room));
  if (out_.columns > 0 && line.size() >= out_.columns) line.resize(out_.columns - 1);  // a narrow terminal
  // Spaces over what is left of a longer previous line.
  const std::size_t pad = drawn_width_ > line.size() ? drawn_width_ - line.size() : 0;
  *out_.stream << '\r' << line << std::string(pad, ' ') << std::flush;
  drawn_width_ = line.size();
  last_draw_ = now;
}

void ProgressBar::finish() {
  if (!out_.stream || drawn_width_ == 0) return;
  *out_.stream << '\r' << std::string(drawn_width_, ' ') << '\r' << std::flush;
  drawn_width_ = 0;
}

}  // namespace tweedie::cli
