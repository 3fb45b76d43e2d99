// libFuzzer harness: the safetensors reader on arbitrary bytes. Only InvalidArgument may escape,
// and what it accepts must be self-consistent (each tensor's values match its shape).
#include <tweedie/safetensors.hpp>
#include <tweedie/types.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto file = tweedie::SafetensorsFile::parse(std::as_bytes(std::span(data, size)), "fuzz");
    for (const auto& name : file.names()) {
      const tweedie::Tensor& t = file.tensor(name);
      std::size_t count = 1;
      for (const std::int64_t d : t.shape) {
        if (d < 0) std::abort();
        count *= static_cast<std::size_t>(d);
      }
      if (count != t.values.size()) std::abort();
    }
  } catch (const tweedie::InvalidArgument&) {
  }
  return 0;
}
