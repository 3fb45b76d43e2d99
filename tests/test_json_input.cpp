// The target JSON as a library caller sees it: every refusal is InvalidArgument (issue 12).
#include <tweedie/gaussian_mixture.hpp>

#include <doctest/doctest.h>

#include <string>

using tweedie::GaussianMixture;
using tweedie::InvalidArgument;

namespace {

void refused(const std::string& text, const char* why) {
  CAPTURE(text.substr(0, 80));
  CHECK_THROWS_WITH_AS(GaussianMixture::from_json(text, "t.json"), doctest::Contains(why), InvalidArgument);
}

}  // namespace

TEST_CASE("regression_issue12: the target JSON refuses what it does not need, always as InvalidArgument") {
  const std::string tail = R"("means": [[0]], "stds": [[1]]})";
  refused(R"({"weights": [1e400], )" + tail, "number overflow");  // was a raw nlohmann::out_of_range
  refused(R"({"weights": [1], "weights": [1], )" + tail, "duplicate key \"weights\"");
  refused(R"({"weights": [1], "covs": [[1]], )" + tail, "unknown key \"covs\" (known keys: \"weights\"");
  refused(R"({"weights": [1], )" + tail + " []", "not valid JSON");
  refused(R"({"weights": [[1]], )" + tail, "weights[0] is not a number");
  refused(R"({"weights": [1], "means": [[[0]]], "stds": [[1]]})", "nested deeper than 3 levels");
  // 65,000 levels under "dim": refused at depth 3, never recursed into (the message used dump()).
  refused(R"({"weights": [1], "dim": )" + std::string(65000, '[') + std::string(65000, ']') + ", " + tail,
          "nested deeper than 3 levels");
  refused(R"({"weights": [1], "dim": "abcdefghijklmnopqrstuvwxyz0123456789abcdef", )" + tail,
          "\"dim\" is \"abcdefghijklmnopqrstuvwxyz012345...\" but the tables give 1");
  // Keys below the top level are not checked against the target's keys, but duplicates are.
  CHECK(GaussianMixture::from_json(R"({"weights": [1], "dim": 1, "n_components": 1, )" + tail).dim() == 1);
}
