#include "trajectory.hpp"
#include "interrupt.hpp"

#include <tweedie/npy.hpp>

#include <fmt/format.h>

#include <filesystem>
#include <stdexcept>
#include <vector>

namespace tweedie::cli {

void check_trajectory_path(const std::string& path) {
  if (path == "-") {
    throw InvalidArgument("--trajectory cannot be '-' (standard output is --out's): give a file name ending in .npy");
  }
  const bool npy = path.size() >= 4 && path.compare(path.size() - 4, 4, ".npy") == 0;
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  const bool special = !ec && std::filesystem::exists(status) && !std::filesystem::is_regular_file(status) &&
                       !std::filesystem::is_directory(status);
  if (!npy && !special) {
    throw InvalidArgument(fmt::format("cannot write '{}': --trajectory is written as .npy (a name ending in .npy)", path));
  }
}

TrajectoryRecorder::TrajectoryRecorder(std::size_t steps, std::size_t every, std::uint64_t first, std::size_t rows,
                                       Eigen::Index dim)
    : steps_(steps), every_(every), slices_(steps / every + (steps % every != 0 ? 1 : 0)), first_(first),
      rows_(rows), states_(static_cast<Eigen::Index>(slices_ * rows), dim),
      written_(std::make_unique<std::atomic<std::size_t>[]>(slices_)) {
  states_.setZero();
}

std::ptrdiff_t TrajectoryRecorder::slice_of(std::size_t step) const {
  if (step == steps_) return static_cast<std::ptrdiff_t>(slices_) - 1;
  if (step == 0 || step > steps_ || step % every_ != 0) return -1;
  return static_cast<std::ptrdiff_t>(step / every_) - 1;
}

StepObserver TrajectoryRecorder::observer() {
  return [this](const StepEvent& e) {
    const std::ptrdiff_t s = slice_of(e.step);
    if (s < 0) return;
    // Chunks write disjoint rows of the slice: no lock needed.
    const auto row = static_cast<Eigen::Index>(static_cast<std::size_t>(s) * rows_ + (e.first_sample - first_));
    states_.middleRows(row, e.x.rows()) = e.x;
    written_[static_cast<std::size_t>(s)].fetch_add(static_cast<std::size_t>(e.x.rows()), std::memory_order_relaxed);
  };
}

std::size_t TrajectoryRecorder::write(Ranks& ranks, const std::string& path) const {
  const Matrix all = ranks.gather_rows(states_);
  if (!ranks.root()) return 0;
  // Rank 0's rows (there are some) tell which slices the sampler reported: the same for every row.
  std::vector<std::size_t> kept;
  for (std::size_t s = 0; s < slices_; ++s) {
    const std::size_t w = written_[s].load();
    if (w != 0 && w != rows_) {
      throw std::logic_error(fmt::format("trajectory slice {}: {} of {} rows observed", s, w, rows_));
    }
    if (w == rows_) kept.push_back(s);
  }
  std::size_t n = 0;
  std::vector<SampleBlock> blocks;
  for (int r = 0; r < ranks.size(); ++r) {
    blocks.push_back(split_samples(static_cast<std::size_t>(all.rows()) / slices_, r, ranks.size()));
    n += blocks.back().count;
  }
  // all: each rank's slices in turn, slice-major; the file: slice-major over the whole job.
  Matrix out(static_cast<Eigen::Index>(kept.size() * n), all.cols());
  for (std::size_t k = 0; k < kept.size(); ++k) {
    std::size_t offset = 0;  // where the rank's block starts in `all`
    for (const SampleBlock& b : blocks) {
      out.middleRows(static_cast<Eigen::Index>(k * n + b.first), static_cast<Eigen::Index>(b.count)) =
          all.middleRows(static_cast<Eigen::Index>(offset + kept[k] * b.count), static_cast<Eigen::Index>(b.count));
      offset += slices_ * b.count;
    }
  }
  const std::size_t shape[] = {kept.size(), n, static_cast<std::size_t>(all.cols())};
  stop_if_interrupted();  // as write_output: nothing written after an interrupt
  write_npy(path, out, shape);
  return kept.size();
}

}  // namespace tweedie::cli
