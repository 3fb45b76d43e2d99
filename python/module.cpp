// The extension module tweedie._tweedie; the package tweedie (tweedie/__init__.py) re-exports it.
#include "bindings.hpp"

PYBIND11_MODULE(_tweedie, m) {
  m.doc() = "tweedie: score-based diffusion samplers, likelihoods and exact Gaussian-mixture targets";
  using namespace tweedie::python;
  bind_errors(m);
  bind_families(m);
  bind_grids(m);
  bind_samplers(m);
  bind_mixture(m);
  bind_models(m);
  bind_python_model(m);
  bind_decorators(m);
  bind_sample(m);
  bind_flows(m);
  bind_metrics(m);
}
