// A strict reader of safetensors files (the format of Hugging Face's `safetensors`).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tweedie {

/// One tensor of a safetensors file, its values upcast to double (exactly: every F64, F32, F16
/// and BF16 value is a double), row-major as stored.
struct Tensor {
  std::string dtype;                ///< as stored: "F64", "F32", "F16" or "BF16"
  std::vector<std::int64_t> shape;  ///< empty for a scalar
  std::vector<double> values;       ///< product(shape) values
};

/// The contents of a safetensors file: an 8-byte little-endian header length N, N bytes of JSON
/// mapping each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (relative to the
/// byte buffer that follows) plus an optional "__metadata__" object of string values, then the
/// buffer of little-endian row-major tensors.
///
/// Everything is checked, and anything else is refused with InvalidArgument naming the file (and
/// the tensor): a file shorter than its header, a header over 100 MB, a header that is not a
/// JSON object, a tensor entry with missing or extra fields, an unsupported dtype, a shape that
/// is not a list of non-negative integers, offsets that are not two integers begin <= end, that
/// leave the buffer, do not match product(shape) * dtype size, overlap or leave a gap (the
/// tensors must tile the buffer exactly, as the reference reader requires), and metadata that
/// is not an object of strings. Nothing is ever read outside the bytes given.
class SafetensorsFile {
 public:
  /// Reads and checks the file at `path` (named by `path` in messages).
  static SafetensorsFile read(const std::string& path);
  /// Checks the bytes of a file; `source` names it in messages.
  static SafetensorsFile parse(std::span<const std::byte> bytes, const std::string& source);

  /// The file name given to read (or the source given to parse).
  const std::string& source() const { return source_; }
  /// The "__metadata__" entries (empty when the file has none).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  /// The tensor names in the order of their data in the buffer.
  const std::vector<std::string>& names() const { return order_; }
  bool contains(std::string_view name) const;
  /// The tensor called `name`; InvalidArgument "<source>: no tensor '<name>'" otherwise.
  const Tensor& tensor(std::string_view name) const;

  /// The header cap of the reference reader.
  static constexpr std::uint64_t max_header_bytes = 100'000'000;

 private:
  std::string source_;
  std::map<std::string, std::string> metadata_;
  std::map<std::string, Tensor, std::less<>> tensors_;
  std::vector<std::string> order_;
};

}  // namespace tweedie
