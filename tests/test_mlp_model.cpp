// MlpModel against PyTorch on the fixtures of tests/data/mlp (make_fixtures.py), its exact JVP and
// VJP against central differences and each other, bitwise batch invariance and thread safety,
// and the refusal of files that do not match their spec.
#include <tweedie/grid.hpp>
#include <tweedie/likelihood.hpp>
#include <tweedie/mlp_model.hpp>
#include <tweedie/npy.hpp>
#include <tweedie/sample.hpp>
#include <tweedie/sampler.hpp>
#include <tweedie/safetensors.hpp>

#include "safetensors_util.hpp"
#include "test_util.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <string>
#include <thread>
#include <vector>

using namespace tweedie;

namespace {

const std::vector<std::string> kNetworks = {"vp_sinusoidal", "ve_fourier",   "edm_precond",
                                            "cosine_conditional", "subvp_cnoise", "vp_discrete_noblocks"};

std::string fixture(const std::string& name, const std::string& suffix) {
  return std::string(TWEEDIE_TEST_DATA) + "/mlp/" + name + "." + suffix;
}

// The fixture's inputs: x, t and the labels (empty when unconditional).
struct Batch {
  Matrix x;
  Vector t;
  std::vector<int> labels;
  ModelInput input() const { return {t, x, {}, labels}; }
  Batch rows(Eigen::Index begin, Eigen::Index n) const {
    Batch b{x.middleRows(begin, n), t.segment(begin, n), {}};
    if (!labels.empty()) b.labels.assign(labels.begin() + begin, labels.begin() + begin + n);
    return b;
  }
};

Batch read_batch(const std::string& name) {
  Batch b;
  b.x = read_npy_matrix(fixture(name, "x.npy"));
  const std::vector<double> t = read_npy_vector(fixture(name, "t.npy"));
  b.t = Eigen::Map<const Vector>(t.data(), static_cast<Eigen::Index>(t.size()));
  const NpyArray labels = read_npy(fixture(name, "labels.npy"));
  for (double v : labels.values) b.labels.push_back(static_cast<int>(v));
  return b;
}

// A larger batch from the fixture's rows: the rows repeated with perturbations, so that tiles
// are full and partial in every way.
Batch grown(const Batch& b, Eigen::Index n, std::uint64_t seed) {
  test::Inputs in(seed);
  Batch g;
  g.x.resize(n, b.x.cols());
  g.t.resize(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    const Eigen::Index src = i % b.x.rows();
    g.x.row(i) = b.x.row(src) + in.uniform(1, b.x.cols(), -0.3, 0.3);
    g.t(i) = b.t(src);
    if (!b.labels.empty()) g.labels.push_back(b.labels[static_cast<std::size_t>(src)]);
  }
  return g;
}

Matrix evaluate(const MlpModel& m, const Batch& b) {
  Matrix out(b.x.rows(), b.x.cols());
  m.evaluate(b.input(), out);
  return out;
}

// max over rows of |a_i - b_i|_inf / |b_i|_inf.
double max_row_error(const Matrix& a, const Matrix& b) {
  double worst = 0.0;
  for (Eigen::Index i = 0; i < a.rows(); ++i) {
    worst = std::max(worst, (a.row(i) - b.row(i)).lpNorm<Eigen::Infinity>() / b.row(i).lpNorm<Eigen::Infinity>());
  }
  return worst;
}

using Contents = test::SafetensorsContents;
Contents contents(const std::string& name) { return test::read_contents(fixture(name, "f64.safetensors")); }

}  // namespace

TEST_CASE("MlpModel agrees with PyTorch on every fixture network (float64 1e-12, float32 1e-5)") {
  for (const auto& name : kNetworks) {
    CAPTURE(name);
    const Batch b = read_batch(name);
    const auto m64 = MlpModel::load(fixture(name, "f64.safetensors"));
    const double e64 = max_row_error(evaluate(*m64, b), read_npy_matrix(fixture(name, "out64.npy")));
    const auto m32 = MlpModel::load(fixture(name, "f32.safetensors"), {.precision = Precision::float32});
    const double e32 = max_row_error(evaluate(*m32, b), read_npy_matrix(fixture(name, "out32.npy")));
    MESSAGE(fmt::format("{}: float64 {:.2e}, float32 {:.2e}", name, e64, e32));
    CHECK(e64 <= 1e-12);
    CHECK(e32 <= 1e-5);
    // The float32 weights are converted once at load: a float64 file read as float32 is the
    // float32 file.
    const auto m64as32 = MlpModel::load(fixture(name, "f64.safetensors"), {.precision = Precision::float32});
    CHECK(test::bitwise_equal(evaluate(*m64as32, b), evaluate(*m32, b)));
  }
}

