// MlpClassifier (a tweedie.mlp network with a classifier head) against PyTorch's logits and
// autograd gradients on the fixtures of tests/data/mlp_classifier (make_fixtures.py), its
// reverse-mode gradient against central differences, bitwise batch invariance, classifier
// guidance with it, and the refusal of files and calls that do not fit.
#include <tweedie/guidance.hpp>
#include <tweedie/mlp_classifier.hpp>
#include <tweedie/npy.hpp>

#include "safetensors_util.hpp"
#include "test_util.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

using namespace tweedie;

namespace {

const std::vector<std::string> kClassifiers = {"vp_norm", "ve_fourier"};

std::string fixture(const std::string& name, const std::string& suffix) {
  return std::string(TWEEDIE_TEST_DATA) + "/mlp_classifier/" + name + "." + suffix;
}

struct Batch {
  Matrix x;
  Vector t;
  std::vector<int> labels;
  ModelInput input() const { return {t, x, {}, labels}; }
};

Batch read_batch(const std::string& name) {
  Batch b;
  b.x = read_npy_matrix(fixture(name, "x.npy"));
  const std::vector<double> t = read_npy_vector(fixture(name, "t.npy"));
  b.t = Eigen::Map<const Vector>(t.data(), static_cast<Eigen::Index>(t.size()));
  for (double v : read_npy_vector(fixture(name, "labels.npy"))) b.labels.push_back(static_cast<int>(v));
  return b;
}

Matrix gradient(const NoisyClassifier& c, const Batch& b) {
  Matrix g(b.x.rows(), b.x.cols());
  c.log_prob_gradient(b.input(), g);
  return g;
}

// log softmax_y(logits) of row i, from the classifier's forward pass.
double log_prob(const MlpClassifier& c, double t, const Eigen::RowVectorXd& x, int y) {
  Matrix logits(1, c.classes());
  c.logits({Vector::Constant(1, t), x, {}, {}}, logits);
  const double top = logits.maxCoeff();
  return logits(0, y) - top - std::log((logits.array() - top).exp().sum());
}

// max over rows of |a_i - b_i|_inf / max(|b_i|_inf, floor).
double max_row_error(const Matrix& a, const Matrix& b, double floor = 1e-3) {
  double worst = 0.0;
  for (Eigen::Index i = 0; i < a.rows(); ++i) {
    worst = std::max(worst, (a.row(i) - b.row(i)).lpNorm<Eigen::Infinity>() /
                                std::max(floor, b.row(i).lpNorm<Eigen::Infinity>()));
  }
  return worst;
}

}  // namespace

TEST_CASE("MlpClassifier agrees with PyTorch: logits and autograd's gradient of log softmax_y (1e-12)") {
  for (const auto& name : kClassifiers) {
    CAPTURE(name);
    const auto c = MlpClassifier::load(fixture(name, "safetensors"));
    const Batch b = read_batch(name);
    const Matrix want_logits = read_npy_matrix(fixture(name, "logits.npy"));
    REQUIRE(c->classes() == want_logits.cols());
    CHECK(c->dim() == b.x.cols());
    Matrix logits(b.x.rows(), c->classes());
    c->logits(b.input(), logits);
    const double logit_error = max_row_error(logits, want_logits);
    const double grad_error = max_row_error(gradient(*c, b), read_npy_matrix(fixture(name, "grad.npy")));
    MESSAGE(name << ": relative error against torch: logits " << logit_error << ", autograd gradient " << grad_error);
    CHECK(logit_error < 1e-12);
    CHECK(grad_error < 1e-11);
  }
}

