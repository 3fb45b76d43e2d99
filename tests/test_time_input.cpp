// The time inputs of trained networks: each kind against its formula, and the names.
#include <tweedie/time_input.hpp>

#include "test_util.hpp"

#include <cmath>

using namespace tweedie;

TEST_CASE("time inputs follow their formulas with the family's sigma") {
  const EdmSde edm;
  const VeSde ve;
  const VpSde vp;
  CHECK(TimeInput{TimeInputKind::t}(vp, 0.3) == 0.3);
  CHECK(TimeInput{TimeInputKind::scaled_t, 999.0}(vp, 0.5) == 499.5);  // score_sde's 999 t
  CHECK(TimeInput{TimeInputKind::scaled_t, 1000.0, -1.0}(vp, 0.25) == 249.0);  // DPM-Solver's 1000 t - 1
  CHECK(TimeInput{TimeInputKind::sigma}(ve, 1.0) == doctest::Approx(50.0).epsilon(1e-15));
  CHECK(TimeInput{TimeInputKind::sigma}(vp, 0.4) == vp.sigma(0.4));
  CHECK(TimeInput{TimeInputKind::log_sigma}(vp, 0.4) == std::log(vp.sigma(0.4)));
  // EDM: sigma = t, so c_noise = ln(t) / 4; at sigma = e^4 it is exactly 1.
  CHECK(TimeInput{TimeInputKind::c_noise}(edm, std::exp(4.0)) == doctest::Approx(1.0).epsilon(1e-15));
  CHECK(TimeInput{TimeInputKind::c_noise}(vp, 0.4) == 0.25 * std::log(vp.sigma(0.4)));
  CHECK_FALSE(TimeInput{TimeInputKind::t}.needs_family());
  CHECK_FALSE(TimeInput{TimeInputKind::scaled_t}.needs_family());
  CHECK(TimeInput{TimeInputKind::sigma}.needs_family());
  CHECK(TimeInput{TimeInputKind::log_sigma}.needs_family());
  CHECK(TimeInput{TimeInputKind::c_noise}.needs_family());
}

TEST_CASE("time input names round-trip and unknown names are refused with the list") {
  for (auto k : {TimeInputKind::t, TimeInputKind::scaled_t, TimeInputKind::sigma, TimeInputKind::log_sigma,
                 TimeInputKind::c_noise}) {
    CHECK(time_input_from_string(to_string(k)) == k);
  }
  CHECK_THROWS_WITH_AS(time_input_from_string("c-noise"),
                       "unknown time input 'c-noise' (expected t, scaled_t, sigma, log_sigma or c_noise)",
                       InvalidArgument);
}
