// The forward SDE families: tweedie.Sde("vp", beta_min=..., ...) through the library's make_sde.
#include "bindings.hpp"
#include "problem.hpp"

#include <tweedie/sde.hpp>

#include <pybind11/stl.h>

namespace py = pybind11;

namespace tweedie::python {

void bind_families(py::module_& m) {
  py::class_<Sde, std::shared_ptr<Sde>>(m, "Sde",
                                         "A forward SDE family: x_t = alpha(t) x_0 + sigma(t) eps. Sde(family, "
                                         "beta_min=, beta_max=, sigma_min=, sigma_max=, cosine_s=): unset "
                                         "parameters keep the family's defaults; one the family does not use is refused.")
      .def(py::init([](const std::string& family, std::optional<double> beta_min, std::optional<double> beta_max,
                       std::optional<double> sigma_min, std::optional<double> sigma_max,
                       std::optional<double> cosine_s) {
             return std::shared_ptr<Sde>(make_sde(SdeSpec{family, beta_min, beta_max, sigma_min, sigma_max, cosine_s}));
           }),
           py::arg("family") = "vp", py::kw_only(), py::arg("beta_min") = py::none(), py::arg("beta_max") = py::none(),
           py::arg("sigma_min") = py::none(), py::arg("sigma_max") = py::none(), py::arg("cosine_s") = py::none())
      .def_property_readonly("name", [](const Sde& s) { return std::string(s.name()); })
      .def_property_readonly("T", &Sde::T, "end of the forward process")
      .def_property_readonly("prior_std", &Sde::prior_std, "the prior is N(0, prior_std^2 I)")
      .def_property_readonly("default_t_end", &Sde::default_t_end, "default end of a sampling grid")
      .def("f", &Sde::f, py::arg("t"), "drift coefficient: drift = f(t) x")
      .def("g2", &Sde::g2, py::arg("t"), "squared diffusion coefficient")
      .def("alpha", &Sde::alpha, py::arg("t"))
      .def("sigma", &Sde::sigma, py::arg("t"))
      .def("log_snr", [](const Sde& s, double t) { return 2.0 * s.lambda(t); }, py::arg("t"),
           "log(alpha^2 / sigma^2) = 2 lambda(t)")
      .def("lambda_", &Sde::lambda, py::arg("t"), "lambda(t) = log(alpha / sigma)")
      .def("t_of_lambda", &Sde::t_of_lambda, py::arg("lam"))
      .def("__repr__", [](const Sde& s) { return "tweedie.Sde('" + std::string(s.name()) + "')"; });
  m.def("sde_names", &sde_names, "the family names Sde accepts");
}

}  // namespace tweedie::python
