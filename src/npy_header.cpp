#include "npy_header.hpp"

#include <tweedie/types.hpp>

#include <fmt/format.h>

#include <charconv>
#include <limits>
#include <optional>

namespace tweedie::detail {
namespace {

/// At most 24 characters of `s`, with "..." when cut, for messages about untrusted text.
std::string excerpt(std::string_view s) {
  constexpr std::size_t keep = 24;
  std::string out;
  for (const char c : s.substr(0, keep)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return s.size() > keep ? out + "..." : out;
}

// A cursor over the header; every method advances by at least one character or throws, so the
// parse is one pass over at most header.size() characters.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& path) : s_(text), path_(path) {}

  [[noreturn]] void fail(const std::string& why) const {
    throw InvalidArgument(fmt::format("{}: bad .npy header: {}", path_, why));
  }

  void skip_space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  bool at_end() const { return i_ >= s_.size(); }
  char peek() const { return at_end() ? '\0' : s_[i_]; }
  bool accept(char c) {
    skip_space();
    if (peek() != c) return false;
    ++i_;
    return true;
  }
  void expect(char c, const char* context) {
    if (!accept(c)) {
      fail(fmt::format("expected '{}' {} at offset {}, found '{}'", c, context, i_, excerpt(s_.substr(i_))));
    }
  }

  std::string_view string() {
    skip_space();
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail(fmt::format("expected a quoted string at offset {}", i_));
    const std::size_t begin = ++i_;
    while (!at_end() && s_[i_] != quote) {
      if (s_[i_] == '\\') fail("escape sequences in strings are not supported");
      ++i_;
    }
    if (at_end()) fail(fmt::format("unterminated string '{}'", excerpt(s_.substr(begin))));
    return s_.substr(begin, i_++ - begin);
  }

  bool boolean() {
    skip_space();
    for (const auto& [word, value] : {std::pair{std::string_view("True"), true}, {"False", false}}) {
      if (s_.substr(i_, word.size()) == word) {
        i_ += word.size();
        return value;
      }
    }
    fail(fmt::format("'fortran_order' must be True or False, found '{}'", excerpt(s_.substr(i_))));
  }

  std::size_t dimension() {
    skip_space();
    if (peek() == '-') fail(fmt::format("negative shape entry '{}'", excerpt(s_.substr(i_))));
    const std::size_t begin = i_;
    while (!at_end() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
    if (i_ == begin) fail(fmt::format("shape entry '{}' is not a non-negative integer", excerpt(s_.substr(i_))));
    std::size_t value = 0;
    const auto [end, ec] = std::from_chars(s_.data() + begin, s_.data() + i_, value);
    if (ec != std::errc()) fail(fmt::format("shape entry '{}' is too large", excerpt(s_.substr(begin, i_ - begin))));
    (void)end;
    if (peek() == 'L') ++i_;  // Python 2 long literals, as old numpy wrote them
    return value;
  }

  std::vector<std::size_t> shape() {
    expect('(', "to open 'shape'");
    std::vector<std::size_t> dims;
    while (!accept(')')) {
      if (dims.size() == npy_max_dims) fail(fmt::format("more than {} dimensions", npy_max_dims));
      dims.push_back(dimension());
      if (!accept(',')) {
        expect(')', "to close 'shape'");
        break;
      }
    }
    return dims;
  }

  std::string_view rest() const { return s_.substr(i_); }

 private:
  std::string_view s_;
  const std::string& path_;
  std::size_t i_ = 0;
};

}  // namespace

NpyDtype parse_npy_descr(std::string_view descr, const std::string& path) {
  auto unsupported = [&]() -> NpyDtype {
    throw InvalidArgument(fmt::format(
        "{}: dtype '{}' is not supported (expected float64/32 '<f8' '<f4', integers '|u1' '|i1' "
        "'<i2' '<i4' '<i8' '<u2' '<u4' '<u8', bool '|b1', or their big-endian '>' forms)",
        path, excerpt(descr)));
  };
  if (descr.size() < 3 || descr.size() > 3) return unsupported();
  NpyDtype d;
  const char order = descr[0];
  if (order != '<' && order != '>' && order != '|' && order != '=') return unsupported();
  d.big_endian = order == '>';
  d.kind = descr[1];
  if (descr[2] < '1' || descr[2] > '8') return unsupported();
  d.size = static_cast<std::size_t>(descr[2] - '0');
  const bool ok = (d.kind == 'f' && (d.size == 4 || d.size == 8)) ||
                  ((d.kind == 'i' || d.kind == 'u') && (d.size == 1 || d.size == 2 || d.size == 4 || d.size == 8)) ||
                  (d.kind == 'b' && d.size == 1);
  if (!ok) return unsupported();
  if (order == '|' && d.size != 1) return unsupported();  // '|' means "no byte order": one byte only
  return d;
}

NpyHeader parse_npy_header(std::string_view header, const std::string& path) {
  HeaderParser p(header, path);
  NpyHeader h;
  bool seen_descr = false, seen_order = false, seen_shape = false;
  p.expect('{', "at the start of the header");
  while (!p.accept('}')) {
    const std::string_view key = p.string();
    p.expect(':', fmt::format("after '{}'", excerpt(key)).c_str());
    auto once = [&](bool& seen) {
      if (seen) p.fail(fmt::format("duplicate key '{}'", key));
      seen = true;
    };
    if (key == "descr") {
      once(seen_descr);
      p.skip_space();
      if (p.peek() == '[') p.fail("structured dtypes (a list as 'descr') are not supported");
      h.descr = std::string(p.string());
    } else if (key == "fortran_order") {
      once(seen_order);
      h.fortran_order = p.boolean();
    } else if (key == "shape") {
      once(seen_shape);
      h.shape = p.shape();
    } else {
      p.fail(fmt::format("unknown key '{}' (expected 'descr', 'fortran_order' and 'shape')", excerpt(key)));
    }
    if (!p.accept(',')) {
      p.expect('}', "to close the header");
      break;
    }
  }
  p.skip_space();
  if (!p.at_end()) p.fail(fmt::format("unexpected '{}' after the dictionary", excerpt(p.rest())));
  if (!seen_descr) p.fail("no 'descr'");
  if (!seen_order) p.fail("no 'fortran_order'");
  if (!seen_shape) p.fail("no 'shape'");
  h.dtype = parse_npy_descr(h.descr, path);
  return h;
}

}  // namespace tweedie::detail
