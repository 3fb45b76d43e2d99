// Reading what tweedie compare writes: CSV lines and fields, and whether gnuplot can plot.
#pragma once

#include <doctest/doctest.h>

#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

namespace tweedie::test {

/// The fields of one CSV line (RFC 4180 quoting: "" inside quotes is a quote).
inline std::vector<std::string> csv_fields(const std::string& line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted && c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
      fields.back() += '"';
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (c == ',' && !quoted) {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  REQUIRE_FALSE(quoted);
  return fields;
}

/// The index of the field `name` in a CSV header line's fields.
inline std::size_t csv_column(const std::vector<std::string>& header, const std::string& name) {
  std::size_t i = 0;
  while (i < header.size() && header[i] != name) ++i;
  REQUIRE_MESSAGE(i < header.size(), name);
  return i;
}

/// The lines of `text`, without their line breaks.
inline std::vector<std::string> text_lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

inline bool have_gnuplot() { return std::system("command -v gnuplot >/dev/null 2>&1") == 0; }

/// Whether `bytes` are a PNG file.
inline bool is_png(const std::string& bytes) { return bytes.substr(0, 8) == "\x89PNG\r\n\x1a\n"; }

}  // namespace tweedie::test
