// Writing safetensors files in the tests: a file's tensors and metadata read back, altered and
// written again (float64), to check that loaders refuse what does not match.
#pragma once

#include <tweedie/safetensors.hpp>

#include <nlohmann/json.hpp>

#include <bit>
#include <cstdint>
#include <fstream>
#include <map>
#include <string>

namespace tweedie::test {

/// A safetensors file's tensors and metadata, to be altered.
struct SafetensorsContents {
  std::map<std::string, std::string> metadata;
  std::map<std::string, Tensor> tensors;
};

inline SafetensorsContents read_contents(const std::string& path) {
  const SafetensorsFile f = SafetensorsFile::read(path);
  SafetensorsContents c;
  c.metadata = f.metadata();
  for (const auto& n : f.names()) c.tensors[n] = f.tensor(n);
  return c;
}

/// Writes a float64 safetensors file of the given tensors and metadata.
inline void write_safetensors(const std::string& path, const SafetensorsContents& c) {
  auto write_le = [](std::ofstream& out, std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out.put(static_cast<char>((v >> (8 * i)) & 0xff));
  };
  nlohmann::json header;
  header["__metadata__"] = c.metadata;
  std::uint64_t offset = 0;
  for (const auto& [name, t] : c.tensors) {
    header[name] = {{"dtype", "F64"}, {"shape", t.shape}, {"data_offsets", {offset, offset + 8 * t.values.size()}}};
    offset += 8 * t.values.size();
  }
  const std::string text = header.dump();
  std::ofstream out(path, std::ios::binary);
  write_le(out, text.size(), 8);
  out << text;
  for (const auto& [name, t] : c.tensors) {
    for (double v : t.values) write_le(out, std::bit_cast<std::uint64_t>(v), 8);
  }
}

}  // namespace tweedie::test
