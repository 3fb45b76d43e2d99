// Exact Gaussian-mixture targets (conditional ones too: `classes`), their closed forms and exact
// samples of p_t.
#include "bindings.hpp"
#include "arrays.hpp"
#include "family_model.hpp"
#include "problem.hpp"

#include <tweedie/gaussian_mixture.hpp>
#include <tweedie/random.hpp>

#include <pybind11/stl.h>

#include <fmt/format.h>

namespace py = pybind11;

namespace tweedie::python {
namespace {

// One time per row: a number for every row, or an array of n times.
Vector times_arg(const py::object& t, Eigen::Index n) {
  if (py::isinstance<py::float_>(t) || py::isinstance<py::int_>(t)) return Vector::Constant(n, t.cast<double>());
  const auto a = t.cast<RowsArray>();
  const auto v = vector_view(a, "t");
  if (v.size() != n) throw InvalidArgument(fmt::format("t has {} times for {} rows", v.size(), n));
  return v;
}

struct Evaluation {
  std::shared_ptr<const Sde> sde;
  RowsArray x;
  Eigen::Map<const Matrix> rows;
  Vector t;
};
Evaluation evaluation(const py::object& sde, const py::object& t, const py::object& x) {
  RowsArray a = x.cast<RowsArray>();
  auto rows = rows_view(a, "x");
  Vector times = times_arg(t, rows.rows());
  return {family_arg(sde), std::move(a), rows, std::move(times)};
}

}  // namespace

void bind_mixture(py::module_& m) {
  py::class_<GaussianMixture>(m, "GaussianMixture",
                              "A mixture of diagonal Gaussians: weights (K), means (K, d), stds (K, d), and "
                              "optionally each component's class label (a conditional target).")
      .def(py::init([](const RowsArray& weights, const RowsArray& means, const RowsArray& stds,
                       const py::object& classes) {
             Vector w = vector_view(weights, "weights");
             Matrix mu = rows_view(means, "means"), s = rows_view(stds, "stds");
             if (classes.is_none()) return GaussianMixture(std::move(w), std::move(mu), std::move(s));
             return GaussianMixture(std::move(w), std::move(mu), std::move(s), classes.cast<std::vector<int>>());
           }),
           py::arg("weights"), py::arg("means"), py::arg("stds"), py::arg("classes") = py::none())
      .def_static("load", &GaussianMixture::load, py::arg("path"), "Reads a JSON target file (docs/cli.md)")
      .def_static("from_json", &GaussianMixture::from_json, py::arg("text"), py::arg("source") = "target")
      .def_static("ring", &GaussianMixture::ring, py::arg("k") = 8, py::arg("radius") = 2.0, py::arg("std") = 0.15)
      .def_property_readonly("dim", &GaussianMixture::dim)
      .def_property_readonly("components", &GaussianMixture::components)
      .def_property_readonly("classes", &GaussianMixture::classes, "number of classes (0: unlabelled)")
      .def_property_readonly("component_classes", &GaussianMixture::component_classes)
      .def_property_readonly("weights", [](const GaussianMixture& g) { return to_numpy(Vector(g.weights())); })
      .def_property_readonly("means", [](const GaussianMixture& g) { return to_numpy(Matrix(g.means())); })
      .def_property_readonly("stds", [](const GaussianMixture& g) { return to_numpy(Matrix(g.stds())); })
      .def("conditional", &GaussianMixture::conditional, py::arg("y"), "p(x | y) of a labelled mixture")
      .def(
          "model",
          [](const GaussianMixture& g, const py::object& sde) {
            auto family = family_arg(sde);
            std::shared_ptr<const ScoreModel> exact = exact_model(g, *family);
            return std::make_shared<FamilyModel>(std::move(family), std::move(exact));
          },
          py::arg("sde") = py::none(),
          "The exact score of p_t under the family as a ScoreModel (conditional for a labelled mixture: "
          "the null class is the whole mixture)")
      .def(
          "score",
          [](const GaussianMixture& g, const py::object& sde, const py::object& t, const py::object& x) {
            const Evaluation e = evaluation(sde, t, x);
            Matrix out(e.rows.rows(), e.rows.cols());
            g.score(*e.sde, e.t, e.rows, out);
            return to_numpy(std::move(out));
          },
          py::arg("sde"), py::arg("t"), py::arg("x"), "grad_x log p_t at each row (t: one time or one per row)")
      .def(
          "log_density",
          [](const GaussianMixture& g, const py::object& sde, const py::object& t, const py::object& x) {
            const Evaluation e = evaluation(sde, t, x);
            Vector out(e.rows.rows());
            g.log_density(*e.sde, e.t, e.rows, out);
            return to_numpy(std::move(out));
          },
          py::arg("sde"), py::arg("t"), py::arg("x"))
      .def(
          "score_divergence",
          [](const GaussianMixture& g, const py::object& sde, const py::object& t, const py::object& x) {
            const Evaluation e = evaluation(sde, t, x);
            Vector out(e.rows.rows());
            g.score_divergence(*e.sde, e.t, e.rows, out);
            return to_numpy(std::move(out));
          },
          py::arg("sde"), py::arg("t"), py::arg("x"))
      .def(
          "class_log_posterior",
          [](const GaussianMixture& g, const py::object& sde, const py::object& t, const py::object& x) {
            const Evaluation e = evaluation(sde, t, x);
            Matrix out(e.rows.rows(), g.classes());
            g.class_log_posterior(*e.sde, e.t, e.rows, out);
            return to_numpy(std::move(out));
          },
          py::arg("sde"), py::arg("t"), py::arg("x"), "log p_t(y | x), (n, classes)")
      .def(
          "sample",
          [](const GaussianMixture& g, const py::object& sde, double t, std::size_t n, std::uint64_t seed,
             int noise_stream, std::uint64_t first_sample) {
            const auto family = family_arg(sde);
            return to_numpy(g.sample(*family, t, n, PhiloxNoise(seed, noise_stream), first_sample));
          },
          py::arg("sde") = py::none(), py::kw_only(), py::arg("t") = 0.0, py::arg("n") = 1000, py::arg("seed") = 0,
          py::arg("noise_stream") = rng_stream_version, py::arg("first_sample") = 0,
          "Exact samples of p_t (t = 0: the target itself)")
      .def(
          "mean",
          [](const GaussianMixture& g, const py::object& sde, double t) {
            return to_numpy(g.mean(*family_arg(sde), t));
          },
          py::arg("sde") = py::none(), py::arg("t") = 0.0)
      .def(
          "covariance",
          [](const GaussianMixture& g, const py::object& sde, double t) {
            return to_numpy(g.covariance(*family_arg(sde), t));
          },
          py::arg("sde") = py::none(), py::arg("t") = 0.0);
}

}  // namespace tweedie::python
