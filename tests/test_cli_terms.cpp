// Library errors name library parameters; the program's messages name its flags (issue 12).
#include "../cli/library_terms.hpp"
#include "cli_util.hpp"
#include "test_util.hpp"

#include <tweedie/tweedie.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <string>

using tweedie::cli::in_cli_terms;

TEST_CASE("in_cli_terms puts each flag in place of the library parameter, and nothing else") {
  CHECK(in_cli_terms("x (use LikelihoodOptions::divergence = hutchinson)") == "x (use --divergence hutchinson)");
  CHECK(in_cli_terms("sample 3 reached the cap (raise max_steps or loosen rtol/atol); raise rtol/atol") ==
        "sample 3 reached the cap (raise --max-steps or loosen --rtol/--atol); raise --rtol/--atol");
  // Names outside the phrases are the user's text (a file, a tensor) and stay as they are.
  CHECK(in_cli_terms("t/max_steps.npy: rtol/atol divergence") == "t/max_steps.npy: rtol/atol divergence");
}

TEST_CASE("the library's errors name no flag; the program's name its flags") {
  using namespace tweedie;
  const VpSde sde;
  const auto ring = exact_model(GaussianMixture::ring(), sde);
  const Matrix x = sample_prior(sde, 2, 20, 0, PhiloxNoise(1));
  LikelihoodOptions o;
  o.max_steps = 2;
  try {
    log_likelihood(sde, *ring, x, o);
    FAIL("no error");
  } catch (const StepLimitError& e) {
    CHECK(std::string(e.what()).find("(raise max_steps or loosen rtol/atol)") != std::string::npos);
    CHECK(std::string(e.what()).find("--") == std::string::npos);
  }
  const auto plain = make_model(Prediction::score, 2, [](const ConstVectorRef&, const ConstMatrixRef& in, MatrixRef out) {
    out = -in;
  });
  CHECK_THROWS_WITH_AS(log_likelihood(sde, *plain, x, LikelihoodOptions{}),
                       "this model provides neither a divergence nor a Jacobian-vector product (use "
                       "LikelihoodOptions::divergence = hutchinson)",
                       InvalidArgument);

  test::TempDir dir;
  write_npy(dir.file("x.npy"), x);
  const auto r = test::run_cli(fmt::format("likelihood --target builtin:ring --data {} --max-steps 2 --out {}",
                                           dir.file("x.npy"), dir.file("l.npy")));
  CHECK(r.status == 2);
  CHECK(r.output.find("without finishing (raise --max-steps or loosen --rtol/--atol)\n") != std::string::npos);
  CHECK(dir.files() == 1);
}