TEST_CASE("MlpClassifier: the reverse-mode gradient matches central differences of log softmax_y") {
  for (const auto& name : kClassifiers) {
    CAPTURE(name);
    const auto c = MlpClassifier::load(fixture(name, "safetensors"));
    const Batch b = read_batch(name);
    const Matrix g = gradient(*c, b);
    const double h = 1e-5;  // central differences: error O(h^2) + O(eps / h), about 1e-9 here
    Matrix fd(b.x.rows(), b.x.cols());
    for (Eigen::Index i = 0; i < b.x.rows(); ++i) {
      const int y = b.labels[static_cast<std::size_t>(i)];
      for (Eigen::Index j = 0; j < b.x.cols(); ++j) {
        Eigen::RowVectorXd up = b.x.row(i), down = b.x.row(i);
        up(j) += h;
        down(j) -= h;
        fd(i, j) = (log_prob(*c, b.t(i), up, y) - log_prob(*c, b.t(i), down, y)) / (2 * h);
      }
    }
    MESSAGE(name << ": relative error against central differences (h = 1e-5): " << max_row_error(g, fd));
    CHECK(max_row_error(g, fd) < 1e-7);
    CHECK(g.norm() > 1e-2);  // not a vanishing gradient that would pass any comparison
  }
}

TEST_CASE("MlpClassifier is batch-invariant bit for bit (rows alone, in any chunks), in float64 and float32") {
  for (const Precision p : {Precision::float64, Precision::float32}) {
    CAPTURE(to_string(p));
    const auto c = MlpClassifier::load(fixture("vp_norm", "safetensors"), {p});
    const Batch b = read_batch("vp_norm");
    const Matrix whole = gradient(*c, b);
    CHECK(c->batch_invariant());
    for (const Eigen::Index chunk : {1, 5, 24, 25}) {
      Matrix pieces(b.x.rows(), b.x.cols());
      for (Eigen::Index r0 = 0; r0 < b.x.rows(); r0 += chunk) {
        const Eigen::Index n = std::min(chunk, b.x.rows() - r0);
        const Batch part{b.x.middleRows(r0, n), b.t.segment(r0, n),
                         std::vector<int>(b.labels.begin() + r0, b.labels.begin() + r0 + n)};
        pieces.middleRows(r0, n) = gradient(*c, part);
      }
      CAPTURE(chunk);
      CHECK(test::bitwise_equal(pieces, whole));
    }
  }
}

TEST_CASE("classifier guidance with an MlpClassifier adds scale times its gradient, in the model's parameterisation") {
  const auto c = std::shared_ptr<const MlpClassifier>(MlpClassifier::load(fixture("vp_norm", "safetensors")));
  const Batch b = read_batch("vp_norm");
  // An unconditional eps model: the standard normal's x_t, eps(x, t) = sigma_t x (VP keeps N(0, I)).
  const auto sde = make_sde({});
  const auto model = std::shared_ptr<const ScoreModel>(make_model(
      Prediction::noise, b.x.cols(),
      [&](const ConstVectorRef& t, const ConstMatrixRef& x, MatrixRef out) {
        for (Eigen::Index i = 0; i < x.rows(); ++i) out.row(i) = sde->sigma(t(i)) * x.row(i);
      }));
  const double scale = 2.5;
  const auto guided = classifier_guidance(model, c, *sde, scale);
  Matrix out(b.x.rows(), b.x.cols());
  guided->evaluate(b.input(), out);
  const Matrix g = gradient(*c, b);
  for (Eigen::Index i = 0; i < b.x.rows(); ++i) {
    const double sigma = sde->sigma(b.t(i));
    const Eigen::RowVectorXd want = sigma * b.x.row(i) - scale * sigma * g.row(i);  // eps - s sigma grad
    CHECK((out.row(i) - want).lpNorm<Eigen::Infinity>() <= 1e-14 * (1.0 + want.lpNorm<Eigen::Infinity>()));
  }
  CHECK(guided->description().find("MLP classifier") != std::string::npos);
}