TEST_CASE("MlpModel exposes its spec") {
  const auto m = MlpModel::load(fixture("edm_precond", "f64.safetensors"));
  CHECK(m->prediction() == Prediction::data);
  CHECK(m->dim() == 3);
  CHECK(m->conditioning().classes == 3);
  CHECK(m->conditioning().null_class == 3);
  CHECK(m->spec().sde.family == "edm");
  CHECK(m->sde().name() == "edm");
  CHECK(m->spec().edm_sigma_data == 0.5);
  CHECK(m->spec().time_input.kind == TimeInputKind::sigma);
  CHECK(m->batch_invariant());
  CHECK(m->has_jvp());
  CHECK(m->has_vjp());
  CHECK(m->description().find("EDM preconditioning sigma_data 0.5") != std::string::npos);
  CHECK(m->description().find("3 classes + null class") != std::string::npos);
  const auto v = MlpModel::load(fixture("vp_discrete_noblocks", "f64.safetensors"));
  CHECK(v->spec().time_input.kind == TimeInputKind::scaled_t);
  CHECK(v->spec().time_input.scale == 1000.0);
  CHECK(v->spec().time_input.shift == -1.0);
  CHECK(v->spec().sde.beta_max == 15.0);
  CHECK(v->sde().alpha(0.5) == make_sde(v->spec().sde)->alpha(0.5));
  CHECK(v->conditioning().classes == 0);
}

TEST_CASE("MlpModel: JVP and VJP are exact (central differences, <w, J v> both ways)") {
  for (const auto& name : kNetworks) {
    CAPTURE(name);
    const Batch b = read_batch(name);
    const auto m = MlpModel::load(fixture(name, "f64.safetensors"));
    test::Inputs in(7);
    const Matrix v = in.uniform(b.x.rows(), b.x.cols(), -1.0, 1.0);
    const Matrix w = in.uniform(b.x.rows(), b.x.cols(), -1.0, 1.0);
    Matrix jv(b.x.rows(), b.x.cols()), jtw(b.x.rows(), b.x.cols());
    m->jvp(b.input(), v, jv);
    m->vjp(b.input(), w, jtw);
    // Central differences: error h^2/6 |F'''| + eps |F| / h, measured 1e-9 at h = 1e-4 here.
    const double h = 1e-4;
    Batch plus = b, minus = b;
    plus.x += h * v;
    minus.x -= h * v;
    const Matrix fd = (evaluate(*m, plus) - evaluate(*m, minus)) / (2.0 * h);
    double worst_fd = 0.0, worst_dual = 0.0;
    for (Eigen::Index i = 0; i < b.x.rows(); ++i) {
      worst_fd = std::max(worst_fd, (fd.row(i) - jv.row(i)).lpNorm<Eigen::Infinity>() /
                                        (1.0 + jv.row(i).lpNorm<Eigen::Infinity>()));
      const double a = w.row(i).dot(jv.row(i)), c = jtw.row(i).dot(v.row(i));
      const double scale = w.row(i).cwiseAbs().dot(jv.row(i).cwiseAbs()) + jtw.row(i).cwiseAbs().dot(v.row(i).cwiseAbs());
      worst_dual = std::max(worst_dual, std::fabs(a - c) / scale);
    }
    MESSAGE(fmt::format("{}: JVP vs central differences {:.2e}, <w, Jv> - <J^T w, v> {:.2e}", name, worst_fd,
                        worst_dual));
    CHECK(worst_fd <= 1e-8);
    CHECK(worst_dual <= 1e-13);
  }
}

TEST_CASE("MlpModel: EDM preconditioning at sigma = 0 returns x (and J = I)") {
  const auto m = MlpModel::load(fixture("edm_precond", "f64.safetensors"));
  Batch b = read_batch("edm_precond").rows(0, 5);
  b.t.setZero();
  const Matrix out = evaluate(*m, b);
  CHECK(test::bitwise_equal(out, b.x));
  Matrix jv(5, 3);
  m->jvp(b.input(), b.x, jv);
  CHECK(test::bitwise_equal(jv, b.x));
}

