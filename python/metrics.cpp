// Distances between sample sets (comparing samplers against exact samples).
#include "bindings.hpp"
#include "arrays.hpp"

#include <tweedie/metrics.hpp>
#include <tweedie/random.hpp>

namespace py = pybind11;

namespace tweedie::python {

void bind_metrics(py::module_& m) {
  m.def(
      "sliced_wasserstein",
      [](const RowsArray& a, const RowsArray& b, int projections, std::uint64_t seed, int noise_stream) {
        return sliced_wasserstein(rows_view(a, "a"), rows_view(b, "b"), projections, seed, noise_stream);
      },
      py::arg("a"), py::arg("b"), py::kw_only(), py::arg("projections") = 128, py::arg("seed") = 0,
      py::arg("noise_stream") = rng_stream_version,
      "Sliced 2-Wasserstein distance between two equally sized sample sets");
  m.def(
      "frechet_distance", [](const RowsArray& a, const RowsArray& b) {
        return frechet_distance(rows_view(a, "a"), rows_view(b, "b"));
      },
      py::arg("a"), py::arg("b"), "Frechet distance between the Gaussians fitted to two sample sets (FID's statistic)");
  m.def(
      "sample_mean", [](const RowsArray& x) { return to_numpy(sample_mean(rows_view(x, "x"))); }, py::arg("x"));
  m.def(
      "sample_covariance", [](const RowsArray& x) { return to_numpy(sample_covariance(rows_view(x, "x"))); },
      py::arg("x"));
}

}  // namespace tweedie::python
