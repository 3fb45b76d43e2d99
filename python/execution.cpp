#include "execution.hpp"

#include <tweedie/types.hpp>

#include <memory>
#include <thread>

namespace py = pybind11;

namespace tweedie::python {
namespace {

// The state every copy of the hook shares (Execution is copied without the GIL: a copy must not
// touch Python reference counts, so the callable lives here, once).
class ProgressHook {
 public:
  explicit ProgressHook(py::object callback) : callback_(std::move(callback)), caller_(std::this_thread::get_id()) {}
  ~ProgressHook() {  // the last owner may run without the GIL
    py::gil_scoped_acquire gil;
    callback_ = py::object();
  }
  ProgressHook(const ProgressHook&) = delete;
  ProgressHook& operator=(const ProgressHook&) = delete;

  bool operator()(std::size_t done, std::size_t total) const {
    const bool on_caller = std::this_thread::get_id() == caller_;
    if (callback_.is_none() && !on_caller) return true;
    py::gil_scoped_acquire gil;
    if (on_caller && PyErr_CheckSignals() != 0) throw py::error_already_set();
    if (callback_.is_none()) return true;
    const py::object go_on = callback_(done, total);
    if (go_on.is_none()) return true;
    const int truth = PyObject_IsTrue(go_on.ptr());
    if (truth < 0) throw py::error_already_set();
    return truth != 0;
  }

 private:
  py::object callback_;
  std::thread::id caller_;
};

}  // namespace

Execution execution_arg(int threads, std::size_t chunk, const py::object& progress) {
  if (!progress.is_none() && !PyCallable_Check(progress.ptr())) {
    throw InvalidArgument("progress must be None or a callable (done, total) -> bool or None");
  }
  auto hook = std::make_shared<const ProgressHook>(progress);
  Execution e;
  e.threads = threads;
  e.chunk_rows = chunk;
  e.progress = [hook](std::size_t done, std::size_t total) { return (*hook)(done, total); };
  return e;
}

}  // namespace tweedie::python
