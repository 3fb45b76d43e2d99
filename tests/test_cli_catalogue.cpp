// The catalogue of bad inputs (issue 12): for each, exit status 2, exactly one line on standard
// error naming the problem, nothing on standard output and nothing written. docs/errors.md lists
// the same cases with their messages; regenerate its table with
//   TWEEDIE_ERRORS_MD=table.md build/dev/tests/tweedie_tests --source-file='*/test_cli_catalogue.cpp'
#include "cli_util.hpp"
#include "npy_util.hpp"
#include "test_util.hpp"

#include <tweedie/npy.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

using tweedie::Matrix;
using tweedie::test::TempDir;
namespace fs = std::filesystem;

namespace {

struct BadInput {
  const char* group;
  std::string args;      // after the program name; {D} is the folder of the inputs
  std::string message;   // what the one line must contain ({D} replaced too)
};

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (std::size_t at = 0; (at = s.find(from, at)) != std::string::npos; at += to.size()) s.replace(at, from.size(), to);
  return s;
}

void write_text(const TempDir& dir, const std::string& name, const std::string& text) {
  std::ofstream(dir.file(name), std::ios::binary) << text;
}

std::string npy_dict(const std::string& descr, const std::string& shape) {
  return fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", descr, shape);
}

// The inputs the catalogue refers to, all in `dir`.
void prepare(const TempDir& dir) {
  const std::string good = R"({"weights": [1, 2], "means": [[0, 0], [1, 1]], "stds": [[1, 1], [0.5, 0.5]]})";
  write_text(dir, "t.json", good);
  write_text(dir, "not_json.json", "weights: [1]");
  write_text(dir, "trailing.json", good + " x");
  write_text(dir, "dup.json", R"({"weights": [1], "weights": [2], "means": [[0]], "stds": [[1]]})");
  write_text(dir, "covs.json", R"({"weights": [1], "means": [[0]], "stds": [[1]], "covs": [[[1]]]})");
  write_text(dir, "overflow.json", R"({"weights": [1e400], "means": [[0]], "stds": [[1]]})");
  write_text(dir, "deep_dim.json", R"({"weights": [1], "means": [[0]], "stds": [[1]], "dim": )" +
                                       std::string(65000, '[') + std::string(65000, ']') + "}");
  write_text(dir, "deep_means.json", R"({"weights": [1], "means": [[[0]]], "stds": [[1]]})");
  write_text(dir, "dim.json", R"({"weights": [1], "means": [[0]], "stds": [[1]], "dim": 3})");
  write_text(dir, "dim_array.json", R"({"weights": [1], "means": [[0]], "stds": [[1]], "dim": [1, 2]})");
  write_text(dir, "empty.json", "{}");
  write_text(dir, "negstd.json", R"({"weights": [1], "means": [[0]], "stds": [[-1]]})");
  write_text(dir, "zero_weight.json", R"({"weights": [0], "means": [[0]], "stds": [[1]]})");
  write_text(dir, "ragged.json", R"({"weights": [1, 1], "means": [[0, 0], [1]], "stds": [[1, 1], [1]]})");
  write_text(dir, "array.json", "[1, 2]");
  write_text(dir, "string_number.json", R"({"weights": ["1"], "means": [[0]], "stds": [[1]]})");
  write_text(dir, "huge.json", "{\"weights\": [1]" + std::string((32 << 20) + 16, ' ') + "}");

  tweedie::write_npy(dir.file("x.npy"), Matrix::Constant(5, 2, 0.5));
  tweedie::write_npy(dir.file("x3.npy"), Matrix::Constant(5, 3, 0.5));
  tweedie::write_npy(dir.file("mask5.npy"), Matrix::Zero(5, 2));
  tweedie::write_npy(dir.file("none.npy"), Matrix(0, 2));
  Matrix nan = Matrix::Constant(4, 2, 0.5);
  nan(2, 1) = std::numeric_limits<double>::quiet_NaN();
  tweedie::write_npy(dir.file("nan.npy"), nan);
  Matrix nan3 = Matrix::Constant(4, 3, 0.5);
  nan3(3, 1) = std::numeric_limits<double>::infinity();
  tweedie::write_npy(dir.file("nan3.npy"), nan3);
  tweedie::write_npy(dir.file("up.npy"), std::vector<double>{0.1, 0.5, 1.0});
  const double data[8] = {};
  using tweedie::test::write_raw_npy;
  write_text(dir, "magic.npy", "PK\x03\x04 a zip file");
  write_raw_npy(dir.file("short.npy"), npy_dict("<f8", "(5, 2)"), data, 24);
  write_raw_npy(dir.file("neg.npy"), npy_dict("<f8", "(-3, 2)"), data, 48);
  write_raw_npy(dir.file("descr.npy"), npy_dict(std::string(26000, 'x'), "(1, 2)"), data, 16);
  write_raw_npy(dir.file("c16.npy"), npy_dict("<c16", "(1, 2)"), data, 32);
  write_raw_npy(dir.file("cube.npy"), npy_dict("<f8", "(1, 2, 1)"), data, 16);
  const std::uint64_t big[2] = {std::numeric_limits<std::uint64_t>::max(), 0};
  write_raw_npy(dir.file("u8.npy"), npy_dict("<u8", "(1, 2)"), big, 16);
  write_text(dir, "len.npy", std::string("\x93NUMPY\x02\x00\xff\xff\xff\xff", 12));
  fs::create_directories(dir.path() / "folder.npy");
  // Networks for --classifier: a score network, classifiers of another family and dimension.
  const std::filesystem::path fixtures = TWEEDIE_TEST_DATA;
  fs::copy_file(fixtures / "mlp" / "vp_sinusoidal.f64.safetensors", dir.path() / "score.safetensors");
  fs::copy_file(fixtures / "mlp_classifier" / "ve_fourier.safetensors", dir.path() / "ve_classifier.safetensors");
  fs::copy_file(fixtures / "mlp_classifier" / "vp_norm.safetensors", dir.path() / "classifier5.safetensors");
  write_text(dir, "lab.json", R"({"weights": [1, 1], "means": [[-4, -2], [4, 2]], "stds": [[0.2, 0.3], [0.2, 0.3]],
                                  "classes": [0, 1]})");
}

