// Typed sampler options (issue 11): each sampler declares its options and its default grid in its
// registry entry; make_sampler checks what is given against that declaration, with no memory.
#include <tweedie/tweedie.hpp>

#include <doctest/doctest.h>

#include <set>
#include <string>

using namespace tweedie;

TEST_CASE("one SamplerOptions reused for two samplers is checked against each (no hidden state)") {
  // The bug: reading eta for ddim marked it read, and em then accepted it silently.
  const SamplerOptions options{{"eta", "0.5"}};
  CHECK(make_sampler("ddim", options)->traits().stochastic);
  CHECK_THROWS_WITH_AS(make_sampler("em", options), "sampler em takes no option eta (it takes none)",
                       InvalidArgument);
  // And the other way round: a refusal leaves nothing behind either.
  CHECK(make_sampler("ddim", options)->traits().stochastic);
  CHECK_THROWS_WITH_AS(make_sampler("unipc", options),
                       "sampler unipc takes no option eta (its options: order, variant, lower_order_final)",
                       InvalidArgument);
}

TEST_CASE("given options are checked against the declaration, naming the option and the sampler") {
  auto refused = [](const char* name, SamplerOptions o, const char* message) {
    CAPTURE(name);
    CHECK_THROWS_WITH_AS(make_sampler(name, o), message, InvalidArgument);
  };
  refused("ddim", {{"eta", "-1"}}, "option eta of sampler ddim must be in [0, inf), got -1");
  refused("ddim", {{"eta", "inf"}}, "option eta of sampler ddim must be a finite number, got 'inf'");
  refused("ddim", {{"eta", " 1"}}, "option eta of sampler ddim must be a finite number, got ' 1'");
  refused("dpm-solver", {{"order", "4"}}, "option order of sampler dpm-solver must be an integer in 1..3, got 4");
  refused("dpm-solver-adaptive", {{"order", "1"}},
          "option order of sampler dpm-solver-adaptive must be an integer in 2..3, got 1");
  refused("unipc", {{"order", "2.0"}}, "option order of sampler unipc must be an integer, got '2.0'");
  refused("dpm-solver++", {{"method", "adaptive"}},
          "option method of sampler dpm-solver++ must be one of multistep, singlestep, got 'adaptive'");
  refused("unipc", {{"lower_order_final", "yes"}},
          "option lower_order_final of sampler unipc must be one of on, off, got 'yes'");
  refused("dopri5", {{"atol", "0"}}, "option atol of sampler dopri5 must be in (0, inf), got 0");
  refused("euler", {{"Eta x", "1"}}, "sampler euler takes no option 'Eta x' (it takes none)");
  // Values at the ends of the ranges are accepted.
  CHECK_NOTHROW(make_sampler("dpm-solver", {{"order", "3"}, {"method", "singlestep"}, {"lower_order_final", "off"}}));
  CHECK_NOTHROW(make_sampler("ddim", {{"eta", "0"}}));
}

TEST_CASE("every declaration is well formed and its defaults build the sampler") {
  for (const auto& e : sampler_entries()) {
    CAPTURE(e.traits.name);
    for (const auto& o : e.options) {
      CAPTURE(o.name);
      CHECK_FALSE(o.help.empty());
      for (char c : o.name) CHECK(((c >= 'a' && c <= 'z') || c == '_'));
      if (o.type == OptionType::choice) {
        CHECK(o.choices.size() >= 2);
        CHECK(o.default_value == o.choices.front());
      }
      // Giving the default explicitly builds the same sampler as giving nothing.
      if (!o.default_value.empty() && o.default_value != "inf") {
        CHECK(make_sampler(e.traits.name, {{o.name, o.default_value}})->traits().summary ==
              make_sampler(e.traits.name)->traits().summary);
      }
    }
  }
}

TEST_CASE("every sampler's default grid is its reference's, and Karras on EDM ending at sigma = 0") {
  // k-diffusion's samplers are used on its Karras grid ("Euler a", "DPM++ 2M SDE Karras");
  // DPM-Solver's and UniPC's sample() default to skip_type 'time_uniform'; score_sde steps
  // uniformly in t (linspace(T, eps, N)); DDIM skips timesteps uniformly.
  const std::set<std::string> karras{"heun", "dpm2", "euler-ancestral", "dpm++2m-sde", "dpm++3m-sde"};
  const VpSde vp;
  const EdmSde edm({.sigma_min = 0.01, .sigma_max = 50.0});
  for (const auto& e : sampler_entries()) {
    const std::string& name = e.traits.name;
    CAPTURE(name);
    const GridSpacing declared = karras.contains(name) ? GridSpacing::karras : GridSpacing::time_uniform;
    CHECK(e.default_grid == declared);
    const GridOptions on_vp = default_grid(name, vp, 10);
    CHECK(on_vp.spacing == declared);
    CHECK(on_vp.steps == 10);
    CHECK(make_grid(vp, on_vp).size() == 11);  // no step to sigma = 0 where sigma never reaches it
    const GridOptions on_edm = default_grid(name, edm, 10);
    CHECK(on_edm.spacing == GridSpacing::karras);
    const auto grid = make_grid(edm, on_edm);
    CHECK(grid.size() == 11);
    CHECK(grid[9] == 0.01);
    CHECK(grid[10] == 0.0);
  }
  CHECK_THROWS_WITH_AS(default_grid("heun2", vp, 10), doctest::Contains("unknown sampler 'heun2'"), InvalidArgument);
}
