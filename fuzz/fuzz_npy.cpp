// libFuzzer harness: the .npy reader on arbitrary bytes (through a memfd, as read_npy takes a path).
#include <tweedie/npy.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const int fd = ::memfd_create("fuzz.npy", 0);
  static const std::string path = "/proc/self/fd/" + std::to_string(fd);
  if (fd < 0 || ::ftruncate(fd, 0) != 0) std::abort();
  if (size && ::pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) std::abort();
  try {
    const tweedie::NpyArray a = tweedie::read_npy(path);
    std::size_t count = 1;
    for (const std::size_t d : a.shape) count *= d;
    if (count != a.values.size()) std::abort();  // the shape and the values must agree
  } catch (const tweedie::InvalidArgument&) {
  }
  return 0;
}
