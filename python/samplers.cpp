// The sampler registry: names, traits and the declared options (tweedie.samplers()).
#include "bindings.hpp"

#include <tweedie/sampler.hpp>

namespace py = pybind11;

namespace tweedie::python {

void bind_samplers(py::module_& m) {
  m.def(
      "samplers",
      [] {
        py::dict out;
        for (const auto& e : sampler_entries()) {
          py::dict options;
          for (const auto& o : e.options) {
            py::dict spec;
            spec["type"] = std::string(to_string(o.type));
            spec["default"] = o.default_value;
            spec["allowed"] = o.allowed();
            spec["help"] = o.help;
            options[py::str(o.name)] = spec;
          }
          py::dict entry;
          entry["summary"] = e.traits.summary;
          entry["order"] = e.traits.order;
          entry["stochastic"] = e.traits.stochastic;
          entry["adaptive"] = e.traits.adaptive;
          entry["default_grid"] = std::string(to_string(e.default_grid));
          entry["options"] = options;
          out[py::str(e.traits.name)] = entry;
        }
        return out;
      },
      "Every registered sampler by name: its summary, order, whether it is stochastic or adaptive, its default grid and its options "
      "(type, default, allowed values, help), the declarations keyword options are checked against.");
}

}  // namespace tweedie::python
