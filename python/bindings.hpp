// The pieces of the extension tweedie._tweedie, one binding function per file (module.cpp calls
// them in order: a later one may use the Python types of an earlier one).
#pragma once

#include <pybind11/pybind11.h>

namespace tweedie::python {

void bind_errors(pybind11::module_& m);        // errors.cpp
void bind_families(pybind11::module_& m);      // families.cpp
void bind_grids(pybind11::module_& m);         // grids.cpp
void bind_samplers(pybind11::module_& m);      // samplers.cpp
void bind_mixture(pybind11::module_& m);       // mixture.cpp
void bind_models(pybind11::module_& m);        // models.cpp
void bind_python_model(pybind11::module_& m);  // python_model.cpp
void bind_decorators(pybind11::module_& m);    // decorators.cpp
void bind_sample(pybind11::module_& m);        // sample.cpp
void bind_flows(pybind11::module_& m);         // flows.cpp
void bind_metrics(pybind11::module_& m);       // metrics.cpp

}  // namespace tweedie::python
