// Data encoding: bits per dimension against closed forms, the scale and the declared quantisation,
// uniform dequantisation (bins, uniformity, determinism), the refusals, and the CLI flags.
#include "cli_util.hpp"

#include "test_util.hpp"

#include <tweedie/tweedie.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numbers>
#include <string>
#include <vector>

using namespace tweedie;

namespace {

/// log N(x; 0, I) of one row.
double log_std_normal(const Eigen::Ref<const Eigen::RowVectorXd>& x) {
  const auto d = static_cast<double>(x.size());
  return -0.5 * x.squaredNorm() - 0.5 * d * std::log(2.0 * std::numbers::pi);
}

DataEncoding encoding(double scale, double shift, int bits, Dequantization q) {
  DataEncoding e;
  e.data_scale = scale;
  e.data_shift = shift;
  e.bits = bits;
  e.dequantize = q;
  return e;
}

/// n x d integers in {0 .. 2^bits - 1}, every level present in every column when n >= 2^bits.
Matrix levels(Eigen::Index n, Eigen::Index d, int bits) {
  Matrix k(n, d);
  const auto top = static_cast<Eigen::Index>(1) << bits;
  for (Eigen::Index i = 0; i < n; ++i) {
    for (Eigen::Index j = 0; j < d; ++j) k(i, j) = static_cast<double>((i * 7 + j * 13) % top);
  }
  return k;
}

std::string message_of(const ConstMatrixRef& y, const DataEncoding& e) {
  try {
    to_model_data(y, e, 0);
  } catch (const InvalidArgument& err) {
    return err.what();
  }
  return "";
}

}  // namespace

TEST_CASE("bits_per_dim of a standard normal: closed forms") {
  // At the origin log N(0; 0, I) = -d/2 ln(2 pi), so bpd = log2(2 pi) / 2 whatever d.
  for (int d : {1, 2, 16, 784}) {
    const double logp = -0.5 * d * std::log(2.0 * std::numbers::pi);
    CHECK(bits_per_dim(logp, d, {}) == doctest::Approx(0.5 * std::log2(2.0 * std::numbers::pi)).epsilon(1e-14));
  }
  // Averaged over N(0, I) samples, -log2 p / d is the differential entropy log2(2 pi e) / 2 per
  // dimension (2.047 bits): the sample mean is within 4 standard errors of it.
  const Matrix x = sample_prior(VpSde(), 16, 4000, 0, PhiloxNoise(3));
  Vector bpd(x.rows());
  for (Eigen::Index i = 0; i < x.rows(); ++i) bpd(i) = bits_per_dim(log_std_normal(x.row(i)), 16, {});
  const double n = static_cast<double>(bpd.size()), mean = bpd.mean();
  const double se = std::sqrt((bpd.array() - mean).square().sum() / (n - 1) / n);
  CHECK(std::fabs(mean - 0.5 * std::log2(2.0 * std::numbers::pi * std::numbers::e)) < 4.0 * se);
}

TEST_CASE("bits_per_dim: the scale moves it by exactly log2(scale), the shift not at all") {
  const double logp = -23.7;
  const int d = 6;
  const double plain = bits_per_dim(logp, d, {});
  CHECK(plain == doctest::Approx(23.7 / (d * std::numbers::ln2)).epsilon(1e-14));
  for (double scale : {0.5, 2.0, 127.5, 1e-3}) {
    CAPTURE(scale);
    const double scaled = bits_per_dim(logp, d, encoding(scale, 0.0, 0, Dequantization::none));
    CHECK(plain - scaled == doctest::Approx(std::log2(scale)).epsilon(1e-12));
    CHECK(bits_per_dim(logp, d, encoding(scale, -1.0, 0, Dequantization::none)) == scaled);
  }
  // A uniform density on [-1, 1)^d (log p = -d ln 2) of y in [0, 1) (x = 2 y - 1): y has density
  // 1, so 0 bits per dimension; 8 per 8-bit value.
  CHECK(bits_per_dim(-4.0 * std::numbers::ln2, 4, encoding(2.0, -1.0, 0, Dequantization::none)) ==
        doctest::Approx(0.0).scale(1.0));
  CHECK(bits_per_dim(-4.0 * std::numbers::ln2, 4, encoding(2.0, -1.0, 8, Dequantization::uniform)) ==
        doctest::Approx(8.0));
}