std::vector<BadInput> catalogue() {
  const std::string s = "sample --target builtin:ring --out {D}/out.npy ";
  const std::string cmp = "compare --target builtin:ring2d --report {D}/report ";
  const std::string cmpm = "compare --model {D}/score.safetensors --report {D}/report ";
  const std::string lk = "likelihood --target {D}/t.json --data {D}/x.npy ";
  const std::string el = "elbo --target {D}/t.json --data {D}/x.npy ";
  const std::string tj = "sample --out {D}/out.npy --target {D}/";
  const std::string g = "sample --target {D}/lab.json --sampler ddim --steps 5 --out {D}/out.npy ";
  return {
      // options: numbers read strictly and bounded before any arithmetic
      {"options", s + "-n -3", "--count: must be an integer in 1..4294967296, got '-3'"},
      {"options", s + "-n 0x10", "--count: must be an integer in 1..4294967296, got '0x10'"},
      {"options", s + "-n 1e3", "got '1e3'"},
      {"options", s + "-n 0", "--count: must be an integer in 1..4294967296, got '0'"},
      {"options", s + "-n 99999999999999999999999", "got '99999999999999999999999'"},
      {"options", s + "--threads -1", "--threads: must be an integer in 0..1024, got '-1'"},
      {"options", s + "--threads 10000000", "--threads: must be an integer in 0..1024"},
      {"options", s + "--chunk -1", "--chunk: must be an integer in 1..16777216, got '-1'"},
      {"options", s + "--chunk 18446744073709551615", "--chunk: must be an integer in 1..16777216"},
      {"options", s + "--chunk 1099511627776", "--chunk: must be an integer in 1..16777216"},
      {"options", s + "--chunk 0", "--chunk: must be an integer in 1..16777216, got '0'"},
      {"options", s + "--steps 1000000000000", "--steps: must be an integer in 0..10000000"},
      {"options", s + "--steps 0", "steps = 0 must be at least 1"},
      {"options", s + "--seed 4294967296", "--seed: must be an integer in 0..4294967295"},
      {"options", s + "--noise-stream 3", "--noise-stream: must be an integer in 1..2"},
      {"options", s + "--t-end -0.1", "--t-end: must be a finite number >= 0, got '-0.1'"},
      {"options", s + "--t-end nan", "--t-end: must be a finite number >= 0, got 'nan'"},
      {"options", s + "--t-start 1e400", "--t-start: must be a finite number >= 0, got '1e400'"},
      {"options", s + "--rho 0", "--rho: must be a finite number > 0"},
      {"options", s + "--beta-max inf", "--beta-max: must be a finite number, got 'inf'"},
      {"options", s + "--sampelr em", "unknown option '--sampelr' of 'sample' (did you mean '--sampler'?)"},
      {"options", s + "--qwertyuiop 1", "unknown option '--qwertyuiop' of 'sample' (see tweedie sample --help)"},
      {"options", "smaple --target builtin:ring", "unknown subcommand 'smaple' (did you mean 'sample'?"},
      {"options", s + "--sampler nope", "unknown sampler 'nope'"},
      {"options", s + "--sampler em --eta 0.5", "eta"},
      {"options", s + "--grid nope", "nope"},
      {"options", s + "--sde nope", "nope"},
      {"options", s + "--init {D}/x.npy -n 5", "-n has no effect with --init"},
      {"options", s + "--times {D}/up.npy --steps 5", "excludes"},
      {"options", s + "--every 2", "--every has no effect without --trajectory"},
      {"options", s + "--trajectory {D}/t.npy --every 0", "--every: must be"},
      {"options", s + "--trajectory {D}/t.csv", "--trajectory is written as .npy"},
      {"options", "sample --target builtin:ring", "--out is required"},
      {"options", "sample --out {D}/out.npy", "give the distribution: --target FILE.json|builtin:ring or --model FILE"},
      {"options", lk + "--probes 4", "--probes has no effect with --divergence exact"},
      {"options", lk + "--probe gaussian", "--probe has no effect with --divergence exact"},
      {"options", lk + "--divergence nope", "nope"},
      {"options", lk + "--max-steps 0", "--max-steps: must be an integer in 1..1000000000, got '0'"},
      {"options", lk + "--rtol -1", "--rtol: must be a finite number >= 0, got '-1'"},
      {"options", lk + "--t-min 0", "--t-min: must be a finite number > 0, got '0'"},
      {"options", lk + "--data-scale 0", "--data-scale must be a finite number > 0"},
      {"options", el + "--draws 0", "--draws: must be an integer in 1..100000000"},
      {"options", el + "--bits 99", "--bits: must be an integer in 1..16, got '99'"},
      // outputs
      {"outputs", "sample --target builtin:ring --out {D}/out.txt", "cannot write '{D}/out.txt': unknown extension '.txt'"},
      {"outputs", "sample --target builtin:ring --out {D}/out", "cannot write '{D}/out': no extension"},
      {"outputs", "sample --target builtin:ring --out {D}/folder.npy", "cannot write '{D}/folder.npy': it is a directory"},
      {"outputs", "sample --target builtin:ring --out {D}/no/x.npy", "cannot write '{D}/no/x.npy': opening its directory '{D}/no': No such file or directory"},
      {"outputs", lk + "--out {D}/ll.dat", "unknown extension '.dat'"},
      // .npy inputs
      {"files", s + "--init {D}/magic.npy", "{D}/magic.npy: not a .npy file (bad magic string)"},
      {"files", s + "--init {D}/short.npy", "{D}/short.npy: truncated data"},
      {"files", s + "--init {D}/neg.npy", "{D}/neg.npy: bad .npy header: negative shape entry '-3"},
      {"files", s + "--init {D}/descr.npy", "dtype 'xxxxxxxxxxxxxxxxxxxxxxxx...' is not supported"},
      {"files", s + "--init {D}/c16.npy", "dtype '<c16' is not supported"},
      {"files", s + "--init {D}/cube.npy", "--init must be 2-D"},
      {"files", s + "--init {D}/u8.npy", "element 0 = 18446744073709551615 is not exactly representable"},
      {"files", s + "--init {D}/len.npy", "truncated header: it announces 4294967295 bytes"},
      {"files", s + "--init {D}/x3.npy", "--init has 3 columns but the model's dimension is 2"},
      {"files", s + "--init {D}/nan.npy", "non-finite value in row 2"},
      {"files", s + "--init {D}/absent.npy", "{D}/absent.npy: cannot open the file"},
      {"files", s + "--times {D}/x.npy", "--times must be 1-D"},
      {"files", s + "--times {D}/up.npy", "decreasing"},
      {"files", "likelihood --target {D}/t.json --data {D}/none.npy", "--data has no rows"},
      {"files", "encode --target {D}/t.json --data {D}/x3.npy --out {D}/out.npy", "--data has 3 columns"},
      // target JSON
      {"json", tj + "not_json.json", "{D}/not_json.json: not valid JSON"},
      {"json", tj + "trailing.json", "{D}/trailing.json: not valid JSON"},
      {"json", tj + "dup.json", "{D}/dup.json: duplicate key \"weights\""},
      {"json", tj + "covs.json", "{D}/covs.json: unknown key \"covs\" (known keys: \"weights\", \"means\", \"stds\", \"dim\", \"n_components\", \"classes\", \"name\", \"description\")"},
      {"json", tj + "overflow.json", "{D}/overflow.json: not valid JSON ([json.exception.out_of_range.406] number overflow parsing '1e400')"},
      {"json", tj + "deep_dim.json", "{D}/deep_dim.json: nested deeper than 3 levels"},
      {"json", tj + "deep_means.json", "{D}/deep_means.json: nested deeper than 3 levels"},
      {"json", tj + "dim.json", "\"dim\" is 3 but the tables give 1"},
      {"json", tj + "dim_array.json", "\"dim\" is an array of 2 values but the tables give 1"},
      {"json", tj + "empty.json", "missing key \"weights\""},
      {"json", tj + "negstd.json", "stds[0][0] = -1 is negative"},
      {"json", tj + "zero_weight.json", "weights[0] = 0 is not positive"},
      {"json", tj + "ragged.json", "ragged rows"},
      {"json", tj + "array.json", "the target must be a JSON object"},
      {"json", tj + "string_number.json", "weights[0] is not a number"},
      {"json", tj + "huge.json", "target file larger than 32 MiB"},
      {"json", tj + "absent.json", "cannot open target file '{D}/absent.json'"},
      {"json", "sample --out {D}/out.npy --target builtin:nope", "unknown built-in target 'builtin:nope'"},
      {"guidance", g + "--guidance 2", "--guidance needs the class to guide towards: add --class K or --labels FILE.npy"},
      {"guidance", g + "--class 1 --guidance 2 --classifier exact --classifier-scale 1",
       "classifier guidance cannot be stacked on classifier-free guidance: a model takes one guidance"},
      {"guidance", g + "--class 1 --classifier exact", "--classifier and --classifier-scale go together: give both"},
      {"guidance", g + "--class 1 --unconditional {D}/score.safetensors --guidance 2",
       "--unconditional needs --model (the conditional network of the pair)"},
      {"guidance", "sample --model {D}/score.safetensors --out {D}/out.npy --unconditional {D}/score.safetensors",
       "--unconditional is the unconditional model of classifier-free guidance: give --guidance S"},
      {"guidance", g + "--class 1 --classifier {D}/absent.safetensors --classifier-scale 1",
       "{D}/absent.safetensors: cannot open the file"},
      {"guidance", g + "--class 1 --classifier {D}/score.safetensors --classifier-scale 1",
       "{D}/score.safetensors: a score network (its tweedie.mlp spec has no output.logits), not a classifier"},
      {"guidance", g + "--class 1 --classifier {D}/ve_classifier.safetensors --classifier-scale 1",
       "{D}/ve_classifier.safetensors: trained with another noise schedule (ve family) than the model's (vp)"},
      {"guidance", g + "--class 1 --classifier {D}/classifier5.safetensors --classifier-scale 1",
       "classifier guidance: the model has dimension 2 but the classifier 5"},
      {"guidance", s + "--class 0 --classifier exact --classifier-scale 1",
       "--classifier exact needs a labelled target (\"classes\" in the target JSON)"},
      {"guidance", s + "--class 0 --guidance 2", "classifier-free guidance needs a conditional model with a null class"},
      {"guidance", g + "--guidance nan --class 1", "--guidance: must be a finite number"},
      {"guidance", g + "--threshold 0.9,x", "--threshold: MAX 'x' is not a number (give RATIO[,MAX], e.g. 0.995,1)"},
      {"guidance", g + "--threshold 2", "dynamic thresholding: the ratio must be in [0, 1], got 2"},
      {"guidance", g + "--round-to {D}/x3.npy", "the model's dimension 2 is not a multiple of the embedding width 3"},
      {"guidance", g + "--observe {D}/x.npy", "--observe and --mask go together: give both"},
      {"guidance", g + "--observe {D}/x.npy --mask {D}/x.npy", "the mask's entry (0, 0) is 0.5, not 0 or 1"},
      {"guidance", g + "--observe {D}/x.npy --mask {D}/x3.npy",
       "imputation: the mask has 3 columns but the model's dimension is 2"},
      {"guidance", g + "-n 3 --observe {D}/x.npy --mask {D}/mask5.npy", "--observe/--mask have 5 rows for 3 samples"},
      {"guidance", lk + "--threshold 0.995",
       "its decorator dynamic thresholding (ratio 0.995, max 1) of the data prediction forwards neither (use "
       "--divergence hutchinson)"},
      {"compare", cmp + "--samplers eulr", "unknown sampler 'eulr'"},
      {"compare", cmp + "--samplers ddim:eta", "--samplers: 'eta' is not NAME:KEY=VALUE (in 'ddim:eta')"},
      {"compare", cmp + "--samplers em:eta=1", "sampler em takes no option --eta"},
      {"compare", cmp + "--samplers euler --nfe 5,0", "--nfe: must be an integer in 1..1000000, got '0'"},
      {"compare", cmp + "--samplers euler --grids default,karas", "unknown grid 'karas'"},
      {"compare", cmp + "--samplers euler --tolerances 2", "--tolerances: each must be in (0, 1), got 2"},
      {"compare", cmp + "--samplers euler -n 1", "-n: the metrics need two samples or more, got 1"},
      {"compare", "compare --samplers euler --report {D}/report", "compare needs exactly one of --target (an exact target) and --model (a learned network)"},
      {"compare", cmp + "--samplers euler --model {D}/score.safetensors --data {D}/x3.npy", "compare needs exactly one of --target (an exact target) and --model (a learned network)"},
      {"compare", cmpm + "--samplers euler", "--model needs --data FILE.npy"},
      {"compare", cmp + "--samplers euler --data {D}/x.npy", "--data is for --model"},
      {"compare", cmpm + "--samplers euler --data {D}/cube.npy", "--data must be 2-D"},
      {"compare", cmpm + "--samplers euler --data {D}/x.npy", "--data {D}/x.npy has 2 columns but the model's dimension is 3"},
      {"compare", cmpm + "--samplers euler --data {D}/x3.npy -n 3", "--data {D}/x3.npy has 5 rows: -n 3 needs 6"},
      {"compare", cmpm + "--samplers euler --data {D}/nan3.npy -n 2", "--data {D}/nan3.npy has a non-finite value in row 3, column 1"},
      {"compare", cmpm + "--samplers euler --data {D}/x3.npy -n 2 --class 1", "unknown option '--class' of 'compare'"},
      {"compare", cmpm + "--samplers euler --data {D}/x3.npy -n 2 --guidance 2", "unknown option '--guidance' of 'compare'"},
  };
}

