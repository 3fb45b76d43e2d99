// The library's exceptions as Python's: InvalidArgument is ValueError (the same message);
// NonFiniteError and StepLimitError are tweedie's own types carrying where it happened; Cancelled
// (a progress callback returned False) is tweedie's own too.
#include "bindings.hpp"

#include <tweedie/types.hpp>

namespace py = pybind11;

namespace tweedie::python {

void bind_errors(py::module_& m) {
  // Python classes made here (pybind11's register_exception cannot set attributes), kept alive by
  // the module that holds them.
  const py::object builtins = py::module_::import("builtins");
  const py::dict attrs;
  attrs["__module__"] = "tweedie";
  attrs["__doc__"] =
      "A model output or a state became NaN or infinite: `sample` is the global index of the "
      "sample, `step` the step (0-based), `t` the time.";
  const py::object type = builtins.attr("type");
  const py::object non_finite = type("NonFiniteError", py::make_tuple(builtins.attr("ArithmeticError")), attrs);
  py::dict limit_attrs;
  limit_attrs["__module__"] = "tweedie";
  limit_attrs["__doc__"] =
      "An adaptive solver needed more steps for one sample than its cap allows: `sample` is its "
      "global index, `t` where it stopped.";
  const py::object step_limit = type("StepLimitError", py::make_tuple(builtins.attr("RuntimeError")), limit_attrs);
  py::dict cancelled_attrs;
  cancelled_attrs["__module__"] = "tweedie";
  cancelled_attrs["__doc__"] =
      "A call stopped because its progress callback returned False: it returned nothing.";
  const py::object cancelled = type("Cancelled", py::make_tuple(builtins.attr("RuntimeError")), cancelled_attrs);
  m.attr("NonFiniteError") = non_finite;
  m.attr("StepLimitError") = step_limit;
  m.attr("Cancelled") = cancelled;

  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const InvalidArgument& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const NonFiniteError& e) {
      const py::object cls = py::module_::import("tweedie._tweedie").attr("NonFiniteError");
      py::object error = cls(e.what());
      error.attr("sample") = e.sample();
      error.attr("step") = e.step();
      error.attr("t") = e.time();
      PyErr_SetObject(cls.ptr(), error.ptr());
    } catch (const Cancelled& e) {
      const py::object cls = py::module_::import("tweedie._tweedie").attr("Cancelled");
      PyErr_SetObject(cls.ptr(), cls(e.what()).ptr());
    } catch (const StepLimitError& e) {
      const py::object cls = py::module_::import("tweedie._tweedie").attr("StepLimitError");
      py::object error = cls(e.what());
      error.attr("sample") = e.sample();
      error.attr("t") = e.time();
      PyErr_SetObject(cls.ptr(), error.ptr());
    }
  });
}

}  // namespace tweedie::python