TEST_CASE("MlpModel is batch-invariant bit for bit: rows alone, in chunks of any size, at any position") {
  for (const auto precision : {Precision::float64, Precision::float32}) {
    for (const auto& name : kNetworks) {
      CAPTURE(name);
      CAPTURE(to_string(precision));
      const auto m = MlpModel::load(fixture(name, "f64.safetensors"), {.precision = precision});
      const Batch b = grown(read_batch(name), 101, 11);
      test::Inputs in(5);
      const Matrix dir = in.uniform(b.x.rows(), b.x.cols(), -1.0, 1.0);
      Matrix full(b.x.rows(), b.x.cols()), full_jv = full, full_vjp = full;
      m->evaluate(b.input(), full);
      m->jvp(b.input(), dir, full_jv);
      m->vjp(b.input(), dir, full_vjp);
      for (const Eigen::Index chunk : {1, 2, 5, 23, 24, 25, 47, 48, 49, 97}) {
        CAPTURE(chunk);
        Matrix out = full, jv = full, vjp = full;
        for (Eigen::Index r0 = 0; r0 < b.x.rows(); r0 += chunk) {
          const Eigen::Index n = std::min(chunk, b.x.rows() - r0);
          const Batch part = b.rows(r0, n);
          m->evaluate(part.input(), out.middleRows(r0, n));
          m->jvp(part.input(), dir.middleRows(r0, n), jv.middleRows(r0, n));
          m->vjp(part.input(), dir.middleRows(r0, n), vjp.middleRows(r0, n));
        }
        CHECK(test::bitwise_equal(out, full));
        CHECK(test::bitwise_equal(jv, full_jv));
        CHECK(test::bitwise_equal(vjp, full_vjp));
      }
    }
  }
}

TEST_CASE("MlpModel: concurrent calls from several threads give the bits of a serial call") {
  for (const auto precision : {Precision::float64, Precision::float32}) {
    const auto m = MlpModel::load(fixture("vp_sinusoidal", "f64.safetensors"), {.precision = precision});
    const Batch b = grown(read_batch("vp_sinusoidal"), 120, 3);
    const Matrix serial = evaluate(*m, b);
    Matrix serial_vjp(b.x.rows(), b.x.cols());
    m->vjp(b.input(), serial, serial_vjp);
    std::vector<int> same(4, 0);
    std::vector<std::thread> threads;
    for (int k = 0; k < 4; ++k) {
      threads.emplace_back([&, k] {
        for (int rep = 0; rep < 10; ++rep) {
          Matrix out(b.x.rows(), b.x.cols()), g = out;
          m->evaluate(b.input(), out);
          m->vjp(b.input(), serial, g);
          same[static_cast<std::size_t>(k)] += test::bitwise_equal(out, serial) && test::bitwise_equal(g, serial_vjp);
        }
      });
    }
    for (auto& t : threads) t.join();
    CHECK(same == std::vector<int>(4, 10));
  }
}