TEST_CASE("bits_per_dim adds the offset only for declared quantised data") {
  // score_sde's offsets 7 - inverse_scaler(-1): 7 for data centred to [-1, 1), 8 for [0, 1).
  CHECK(bits_per_dim(0.0, 3, encoding(2.0, -1.0, 8, Dequantization::uniform)) == doctest::Approx(7.0));
  CHECK(bits_per_dim(0.0, 3, encoding(1.0, 0.0, 8, Dequantization::none)) == doctest::Approx(8.0));
  CHECK(bits_per_dim(0.0, 3, {}) == 0.0);
  for (int bits = 1; bits <= max_data_bits; ++bits) {
    CHECK(bits_per_dim(-5.0, 2, encoding(1.0, 0.0, bits, Dequantization::none)) ==
          doctest::Approx(bits_per_dim(-5.0, 2, {}) + bits));
  }
  CHECK_THROWS_AS(bits_per_dim(0.0, 0, {}), InvalidArgument);
  CHECK_THROWS_AS(bits_per_dim(0.0, 3, encoding(0.0, 0.0, 0, Dequantization::none)), InvalidArgument);
  CHECK_THROWS_AS(bits_per_dim(0.0, 3, encoding(1.0, 0.0, 17, Dequantization::none)), InvalidArgument);
  CHECK_THROWS_AS(bits_per_dim(0.0, 3, encoding(1.0, 0.0, 0, Dequantization::uniform)), InvalidArgument);
}

TEST_CASE("to_model_data without bits is x = scale * y + shift, with no offset or noise") {
  test::Inputs in(4);
  const Matrix y = in.uniform(5, 3, -3.0, 3.0);
  CHECK(test::bitwise_equal(to_model_data(y, {}, 0), y));
  const Matrix x = to_model_data(y, encoding(2.5, -0.75, 0, Dequantization::none), 9);
  // Not bitwise: this file may be compiled with FMA contraction, the library is not.
  CHECK((x - (2.5 * y.array() - 0.75).matrix()).cwiseAbs().maxCoeff() < 1e-14);
  // Already-dequantised 8-bit data: the same map, values in [0, 1) only.
  const Matrix u = in.uniform(4, 2, 0.0, 1.0);
  CHECK(test::bitwise_equal(to_model_data(u, encoding(2.0, -1.0, 8, Dequantization::none), 1),
                            (2.0 * u.array() - 1.0).matrix()));
}

TEST_CASE("uniform dequantisation puts y in [k / 2^bits, (k + 1) / 2^bits), uniformly") {
  SUBCASE("8 bits: bins and a Kolmogorov-Smirnov test of the offsets") {
    const Matrix k = levels(25600, 4, 8);  // each level 100 times per column
    const Matrix y = to_model_data(k, encoding(1.0, 0.0, 8, Dequantization::uniform), 17);
    std::vector<double> u;
    bool in_bins = true;
    for (Eigen::Index i = 0; i < k.rows(); ++i) {
      for (Eigen::Index j = 0; j < k.cols(); ++j) {
        in_bins = in_bins && y(i, j) >= k(i, j) / 256.0 && y(i, j) < (k(i, j) + 1.0) / 256.0;
        u.push_back(y(i, j) * 256.0 - k(i, j));  // exact: scaling by 2^8
      }
    }
    REQUIRE(in_bins);
    std::sort(u.begin(), u.end());
    const double n = static_cast<double>(u.size());
    double ks = 0.0;
    for (std::size_t i = 0; i < u.size(); ++i) {
      ks = std::max({ks, static_cast<double>(i + 1) / n - u[i], u[i] - static_cast<double>(i) / n});
    }
    // 1.95 / sqrt(n): the 0.1 % critical value of the KS statistic.
    CHECK(ks < 1.95 / std::sqrt(n));
    // Chi-square over 16 sub-bins of the offsets (15 degrees of freedom; 0.1 % point 37.7).
    std::vector<double> counts(16, 0.0);
    for (double v : u) counts[static_cast<std::size_t>(v * 16.0)] += 1.0;
    double chi2 = 0.0;
    for (double c : counts) chi2 += (c - n / 16.0) * (c - n / 16.0) / (n / 16.0);
    MESSAGE(fmt::format("dequantisation offsets: KS {:.4f} (bound {:.4f}), chi-square {:.1f}", ks,
                        1.95 / std::sqrt(n), chi2));
    CHECK(chi2 < 37.7);
  }
  SUBCASE("the top level of every width stays below 1; scale and shift apply after") {
    for (int bits : {1, 8, 16}) {
      CAPTURE(bits);
      const double top = std::ldexp(1.0, bits) - 1.0;
      const Matrix k = Matrix::Constant(2000, 3, top);
      const Matrix y = to_model_data(k, encoding(1.0, 0.0, bits, Dequantization::uniform), 2);
      CHECK((y.array() >= top / std::ldexp(1.0, bits)).all());
      CHECK((y.array() < 1.0).all());
      const Matrix x = to_model_data(k, encoding(2.0, -1.0, bits, Dequantization::uniform), 2);
      CHECK(test::bitwise_equal(x, (2.0 * y.array() - 1.0).matrix()));
    }
  }
}

