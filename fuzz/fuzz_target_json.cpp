// libFuzzer harness: the Gaussian-mixture target loader on arbitrary text. Only InvalidArgument
// may escape it (a raw nlohmann exception or any other is a finding).
#include <tweedie/gaussian_mixture.hpp>

#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    (void)tweedie::GaussianMixture::from_json(std::string(reinterpret_cast<const char*>(data), size), "fuzz");
  } catch (const tweedie::InvalidArgument&) {
  }
  return 0;
}