TEST_CASE("MlpModel through the drivers: samples and likelihoods bitwise equal for any threads and chunks") {
  // The promise of a batch-invariant model (docs/architecture.md), end to end: a fixed-step SDE
  // sampler, an adaptive ODE solver (rows finish at different times, so chunks shrink), and the
  // exact-divergence likelihood (d JVPs per row); conditional, so the labels follow their rows.
  const auto m = MlpModel::load(fixture("cosine_conditional", "f64.safetensors"));
  const Sde& sde = m->sde();
  const auto grid = make_grid(sde, {.spacing = GridSpacing::log_snr, .steps = 8});
  const Eigen::Index n = 61;
  std::vector<int> labels(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<int>((i * 7) % 3);
  auto run = [&](int threads, std::size_t chunk) {
    std::vector<Matrix> r;
    for (const char* name : {"em", "dopri5"}) {
      SampleOptions o;
      o.num_samples = n;
      o.seed = 11;
      o.labels = labels;
      o.execution = {.threads = threads, .chunk_rows = chunk};
      r.push_back(sample(sde, *m, *make_sampler(name), grid, o).samples);
    }
    LikelihoodOptions f;
    f.labels = labels;
    f.execution = {.threads = threads, .chunk_rows = chunk};
    r.push_back(log_likelihood(sde, *m, r[0], f).log_likelihood);
    return r;
  };
  const auto first = run(1, 256);
  for (const auto& r : first) REQUIRE(r.allFinite());
  for (const auto& [threads, chunk] : {std::pair<int, std::size_t>{2, 7}, {8, 1}, {2, 64}, {1, 13}}) {
    CAPTURE(threads);
    CAPTURE(chunk);
    const auto r = run(threads, chunk);
    for (std::size_t k = 0; k < r.size(); ++k) CHECK(test::bitwise_equal(r[k], first[k]));
  }
}

TEST_CASE("MlpModel refuses bad calls, naming what was wrong") {
  const auto m = MlpModel::load(fixture("cosine_conditional", "f64.safetensors"));
  Batch b = read_batch("cosine_conditional").rows(0, 4);
  Matrix out(4, 4);
  Batch unlabelled = b;
  unlabelled.labels.clear();
  CHECK_THROWS_WITH_AS(m->evaluate(unlabelled.input(), out),
                       "conditional network without a null class given no labels", InvalidArgument);
  Batch short_labels = b;
  short_labels.labels.pop_back();
  CHECK_THROWS_WITH_AS(m->evaluate(short_labels.input(), out), "conditional network given 3 labels for 4 rows",
                       InvalidArgument);
  b.labels[2] = 4;  // this network has no null class
  CHECK_THROWS_WITH_AS(m->evaluate(b.input(), out), "row 2: label 4 is outside the network's classes 0..3",
                       InvalidArgument);
  b.labels[2] = -1;
  CHECK_THROWS_AS(m->evaluate(b.input(), out), InvalidArgument);
  const Matrix narrow(4, 3);
  CHECK_THROWS_WITH_AS(m->evaluate({b.t, narrow, {}, b.labels}, out), "network of dimension 4 given rows of 3 numbers",
                       InvalidArgument);
  const auto null = MlpModel::load(fixture("edm_precond", "f64.safetensors"));
  Batch e = read_batch("edm_precond").rows(0, 3);
  e.labels = {3, 3, 3};  // the null class
  Matrix o(3, 3);
  null->evaluate(e.input(), o);
  // No labels: every row is the null class.
  Matrix o_unlabelled(3, 3);
  null->evaluate(e.t, e.x, o_unlabelled);
  CHECK(test::bitwise_equal(o_unlabelled, o));
}

TEST_CASE("MlpModel refuses files that do not match their spec, naming the file and the tensor") {
  test::TempDir dir;
  const std::string path = dir.file("net.safetensors");
  auto refused = [&](const Contents& c, const std::string& part) {
    test::write_safetensors(path, c);
    CHECK_THROWS_WITH_AS(MlpModel::load(path), doctest::Contains((path + ": " + part).c_str()), InvalidArgument);
  };
  const Contents base = contents("vp_sinusoidal");
  {
    test::write_safetensors(path, base);
    CHECK_NOTHROW(MlpModel::load(path));  // the writer itself is sound
  }
  SUBCASE("a missing tensor") {
    Contents c = base;
    c.tensors.erase("blocks.1.time.weight");
    refused(c, "tensor 'blocks.1.time.weight' is missing (the spec needs one of shape [9, 10])");
  }
  SUBCASE("an unused tensor") {
    Contents c = base;
    c.tensors["blocks.2.dense1.bias"] = Tensor{"F64", {3}, {1, 2, 3}};
    refused(c, "tensor 'blocks.2.dense1.bias' is not part of the network");
  }
  SUBCASE("a shape that does not match the architecture") {
    Contents c = base;
    c.tensors["output.dense.weight"].shape = {12, 3};
    refused(c, "tensor 'output.dense.weight' has shape [12, 3], and the spec needs [3, 12]");
  }
  SUBCASE("no spec in the metadata") {
    Contents c = base;
    c.metadata.erase("tweedie.mlp");
    refused(c, "no 'tweedie.mlp' entry in the metadata");
  }
  auto with_spec = [&](const std::function<void(nlohmann::json&)>& edit) {
    Contents c = base;
    nlohmann::json spec = nlohmann::json::parse(c.metadata.at("tweedie.mlp"));
    edit(spec);
    c.metadata["tweedie.mlp"] = spec.dump();
    return c;
  };
  SUBCASE("spec errors") {
    auto refused_spec = [&](const Contents& c, const std::string& part) { refused(c, "tweedie.mlp spec: " + part); };
    refused_spec(with_spec([](auto& s) { s["version"] = 2; }), "version is 2");
    refused_spec(with_spec([](auto& s) { s["blocks"][1]["dropout"] = 0.1; }),
            "blocks[1].dropout is not a field");
    refused_spec(with_spec([](auto& s) { s["blocks"][0]["activation"] = "elu"; }),
            "blocks[0].activation 'elu' is not an activation");
    refused_spec(with_spec([](auto& s) { s["time_input"]["kind"] = "log_t"; }), "time_input.kind 'log_t' is not one of");
    refused_spec(with_spec([](auto& s) { s["sde"]["sigma_max"] = 5.0; }), "sde: --sigma-max does not apply to the vp family");
    refused_spec(with_spec([](auto& s) { s["preconditioning"] = {{"kind", "edm"}, {"sigma_data", 0.5}}; }),
            "preconditioning needs time_input 'sigma'");
    refused_spec(with_spec([](auto& s) { s["time_embedding"]["dim"] = 7; }), "time_embedding.dim must be even");
    refused_spec(with_spec([](auto& s) { s["null_class"] = 2; }), "null_class must equal classes");
    refused_spec(with_spec([](auto& s) { s.erase("width"); }), "width is missing");
    Contents c = base;
    c.metadata["tweedie.mlp"] = "{not json";
    refused(c, "the 'tweedie.mlp' metadata is not valid JSON");
  }
}