TEST_CASE("uniform dequantisation is bitwise the same for any threads, chunks and split") {
  const Matrix k = levels(37, 5, 8);
  const DataEncoding e = encoding(2.0, -1.0, 8, Dequantization::uniform);
  const Matrix a = to_model_data(k, e, 5, {1, 37});
  CHECK(test::bitwise_equal(a, to_model_data(k, e, 5, {2, 3})));
  CHECK(test::bitwise_equal(a, to_model_data(k, e, 5, {0, 1})));
  // Rows 10..19 alone, as samples 10..19.
  CHECK(test::bitwise_equal(a.middleRows(10, 10), to_model_data(k.middleRows(10, 10), e, 5, {2, 4}, 10)));
  // Another seed, other noise (the seed reaches the stream).
  CHECK_FALSE(test::bitwise_equal(a, to_model_data(k, e, 6)));
  // The noise comes from the dequantisation stream of the sample: y = (k + u) / 256.
  Matrix u(k.rows(), k.cols());
  PhiloxNoise(5).uniform_rows(0, 0, 0, NoiseStream::dequantize, u);
  CHECK((u.array() >= 0.0).all());
  CHECK((u.array() < 1.0).all());
  CHECK(test::bitwise_equal(a, (2.0 * ((k + u) / 256.0).array() - 1.0).matrix()));
}

TEST_CASE("to_model_data names the row and column of the first refused value") {
  Matrix k = levels(4, 3, 8);
  const DataEncoding uniform8 = encoding(1.0, 0.0, 8, Dequantization::uniform);
  CHECK(message_of(k, uniform8).empty());
  for (double bad : {3.5, -1.0, 256.0, std::nan("")}) {
    CAPTURE(bad);
    Matrix b = k;
    b(2, 1) = bad;
    b(3, 0) = bad;  // a later one: the first in row-major order is named
    const std::string m = message_of(b, uniform8);
    CAPTURE(m);
    CHECK(m.find("row 2, column 1") != std::string::npos);
  }
  const DataEncoding none8 = encoding(1.0, 0.0, 8, Dequantization::none);
  Matrix y = Matrix::Constant(3, 2, 0.5);
  y(1, 0) = 1.0;  // the bin [0, 1) is half-open
  CHECK(message_of(y, none8).find("row 1, column 0") != std::string::npos);
  y(1, 0) = -0.0;
  CHECK(message_of(y, none8).empty());
  Matrix c = Matrix::Zero(2, 2);
  c(0, 1) = std::numeric_limits<double>::infinity();
  CHECK(message_of(c, {}).find("row 0, column 1") != std::string::npos);
  // The offset and the integer check never apply to data not declared quantised.
  CHECK(message_of(Matrix::Constant(2, 2, 300.25), {}).empty());
  CHECK(message_of(k, encoding(1.0, 0.0, 0, Dequantization::uniform)).find("bits") != std::string::npos);
  CHECK(message_of(k, encoding(-2.0, 0.0, 0, Dequantization::none)).find("data_scale") != std::string::npos);
  CHECK_THROWS_AS(dequantization_from_string("gaussian"), InvalidArgument);
  CHECK(dequantization_from_string("uniform") == Dequantization::uniform);
}

TEST_CASE("to_string(DataEncoding) says which encoding was applied") {
  CHECK(to_string(DataEncoding{}) == "continuous data y; x = y");
  CHECK(to_string(encoding(2.0, -1.0, 8, Dequantization::uniform)) ==
        "8-bit integers k, y = (k + u) / 256 with u ~ U[0, 1); x = 2 y - 1");
  CHECK(to_string(encoding(1.0, 0.5, 8, Dequantization::none)) ==
        "8-bit data dequantised by the caller, y in [0, 1); x = y + 0.5");
}

namespace {

using tweedie::test::Outcome;
using tweedie::test::run_cli;

/// The mean bits/dim that `tweedie likelihood` prints.
double printed_bpd(const std::string& output) {
  double ll = 0.0, se = 0.0, bpd = 0.0;
  REQUIRE(std::sscanf(output.c_str(), "log-likelihood %lf +- %lf nats (of x), %lf", &ll, &se, &bpd) == 3);
  return bpd;
}

}  // namespace

