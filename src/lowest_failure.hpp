#pragma once
// The error of the lowest failing sample, whatever the chunk size.
#include <cstddef>
#include <cstdint>
#include <functional>

namespace tweedie::detail {

/// Runs rows [begin, end) of a job whose rows are independent, `run(begin, end, again)`, where
/// global sample = first_sample + row. A NonFiniteError for sample s is rethrown only once no row
/// below s fails: those rows are run again alone (`again` = true: without observers), and a lower
/// failure replaces it. Samplers step all rows of a chunk together and stop at the first step where
/// one fails, so without this a lower sample failing at a later step would be named or not
/// depending on the chunk size; with it a run names the sample one-row chunks would (and MPI ranks
/// combine). Costs nothing unless the run fails.
void run_naming_lowest_failure(std::size_t begin, std::size_t end, std::uint64_t first_sample,
                               const std::function<void(std::size_t, std::size_t, bool again)>& run);

}  // namespace tweedie::detail
