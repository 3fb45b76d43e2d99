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

TEST_CASE("a sampler's options are its flags: declared once, named as flags in the program's errors") {
  CHECK(tweedie::cli::flag_of("s_noise") == "--s-noise");
  CHECK(in_cli_terms("option s_tmax of sampler heun must be >= option s_tmin = 2, got 1") ==
        "option --s-tmax of sampler heun must be >= option --s-tmin = 2, got 1");
  CHECK(in_cli_terms("sampler em takes no option eta (it takes none)") == "sampler em takes no option --eta (it takes none)");
  // Only whole declared names: other words after "option" are left alone.
  CHECK(in_cli_terms("option etas; option 'eta x'; option eta") == "option etas; option 'eta x'; option --eta");

  // Every declared option has its flag in `tweedie sample --help`.
  const auto help = tweedie::test::run_cli("sample --help");
  CHECK(help.status == 0);
  for (const auto& e : tweedie::sampler_entries()) {
    for (const auto& o : e.options) {
      CAPTURE(o.name);
      CHECK(help.output.find(tweedie::cli::flag_of(o.name) + " ") != std::string::npos);
    }
  }
  tweedie::test::TempDir dir;
  const std::string sample = fmt::format("sample --target builtin:ring -n 2 --out {} ", dir.file("x.npy"));
  const auto bad = tweedie::test::run_cli(sample + "--sampler ddim --eta -1");
  CHECK(bad.status == 2);
  CHECK(bad.output == "tweedie: error: option --eta of sampler ddim must be in [0, inf), got -1\n");
  const auto unread = tweedie::test::run_cli(sample + "--sampler em --eta 0.5");
  CHECK(unread.output == "tweedie: error: sampler em takes no option --eta (it takes none)\n");
  const auto pc = tweedie::test::run_cli(sample + "--sampler pc --corrector none --snr 0.2");
  CHECK(pc.output == "tweedie: error: option --snr of sampler pc has no effect with option --corrector = none\n");
  CHECK(dir.files() == 0);
}