std::vector<std::string> listing(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::recursive_directory_iterator(dir)) names.push_back(e.path().string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

TEST_CASE("the catalogue of bad inputs: status 2, one line naming the problem, nothing written") {
  TempDir dir;
  prepare(dir);
  const std::string d = dir.path().string();
  const std::vector<std::string> before = listing(dir.path());
  const auto cases = catalogue();
  CHECK(cases.size() >= 60);
  const char* md = std::getenv("TWEEDIE_ERRORS_MD");
  std::ofstream table;
  if (md) table.open(md);
  for (const BadInput& c : cases) {
    const std::string args = replace_all(c.args, "{D}", d);
    const std::string message = replace_all(c.message, "{D}", d);
    CAPTURE(args);
    const auto r = tweedie::test::run_cli_split(args, d);
    CAPTURE(r.err);
    CHECK(r.status == 2);
    CHECK(r.out.empty());
    CHECK(r.err.rfind("tweedie: error: ", 0) == 0);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(r.err.find(message) != std::string::npos);
    CHECK(listing(dir.path()) == before);  // nothing written
    if (md) {
      std::string line = replace_all(r.err.substr(0, r.err.size() - 1), d, "DIR");
      table << fmt::format("| {} | `tweedie {}` | {} |\n", c.group, replace_all(c.args, "{D}", "DIR"),
                           replace_all(line, "|", "\\|"));
    }
  }
}
