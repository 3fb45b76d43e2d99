// How a driver call runs, from the keywords every driver takes: threads, chunk and progress.
#pragma once

#include <tweedie/parallel.hpp>

#include <pybind11/pybind11.h>

#include <cstddef>

namespace tweedie::python {

/// Execution{threads, chunk} with a progress hook (Execution::progress) that, after a chunk:
///  - on the calling thread (which runs chunks too), checks for a pending signal
///    (PyErr_CheckSignals: Ctrl-C raises KeyboardInterrupt, which ends the call);
///  - calls `progress` (None, or a callable (done, total) -> bool or None) with the GIL taken
///    around the call only; False cancels the call (tweedie.Cancelled), an exception it raises
///    ends the call and reaches the caller as it is.
/// Without a callable, other threads' chunks take no GIL. The hook never changes any result.
/// Throws InvalidArgument when `progress` is neither None nor callable.
Execution execution_arg(int threads, std::size_t chunk, const pybind11::object& progress);

}  // namespace tweedie::python
