// TorchScriptModel against PyTorch's own outputs (make_fixtures.py), its conventions and their
// conflicts, its JVP and VJP against central differences, thread-count determinism through
// tweedie::sample, and the errors of malformed or failing modules.
#include <tweedie/grid.hpp>
#include <tweedie/mlp_model.hpp>
#include <tweedie/npy.hpp>
#include <tweedie/sample.hpp>
#include <tweedie/sampler.hpp>
#include <tweedie/torchscript_model.hpp>

#include "cli_util.hpp"
#include "test_util.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <filesystem>
#include <numeric>
#include <string>
#include <vector>

using namespace tweedie;

namespace {

std::string fixture(const std::string& name) { return std::string(TWEEDIE_TORCH_TEST_DATA) + "/" + name; }

/// The reference inputs and PyTorch's output of fixture `name`.
struct Reference {
  Matrix x, out;
  Vector t;
  std::vector<int> labels;
  std::vector<std::uint64_t> samples;

  explicit Reference(const std::string& name)
      : x(read_npy_matrix(fixture(name + ".x.npy"))), out(read_npy_matrix(fixture(name + ".out.npy"))) {
    const auto tv = read_npy_vector(fixture(name + ".t.npy"));
    t = Eigen::Map<const Vector>(tv.data(), static_cast<Eigen::Index>(tv.size()));
    if (std::filesystem::exists(fixture(name + ".y.npy"))) {
      for (double y : read_npy_vector(fixture(name + ".y.npy"))) labels.push_back(static_cast<int>(y));
    }
    samples.resize(static_cast<std::size_t>(x.rows()));
    std::iota(samples.begin(), samples.end(), 100);
  }
  ModelInput input() const { return {t, x, samples, labels}; }
};

/// max_i ||a_i - b_i|| / ||b_i||: the error of each row relative to its reference row.
double row_relative_error(const Matrix& a, const Matrix& b) {
  REQUIRE(a.rows() == b.rows());
  REQUIRE(a.cols() == b.cols());
  double worst = 0.0;
  for (Eigen::Index i = 0; i < a.rows(); ++i) {
    worst = std::max(worst, (a.row(i) - b.row(i)).norm() / b.row(i).norm());
  }
  return worst;
}

/// The conventions the fixtures without attributes were made with.
TorchScriptOptions bare_options() {
  TorchScriptOptions o;
  o.prediction = Prediction::noise;
  o.sde = SdeSpec{};  // vp with its defaults
  o.time_input = TimeInputKind::t;
  o.dim = 2;
  return o;
}

TorchScriptOptions options_for(const std::string& name) {
  auto o = bare_options();
  if (name == "cond_bare_f32") {
    o.classes = 3;
    o.null_class = 3;
  }
  return o;
}

bool is_bare(const std::string& name) { return name.find("bare") != std::string::npos; }

std::string message_of_load(const std::string& name, const TorchScriptOptions& o) {
  try {
    const TorchScriptModel m(fixture(name), o);
  } catch (const InvalidArgument& e) {
    return e.what();
  }
  return "(loaded)";
}

SdeSpec family(const std::string& name) {
  SdeSpec spec;
  spec.family = name;
  return spec;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("TorchScript outputs equal PyTorch's on the reference inputs (f64 1e-12, f32 1e-5)") {
  struct Case {
    const char* name;
    double tolerance;
  };
  for (const Case c : {Case{"vp_noise_t_f64", 1e-12}, Case{"vp_noise_scaled_f64", 1e-12},
                       Case{"ve_score_sigma_f32", 1e-5}, Case{"edm_data_cnoise_f64", 1e-12},
                       Case{"bare_f64", 1e-12}, Case{"bare_f32", 1e-5}, Case{"cond_f64", 1e-12},
                       Case{"cond_bare_f32", 1e-5}, Case{"bench_mlp_f64", 1e-12}, Case{"bench_mlp_f32", 1e-5}}) {
    CAPTURE(c.name);
    const TorchScriptModel model(fixture(std::string(c.name) + ".pt"),
                                 is_bare(c.name) ? options_for(c.name) : TorchScriptOptions{});
    const Reference ref(c.name);
    Matrix out(ref.x.rows(), ref.x.cols());
    model.evaluate(ref.input(), out);
    CHECK(row_relative_error(out, ref.out) <= c.tolerance);
    // A second call gives the same bits (no state carried between calls).
    Matrix again(ref.x.rows(), ref.x.cols());
    model.evaluate(ref.input(), again);
    CHECK(test::bitwise_equal(out, again));
  }
}

TEST_CASE("the conventions come from the module's attributes and constants") {
  const TorchScriptModel vp(fixture("vp_noise_scaled_f64.pt"));
  CHECK(vp.prediction() == Prediction::noise);
  CHECK(vp.dim() == 3);
  CHECK(vp.time_input().kind == TimeInputKind::scaled_t);
  CHECK(vp.time_input().scale == 999.0);
  REQUIRE(vp.sde_spec().has_value());
  CHECK(vp.sde_spec()->family == "vp");
  CHECK(vp.sde_spec()->beta_max == 20.0);
  CHECK(vp.dtype() == "float64");
  CHECK(vp.conditioning().classes == 0);
  CHECK_FALSE(vp.batch_invariant());
  CHECK(vp.has_jvp());
  CHECK(vp.has_vjp());

  const TorchScriptModel ve(fixture("ve_score_sigma_f32.pt"));
  CHECK(ve.prediction() == Prediction::score);
  CHECK(ve.dtype() == "float32");
  CHECK(ve.time_input().kind == TimeInputKind::sigma);
  CHECK(ve.sde_spec()->sigma_min == 0.02);
  CHECK(ve.sde_spec()->sigma_max == 40.0);

  const TorchScriptModel cond(fixture("cond_f64.pt"));
  CHECK(cond.conditioning().classes == 3);
  CHECK(cond.conditioning().null_class == 3);

  // TorchScript constants (typing.Final) are read like attributes; no parameters: float64.
  const TorchScriptModel constants(fixture("constant_attributes.pt"));
  CHECK(constants.prediction() == Prediction::data);
  CHECK(constants.sde_spec()->family == "edm");
  CHECK(constants.time_input().kind == TimeInputKind::c_noise);
  CHECK(constants.dim() == 2);
  CHECK(constants.dtype() == "float64");
  // Its forward is x / (1 + exp(4 s)) = x / (1 + sigma) with s = ln(sigma) / 4: at t = sigma = 2, x / 3.
  const Matrix x{{1.0, -2.0}};
  const Vector t = Vector::Constant(1, 2.0);
  Matrix out(1, 2);
  constants.evaluate({t, x, {}, {}}, out);
  CHECK(out(0, 0) == doctest::Approx(1.0 / 3.0).epsilon(1e-15));
  CHECK(out(0, 1) == doctest::Approx(-2.0 / 3.0).epsilon(1e-15));
}

TEST_CASE("an attribute and an option that disagree are refused with both values") {
  TorchScriptOptions o;
  o.prediction = Prediction::data;
  auto m = message_of_load("vp_noise_t_f64.pt", o);
  CHECK(contains(m, "vp_noise_t_f64.pt"));
  CHECK(contains(m, "its attribute prediction = 'noise' disagrees with the option prediction = 'data'"));

  o = {};
  o.sde = family("ve");
  CHECK(contains(message_of_load("vp_noise_t_f64.pt", o), "attribute sde = 'vp' disagrees with the option sde = 've'"));

  o = {};
  o.sde = family("ve");
  o.sde->sigma_max = 50.0;
  CHECK(contains(message_of_load("ve_score_sigma_f32.pt", o),
                 "attribute sigma_max = 40 disagrees with the option sigma_max = 50"));

  o = {};
  o.time_input = TimeInputKind::sigma;
  CHECK(contains(message_of_load("vp_noise_t_f64.pt", o),
                 "attribute time_input = 't' disagrees with the option time_input = 'sigma'"));

  o = {};
  o.time_scale = 1000.0;
  CHECK(contains(message_of_load("vp_noise_scaled_f64.pt", o),
                 "attribute time_scale = 999 disagrees with the option time_scale = 1000"));

  o = {};
  o.dim = 3;
  CHECK(contains(message_of_load("vp_noise_t_f64.pt", o), "attribute dim = 2 disagrees with the option dim = 3"));

  o = {};
  o.classes = 4;
  CHECK(contains(message_of_load("cond_f64.pt", o), "attribute classes = 3 disagrees with the option classes = 4"));

  // Values given both ways that agree, and options that complete the attributes, are accepted.
  o = {};
  o.prediction = Prediction::noise;
  o.sde = family("vp");
  o.sde->beta_min = 0.1;
  o.time_input = TimeInputKind::t;
  o.dim = 2;
  const TorchScriptModel agreed(fixture("vp_noise_t_f64.pt"), o);
  CHECK(agreed.sde_spec()->beta_min == 0.1);
  CHECK_FALSE(agreed.sde_spec()->beta_max.has_value());
}

TEST_CASE("what neither the attributes nor the options give is refused, naming the option") {
  TorchScriptOptions o;
  CHECK(contains(message_of_load("bare_f64.pt", o), "no prediction: give the module a 'prediction' attribute"));
  o.prediction = Prediction::noise;
  CHECK(contains(message_of_load("bare_f64.pt", o), "no time input"));
  o.time_input = TimeInputKind::c_noise;
  CHECK(contains(message_of_load("bare_f64.pt", o), "the time input 'c_noise' needs the family's sigma(t)"));
  o.time_input = TimeInputKind::t;
  o.time_scale = 2.0;
  CHECK(contains(message_of_load("bare_f64.pt", o),
                 "time_scale = 2 and time_shift = 0 apply only to the time input 'scaled_t', not 't'"));
  o.time_scale = 1.0;  // the identity is what exporters store for every kind: accepted
  CHECK(TorchScriptModel(fixture("bare_f64.pt"), o).time_input().kind == TimeInputKind::t);
  o.time_scale.reset();
  o.time_input = TimeInputKind::scaled_t;
  CHECK(contains(message_of_load("bare_f64.pt", o), "the time input 'scaled_t' needs time_scale"));
  o.time_scale = -1.0;
  CHECK(contains(message_of_load("bare_f64.pt", o), "time_scale = -1 must be positive and finite"));
  o.time_input = TimeInputKind::t;
  o.time_scale.reset();
  o.null_class = 0;
  CHECK(contains(message_of_load("bare_f64.pt", o), "null_class = 0 is given for a module without classes"));
  o.null_class.reset();
  o.sde = family("vp");
  o.sde->sigma_max = 3.0;
  CHECK(contains(message_of_load("bare_f64.pt", o), "--sigma-max does not apply to the vp family"));
  o.sde.reset();
  o.classes = 3;
  CHECK(contains(message_of_load("bare_f64.pt", o), "forward takes no labels (x, s), but classes = 3 is given"));
  o.classes.reset();
  o.dim = 0;
  CHECK(contains(message_of_load("bare_f64.pt", o), "dim = 0 must be positive"));
  o.dim.reset();
  o.intra_op_threads = 0;
  CHECK(contains(message_of_load("bare_f64.pt", o), "intra_op_threads = 0 must be at least 1"));

  auto c = bare_options();
  CHECK(contains(message_of_load("cond_bare_f32.pt", c), "forward takes labels (x, s, y), but the number of classes"));
  c.classes = 3;
  c.null_class = 1;
  CHECK(contains(message_of_load("cond_bare_f32.pt", c), "null_class = 1 must not be a class label 0..2"));
  c.null_class.reset();
  const TorchScriptModel no_null(fixture("cond_bare_f32.pt"), c);
  CHECK(no_null.conditioning().null_class == -1);
}

TEST_CASE("modules that do not load or do not have the signature are refused naming the file") {
  const auto o = bare_options();
  CHECK(contains(message_of_load("missing.pt", o), "missing.pt': no such file"));
  CHECK(contains(message_of_load("not_a_module.pt", o), "not_a_module.pt': does not load as TorchScript"));
  CHECK(contains(message_of_load("one_argument.pt", o),
                 "one_argument.pt': forward must take tensors (x, s) or (x, s, y); it takes (x: Tensor)"));
  CHECK(contains(message_of_load("returns_tuple.pt", o),
                 "returns_tuple.pt': forward must return one Tensor; it returns (Tensor, Tensor)"));
  CHECK(contains(message_of_load("wrong_attribute_type.pt", o),
                 "wrong_attribute_type.pt': attribute prediction must be a str, not int"));
  // A forward that returns another shape is caught at its first call.
  const TorchScriptModel wrong(fixture("wrong_shape.pt"), o);
  const Matrix x = Matrix::Ones(4, 2);
  const Vector t = Vector::Constant(4, 0.5);
  Matrix out(4, 2);
  CHECK_THROWS_WITH_AS(wrong.evaluate({t, x, {}, {}}, out),
                       doctest::Contains("wrong_shape.pt': forward returned a Double tensor of shape [4, 3] "
                                         "for x of shape [4, 2]"),
                       InvalidArgument);
}

TEST_CASE("JVP and VJP match central differences and each other") {
  for (const char* name : {"vp_noise_t_f64", "edm_data_cnoise_f64", "cond_f64", "ve_score_sigma_f32"}) {
    CAPTURE(name);
    const TorchScriptModel model(fixture(std::string(name) + ".pt"));
    const bool f32 = model.dtype() == "float32";
    const Reference ref(name);
    const auto in = ref.input();
    test::Inputs rng(7);
    const Matrix v = rng.uniform(ref.x.rows(), ref.x.cols(), -1.0, 1.0);
    const Matrix w = rng.uniform(ref.x.rows(), ref.x.cols(), -1.0, 1.0);
    Matrix jv(v.rows(), v.cols()), jtw(w.rows(), w.cols());
    model.jvp(in, v, jv);
    model.vjp(in, w, jtw);

    // Central differences along v: error h^2/6 |f'''| plus rounding eps |f| / h. float64 with
    // h = 1e-5: about 1e-10 + 1e-11; float32 with h = 1e-2 (x is O(1)): about 2e-5 + 6e-6.
    const double h = f32 ? 1e-2 : 1e-5;
    const double tolerance = f32 ? 1e-3 : 1e-7;
    const Matrix xp = ref.x + h * v, xm = ref.x - h * v;
    Matrix fp(v.rows(), v.cols()), fm(v.rows(), v.cols());
    model.evaluate({ref.t, xp, ref.samples, ref.labels}, fp);
    model.evaluate({ref.t, xm, ref.samples, ref.labels}, fm);
    const Matrix fd = (fp - fm) / (2.0 * h);
    CHECK(row_relative_error(jv, fd) <= tolerance);

    // <w_i, J_i v_i> = <J_i^T w_i, v_i> row by row (the two products are separate autograd runs).
    for (Eigen::Index i = 0; i < v.rows(); ++i) {
      const double a = w.row(i).dot(jv.row(i)), b = jtw.row(i).dot(v.row(i));
      CHECK(std::fabs(a - b) <= (f32 ? 1e-5 : 1e-13) * (w.row(i).norm() * jv.row(i).norm()));
    }
  }
}

TEST_CASE("samples are bitwise identical across 1, 2 and 8 threads at a fixed chunk size") {
  const VpSde vp;
  const auto grid = make_grid(vp, {.spacing = GridSpacing::log_snr, .steps = 12});
  for (const char* name : {"vp_noise_t_f64.pt", "bare_f32.pt"}) {
    CAPTURE(name);
    const TorchScriptModel model(fixture(name), bare_options());
    const auto sampler = make_sampler("dpm-solver++");
    Matrix first;
    for (int threads : {1, 2, 8}) {
      SampleOptions o;
      o.num_samples = 150;
      o.seed = 3;
      o.execution = {.threads = threads, .chunk_rows = 16};
      const Matrix x = sample(vp, model, *sampler, grid, o).samples;
      REQUIRE(x.allFinite());
      if (threads == 1) {
        first = x;
      } else {
        CHECK(test::bitwise_equal(x, first));
      }
    }
  }
}

TEST_CASE("a user's own TorchScript module runs from the CLI with only the documented flags") {
  // issue 8's example: eps(x, t) for VP with continuous t, no attributes; the CLI's samples are
  // the library's bits for the same module, options and initial state.
  if (std::string(TWEEDIE_CLI).empty()) return;
  test::TempDir dir;
  const Matrix init = test::Inputs(9).uniform(40, 2, -2.0, 2.0);
  write_npy(dir.file("x.npy"), init);
  const auto r = test::run_cli(fmt::format(
      "sample --model {} --prediction noise --sde vp --time-input t --sampler dpm-solver++ --steps 20 "
      "--init {} --out {}", fixture("bare_f64.pt"), dir.file("x.npy"), dir.file("y.npy")));
  REQUIRE(r.status == 0);
  const VpSde vp;
  SampleOptions o;
  o.init = &init;
  o.execution = {.threads = 2, .chunk_rows = 256};  // the CLI's default chunk
  const TorchScriptModel model(fixture("bare_f64.pt"), bare_options());
  const Matrix expected = sample(vp, model, *make_sampler("dpm-solver++"), make_grid(vp, {.steps = 20}), o).samples;
  CHECK(test::bitwise_equal(read_npy_matrix(dir.file("y.npy")), expected));
  // Without the flags it cannot know, the run is refused with one line naming what is missing.
  const auto missing = test::run_cli(fmt::format("sample --model {} --sde vp --time-input t --sampler ddim --steps 5 "
                                                 "--init {} --out {}", fixture("bare_f64.pt"), dir.file("x.npy"),
                                                 dir.file("z.npy")));
  CHECK(missing.status == 2);
  CHECK(contains(missing.output, "no prediction"));
  CHECK(!std::filesystem::exists(dir.file("z.npy")));
}

TEST_CASE("conditional samples are bitwise identical across thread counts; labels reach their rows") {
  const VpSde vp;
  const auto grid = make_grid(vp, {.spacing = GridSpacing::log_snr, .steps = 8});
  const TorchScriptModel model(fixture("cond_f64.pt"));
  const auto sampler = make_sampler("dpm-solver++");
  SampleOptions o;
  o.num_samples = 90;
  o.seed = 5;
  for (std::size_t i = 0; i < o.num_samples; ++i) o.labels.push_back(static_cast<int>(i % 4));  // 3: null
  Matrix first;
  for (int threads : {1, 2, 8}) {
    o.execution = {.threads = threads, .chunk_rows = 16};
    const Matrix x = sample(vp, model, *sampler, grid, o).samples;
    if (threads == 1) {
      first = x;
    } else {
      CHECK(test::bitwise_equal(x, first));
    }
  }
  // The same run with every label equal to class 0 changes exactly the rows not labelled 0.
  for (auto& y : o.labels) y = 0;
  o.execution = {.threads = 2, .chunk_rows = 16};
  const Matrix zero = sample(vp, model, *sampler, grid, o).samples;
  for (Eigen::Index i = 0; i < zero.rows(); ++i) {
    CAPTURE(i);
    CHECK((zero.row(i) == first.row(i)) == (i % 4 == 0));
  }
  // No labels: the null class for every row.
  const Vector t = Vector::Constant(3, 0.5);
  const Matrix x = Matrix::Ones(3, 2);
  const std::vector<int> nulls(3, 3);
  Matrix none(3, 2), null(3, 2);
  model.evaluate({t, x}, none);
  model.evaluate({t, x, {}, nulls}, null);
  CHECK(test::bitwise_equal(none, null));
}

TEST_CASE("a module that throws is reported with the file and the samples; NaN with sample and step") {
  const VpSde vp;
  const auto grid = make_grid(vp, {.steps = 10});
  const auto sampler = make_sampler("dpm-solver++");
  SampleOptions o;
  o.num_samples = 20;
  o.execution = {.threads = 1, .chunk_rows = 8};

  const TorchScriptModel throws(fixture("throws.pt"), bare_options());
  CHECK_THROWS_WITH_AS(sample(vp, throws, *sampler, grid, o),
                       doctest::Contains("throws.pt': forward failed on samples 0 to 7 (8 rows) at t = 0.4"),
                       InvalidArgument);
  CHECK_THROWS_WITH_AS(sample(vp, throws, *sampler, grid, o),
                       doctest::Contains("deliberate failure below s = 0.5"), InvalidArgument);

  const TorchScriptModel nan(fixture("nan_below.pt"), bare_options());
  try {
    sample(vp, nan, *sampler, grid, o);
    FAIL("no NonFiniteError");
  } catch (const NonFiniteError& e) {
    CHECK(e.sample() == 0);  // one thread: the first chunk is the first to fail
    // The first model call below t = 0.3 is the one at the first grid point below it.
    std::size_t first_below = 0;
    while (grid[first_below] >= 0.3) ++first_below;
    CHECK(e.step() == first_below);
    CHECK(e.time() == grid[first_below]);
  }
}

TEST_CASE("TorchScript exports of tweedie_net networks agree with MlpModel on the same weights") {
  // mlp_NAME.pt is examples/train/tweedie_net.py's export_torchscript of
  // tests/data/mlp/NAME.f64.safetensors: forward(x, s, y=None) with the spec as attributes.
  for (const char* name : {"vp_sinusoidal", "ve_fourier", "subvp_cnoise", "cosine_conditional", "edm_precond",
                           "vp_discrete_noblocks"}) {
    CAPTURE(name);
    const std::string mlp_data = std::string(TWEEDIE_TEST_DATA) + "/mlp/" + name;
    const auto mlp = MlpModel::load(mlp_data + ".f64.safetensors");
    const TorchScriptModel ts(fixture(std::string("mlp_") + name + ".pt"));
    // The conventions read from the module's attributes are the spec's.
    const auto& spec = mlp->spec();
    CHECK(ts.prediction() == spec.prediction);
    CHECK(ts.dim() == spec.dim);
    CHECK(ts.conditioning().classes == spec.conditioning.classes);
    CHECK(ts.conditioning().null_class == spec.conditioning.null_class);
    CHECK(ts.time_input().kind == spec.time_input.kind);
    CHECK(ts.time_input().scale == spec.time_input.scale);
    CHECK(ts.time_input().shift == spec.time_input.shift);
    REQUIRE(ts.sde_spec().has_value());
    CHECK(ts.sde_spec()->family == spec.sde.family);
    CHECK(ts.sde_spec()->sigma_max == spec.sde.sigma_max);
    CHECK(ts.sde_spec()->beta_max == spec.sde.beta_max);
    CHECK(ts.dtype() == "float64");

    const Matrix x = read_npy_matrix(mlp_data + ".x.npy");
    const auto tv = read_npy_vector(mlp_data + ".t.npy");
    const Vector t = Eigen::Map<const Vector>(tv.data(), static_cast<Eigen::Index>(tv.size()));
    std::vector<int> labels;
    for (double y : read_npy(mlp_data + ".labels.npy").values) labels.push_back(static_cast<int>(y));
    const ModelInput in{t, x, {}, labels};
    Matrix a(x.rows(), x.cols()), b(x.rows(), x.cols());
    ts.evaluate(in, a);
    mlp->evaluate(in, b);
    CHECK(row_relative_error(a, b) <= 1e-12);
    // Their derivatives: autograd's double backward and MlpModel's forward mode.
    test::Inputs rng(11);
    const Matrix v = rng.uniform(x.rows(), x.cols(), -1.0, 1.0);
    ts.jvp(in, v, a);
    mlp->jvp(in, v, b);
    CHECK(row_relative_error(a, b) <= 1e-12);
    ts.vjp(in, v, a);
    mlp->vjp(in, v, b);
    CHECK(row_relative_error(a, b) <= 1e-12);
  }
}
