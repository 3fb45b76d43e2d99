// Hand-made .npy files for the reader's tests (any header, any data bytes, any version).
#pragma once

#include <cstdint>
#include <fstream>
#include <string>

namespace tweedie::test {

/// A .npy file of format `version` (1: 2-byte header length, 2: 4-byte) with the given header
/// dictionary and data bytes, padded as the format asks (prefix + header + '\n' a multiple of 64).
inline void write_raw_npy(const std::string& path, const std::string& dict, const void* data,
                          std::size_t bytes, int version = 1) {
  const std::size_t prefix = version == 1 ? 10 : 12;
  std::string header = dict;
  header.append((64 - (prefix + header.size() + 1) % 64) % 64, ' ');
  header.push_back('\n');
  std::ofstream out(path, std::ios::binary);
  out.write("\x93NUMPY", 6);
  out.put(static_cast<char>(version));
  out.put('\0');
  const auto n = static_cast<std::uint32_t>(header.size());
  for (std::size_t k = 0; k < (version == 1 ? 2u : 4u); ++k) out.put(static_cast<char>((n >> (8 * k)) & 0xff));
  out << header;
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
}

}  // namespace tweedie::test