TEST_CASE("tweedie likelihood: the data flags against the closed form of N(0, I)") {
  // One standard normal component: under VP p_t = N(0, I) at every t, so log p_x = log N(x).
  test::TempDir dir;
  std::ofstream(dir.file("normal.json")) << R"({"weights": [1], "means": [[0, 0, 0]], "stds": [[1, 1, 1]]})";
  const Matrix k = levels(40, 3, 8);
  write_npy(dir.file("k.npy"), k);
  const std::string base =
      fmt::format("likelihood --target {} --sde vp --rtol 1e-8 --atol 1e-8 --seed 12", dir.file("normal.json"));
  auto expected = [](const Matrix& x, const DataEncoding& e) {
    double sum = 0.0;
    for (Eigen::Index i = 0; i < x.rows(); ++i) sum += bits_per_dim(log_std_normal(x.row(i)), x.cols(), e);
    return sum / static_cast<double>(x.rows());
  };
  {
    const DataEncoding e = encoding(2.0, -1.0, 8, Dequantization::uniform);
    const Outcome r =
        run_cli(fmt::format("{} --data {} --bits 8 --data-scale 2 --data-shift -1", base, dir.file("k.npy")));
    CAPTURE(r.output);
    REQUIRE(r.status == 0);
    CHECK(r.output.find("(8-bit)") != std::string::npos);
    CHECK(r.output.find("data: " + to_string(e)) != std::string::npos);
    // The CLI dequantises with its --seed on the dequantisation stream.
    CHECK(printed_bpd(r.output) == doctest::Approx(expected(to_model_data(k, e, 12), e)).epsilon(1e-5));
  }
  {
    const Matrix y = ((k.array() + 0.5) / 256.0).matrix();
    write_npy(dir.file("y.npy"), y);
    const DataEncoding e = encoding(2.0, -1.0, 8, Dequantization::none);
    const Outcome r = run_cli(fmt::format(
        "{} --data {} --bits 8 --dequantize none --data-scale 2 --data-shift -1", base, dir.file("y.npy")));
    CAPTURE(r.output);
    REQUIRE(r.status == 0);
    CHECK(printed_bpd(r.output) == doctest::Approx(expected((2.0 * y.array() - 1.0).matrix(), e)).epsilon(1e-5));
    // Continuous: no offset, same scale.
    const Outcome c =
        run_cli(fmt::format("{} --data {} --data-scale 2 --data-shift -1", base, dir.file("y.npy")));
    CAPTURE(c.output);
    REQUIRE(c.status == 0);
    CHECK(c.output.find("continuous data y; x = 2 y - 1") != std::string::npos);
    CHECK(printed_bpd(c.output) == doctest::Approx(printed_bpd(r.output) - 8.0).epsilon(1e-5));
  }
}

TEST_CASE("tweedie likelihood refuses bad data flags with status 2, one line and no output") {
  test::TempDir dir;
  Matrix k = levels(6, 2, 8);
  write_npy(dir.file("k.npy"), k);
  k(4, 1) = 12.5;
  write_npy(dir.file("frac.npy"), k);
  const std::string out = dir.file("logp.npy");
  auto data = [&](const std::string& name) {
    return fmt::format("likelihood --target builtin:ring --out {} --data {}", out, dir.file(name));
  };
  struct Bad {
    std::string args, message;
  };
  for (const Bad& b : {Bad{data("k.npy") + " --dequantize uniform", "--dequantize uniform needs --bits"},
                       Bad{data("frac.npy") + " --bits 8", "row 4, column 1"},
                       Bad{data("k.npy") + " --bits 8 --dequantize none", "row 0, column 1"},
                       Bad{data("k.npy") + " --bits 0", "--bits: must be an integer in 1..16, got '0'"},
                       Bad{data("k.npy") + " --bits 17", "--bits: must be an integer in 1..16, got '17'"},
                       Bad{data("k.npy") + " --bits 2", "row 0, column 1"},  // 13 > 3
                       Bad{data("k.npy") + " --bits 8 --dequantize gaussian", "unknown dequantisation"},
                       Bad{data("k.npy") + " --data-scale 0", "--data-scale"},
                       Bad{data("k.npy") + " --data-scale -2 --bits 8", "--data-scale"}}) {
    CAPTURE(b.args);
    const Outcome r = run_cli(b.args);
    CAPTURE(r.output);
    CHECK(r.status == 2);
    CHECK(r.output.rfind("tweedie: error: ", 0) == 0);
    CHECK(r.output.find(b.message) != std::string::npos);
    CHECK(std::count(r.output.begin(), r.output.end(), '\n') == 1);
    CHECK_FALSE(std::filesystem::exists(out));
  }
}
