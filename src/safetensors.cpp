#include <tweedie/safetensors.hpp>
#include <tweedie/types.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>

namespace tweedie {
namespace {

using Json = nlohmann::json;

[[noreturn]] void refuse(const std::string& source, std::string_view what) {
  throw InvalidArgument(fmt::format("{}: {}", source, what));
}
[[noreturn]] void refuse_tensor(const std::string& source, std::string_view name, std::string_view what) {
  throw InvalidArgument(fmt::format("{}: tensor '{}': {}", source, name, what));
}

// Little-endian unsigned integer of `n` bytes at p, whatever the host's byte order.
std::uint64_t load_le(const std::byte* p, int n) {
  std::uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | std::to_integer<std::uint64_t>(p[i]);
  return v;
}

double half_to_double(std::uint16_t h) {
  const int sign = (h >> 15) != 0 ? -1 : 1;
  const int exponent = (h >> 10) & 0x1f;
  const int mantissa = h & 0x3ff;
  if (exponent == 0x1f) {
    return mantissa != 0 ? std::numeric_limits<double>::quiet_NaN()
                         : sign * std::numeric_limits<double>::infinity();
  }
  if (exponent == 0) return sign * std::ldexp(static_cast<double>(mantissa), -24);  // subnormal
  return sign * std::ldexp(static_cast<double>(mantissa + 0x400), exponent - 25);
}

struct DtypeInfo {
  std::string_view name;
  int bytes;
};
constexpr DtypeInfo kDtypes[] = {{"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}};

double decode(std::string_view dtype, const std::byte* p) {
  if (dtype == "F64") return std::bit_cast<double>(load_le(p, 8));
  if (dtype == "F32") return std::bit_cast<float>(static_cast<std::uint32_t>(load_le(p, 4)));
  if (dtype == "BF16") return std::bit_cast<float>(static_cast<std::uint32_t>(load_le(p, 2) << 16));
  return half_to_double(static_cast<std::uint16_t>(load_le(p, 2)));
}

struct Entry {
  std::string name;
  std::uint64_t begin = 0, end = 0;
};

// Checks one tensor's header entry against the buffer and decodes it.
Tensor read_entry(const std::string& source, const std::string& name, const Json& info,
                  std::span<const std::byte> buffer, Entry& entry) {
  if (!info.is_object()) refuse_tensor(source, name, "the entry is not a JSON object");
  for (const auto& [key, value] : info.items()) {
    if (key != "dtype" && key != "shape" && key != "data_offsets") {
      refuse_tensor(source, name, fmt::format("unknown field '{}'", key));
    }
  }
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    if (!info.contains(key)) refuse_tensor(source, name, fmt::format("missing field '{}'", key));
  }
  Tensor t;
  if (!info["dtype"].is_string()) refuse_tensor(source, name, "dtype is not a string");
  t.dtype = info["dtype"].get<std::string>();
  const auto* dtype = std::find_if(std::begin(kDtypes), std::end(kDtypes),
                                   [&](const DtypeInfo& d) { return d.name == t.dtype; });
  if (dtype == std::end(kDtypes)) {
    refuse_tensor(source, name, fmt::format("unsupported dtype '{}' (expected F64, F32, F16 or BF16)", t.dtype));
  }
  const Json& shape = info["shape"];
  if (!shape.is_array()) refuse_tensor(source, name, "shape is not a list");
  // The byte count is computed without overflow (a larger one is refused below).
  const std::uint64_t limit = std::numeric_limits<std::uint64_t>::max() / static_cast<std::uint64_t>(dtype->bytes);
  std::uint64_t numel = 1;
  bool too_large = false;
  for (const Json& extent : shape) {
    if (!extent.is_number_unsigned()) {
      refuse_tensor(source, name, fmt::format("bad shape {}: extents must be non-negative integers", shape.dump()));
    }
    const auto e = extent.get<std::uint64_t>();
    if (e > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) too_large = true;
    if (e != 0 && numel > limit / e) too_large = true;
    numel = too_large ? numel : numel * e;
    t.shape.push_back(static_cast<std::int64_t>(e));
  }
  const Json& offsets = info["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned()) {
    refuse_tensor(source, name, "data_offsets must be two non-negative integers [begin, end]");
  }
  entry.name = name;
  entry.begin = offsets[0].get<std::uint64_t>();
  entry.end = offsets[1].get<std::uint64_t>();
  if (entry.begin > entry.end) {
    refuse_tensor(source, name, fmt::format("data_offsets [{}, {}] end before they begin", entry.begin, entry.end));
  }
  if (entry.end > buffer.size()) {
    refuse_tensor(source, name, fmt::format("data_offsets [{}, {}] leave the buffer of {} bytes",
                                            entry.begin, entry.end, buffer.size()));
  }
  if (too_large || entry.end - entry.begin != numel * static_cast<std::uint64_t>(dtype->bytes)) {
    refuse_tensor(source, name,
                  fmt::format("data_offsets [{}, {}] hold {} bytes, but shape {} of {} needs {}", entry.begin,
                              entry.end, entry.end - entry.begin, shape.dump(), t.dtype,
                              too_large ? std::string("more than 2^64")
                                        : std::to_string(numel * static_cast<std::uint64_t>(dtype->bytes))));
  }
  t.values.resize(numel);
  const std::byte* data = buffer.data() + entry.begin;
  for (std::uint64_t i = 0; i < numel; ++i) t.values[i] = decode(t.dtype, data + i * dtype->bytes);
  return t;
}

}  // namespace

SafetensorsFile SafetensorsFile::read(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) refuse(path, "cannot open the file");
  const std::streamoff size = in.tellg();
  if (size < 0) refuse(path, "cannot read the file");
  std::vector<std::byte> bytes(static_cast<std::size_t>(size));
  in.seekg(0);
  if (!in.read(reinterpret_cast<char*>(bytes.data()), size)) refuse(path, "cannot read the file");
  return parse(bytes, path);
}

SafetensorsFile SafetensorsFile::parse(std::span<const std::byte> bytes, const std::string& source) {
  if (bytes.size() < 8) {
    refuse(source, fmt::format("{} bytes are too few for a safetensors file (the header length takes 8)",
                               bytes.size()));
  }
  const std::uint64_t n = load_le(bytes.data(), 8);
  if (n > max_header_bytes) {
    refuse(source, fmt::format("header length {} exceeds the cap of {} bytes", n, max_header_bytes));
  }
  if (n > bytes.size() - 8) {
    refuse(source, fmt::format("header length {} is longer than the {} bytes after it", n, bytes.size() - 8));
  }
  const auto* text = reinterpret_cast<const char*>(bytes.data() + 8);
  Json header = Json::parse(text, text + n, nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded()) refuse(source, "the header is not valid JSON");
  if (!header.is_object()) refuse(source, "the header is not a JSON object");

  SafetensorsFile file;
  file.source_ = source;
  const std::span<const std::byte> buffer = bytes.subspan(8 + n);
  std::vector<Entry> entries;
  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__") {
      if (!info.is_object()) refuse(source, "__metadata__ is not a JSON object");
      for (const auto& [key, value] : info.items()) {
        if (!value.is_string()) refuse(source, fmt::format("__metadata__ entry '{}' is not a string", key));
        file.metadata_[key] = value.get<std::string>();
      }
      continue;
    }
    Entry entry;
    file.tensors_.emplace(name, read_entry(source, name, info, buffer, entry));
    entries.push_back(std::move(entry));
  }
  // The tensors tile the buffer: sorted by offsets, each begins where the previous one ends.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t at = 0;
  std::string previous;
  for (const Entry& e : entries) {
    if (e.begin < at) {
      refuse_tensor(source, e.name, fmt::format("data_offsets [{}, {}] overlap tensor '{}'", e.begin, e.end, previous));
    }
    if (e.begin > at) {
      refuse_tensor(source, e.name, fmt::format("data_offsets [{}, {}] leave a gap of {} bytes before them",
                                                e.begin, e.end, e.begin - at));
    }
    at = e.end;
    previous = e.name;
    file.order_.push_back(e.name);
  }
  if (at != buffer.size()) {
    refuse(source, fmt::format("{} bytes after the last tensor are not part of any tensor", buffer.size() - at));
  }
  return file;
}

bool SafetensorsFile::contains(std::string_view name) const { return tensors_.find(name) != tensors_.end(); }

const Tensor& SafetensorsFile::tensor(std::string_view name) const {
  const auto it = tensors_.find(name);
  if (it == tensors_.end()) refuse(source_, fmt::format("no tensor '{}'", name));
  return it->second;
}

}  // namespace tweedie
