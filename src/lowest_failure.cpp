#include "lowest_failure.hpp"

#include <tweedie/types.hpp>

#include <optional>

namespace tweedie::detail {

void run_naming_lowest_failure(std::size_t begin, std::size_t end, std::uint64_t first_sample,
                               const std::function<void(std::size_t, std::size_t, bool again)>& run) {
  std::optional<NonFiniteError> lowest;
  try {
    run(begin, end, false);
    return;
  } catch (const NonFiniteError& e) {
    lowest = e;
  }
  // Each retry covers only the rows below the lowest failure so far, so it ends.
  for (;;) {
    const auto below = static_cast<std::size_t>(lowest->sample() - first_sample);
    if (below <= begin || below > end) break;  // nothing below it (or not one of these rows)
    try {
      run(begin, below, true);
      break;
    } catch (const NonFiniteError& e) {
      lowest = e;
    }
  }
  throw *lowest;
}

}  // namespace tweedie::detail