TEST_CASE("MlpClassifier refuses bad calls, naming what was wrong") {
  const std::string path = fixture("ve_fourier", "safetensors");
  const auto c = MlpClassifier::load(path);
  Batch b = read_batch("ve_fourier");
  Matrix g(b.x.rows(), b.x.cols());
  b.labels[3] = 2;  // two classes
  CHECK_THROWS_WITH_AS(c->log_prob_gradient(b.input(), g), doctest::Contains("row 3 has label 2, not in 0 .. 1"),
                       InvalidArgument);
  b.labels.pop_back();
  CHECK_THROWS_WITH_AS(c->log_prob_gradient(b.input(), g), doctest::Contains("every row needs a class label"),
                       InvalidArgument);
  const Matrix narrow(2, 2);
  Matrix logits(2, 2);
  CHECK_THROWS_WITH_AS(c->logits({b.t.head(2), narrow, {}, {}}, logits),
                       (path + ": classifier of dimension 3 given rows of 2 numbers").c_str(), InvalidArgument);
  Matrix wide(b.x.rows(), 3);
  CHECK_THROWS_WITH_AS(c->logits({b.t, b.x, {}, {}}, wide), doctest::Contains("classifier logits of shape"),
                       InvalidArgument);
}

TEST_CASE("MlpClassifier and MlpModel refuse each other's files and files that do not match their spec") {
  test::TempDir dir;
  const std::string path = dir.file("classifier.safetensors");
  const test::SafetensorsContents base = test::read_contents(fixture("vp_norm", "safetensors"));
  test::write_safetensors(path, base);
  CHECK_NOTHROW(MlpClassifier::load(path));  // the writer itself is sound
  CHECK_THROWS_WITH_AS(MlpModel::load(path),
                       doctest::Contains((path + ": a classifier of 4 classes (output.logits), not a score network").c_str()),
                       InvalidArgument);
  const std::string score = fmt::format("{}/mlp/vp_sinusoidal.f64.safetensors", TWEEDIE_TEST_DATA);
  CHECK_THROWS_WITH_AS(MlpClassifier::load(score), doctest::Contains((score + ": a score network").c_str()), InvalidArgument);

  auto refused = [&](const test::SafetensorsContents& c, const std::string& part) {
    test::write_safetensors(path, c);
    CHECK_THROWS_WITH_AS(MlpClassifier::load(path), doctest::Contains((path + ": " + part).c_str()), InvalidArgument);
  };
  SUBCASE("an output layer of the input's width, not the K logits") {
    test::SafetensorsContents c = base;
    c.tensors["output.dense.weight"].shape = {5, 12};
    c.tensors["output.dense.weight"].values.resize(60);
    refused(c, "tensor 'output.dense.weight' has shape [5, 12], and the spec needs [4, 12]");
  }
  SUBCASE("a missing output bias") {
    test::SafetensorsContents c = base;
    c.tensors.erase("output.dense.bias");
    refused(c, "tensor 'output.dense.bias' is missing (the spec needs one of shape [4])");
  }
  auto with_spec = [&](const std::function<void(nlohmann::json&)>& edit) {
    test::SafetensorsContents c = base;
    nlohmann::json spec = nlohmann::json::parse(c.metadata.at("tweedie.mlp"));
    edit(spec);
    c.metadata["tweedie.mlp"] = spec.dump();
    return c;
  };
  SUBCASE("spec errors") {
    refused(with_spec([](auto& s) { s["prediction"] = "noise"; }),
            "tweedie.mlp spec: prediction is not a field of a classifier (output.logits)");
    refused(with_spec([](auto& s) { s["classes"] = 3; }),
            "tweedie.mlp spec: classes is not a field of a classifier (output.logits)");
    refused(with_spec([](auto& s) { s["output"]["logits"] = 0; }),
            "tweedie.mlp spec: output.logits is not a positive integer");
    refused(with_spec([](auto& s) { s["output"]["logits"] = "4"; }),
            "tweedie.mlp spec: output.logits is not a positive integer");
  }
}
