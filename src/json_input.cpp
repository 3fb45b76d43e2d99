#include "json_input.hpp"

#include <tweedie/types.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <set>

namespace tweedie::detail {
namespace {

[[noreturn]] void bad(const std::string& source, const std::string& what) {
  throw InvalidArgument(fmt::format("{}: {}", source, what));
}

std::string cut(std::string_view s, std::size_t keep = 32) {
  std::string out;
  for (const char c : s.substr(0, keep)) out += (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) ? c : '?';
  return s.size() > keep ? out + "..." : out;
}

}  // namespace

const std::vector<std::string>& target_keys() {
  static const std::vector<std::string> keys = {"weights", "means", "stds", "dim",
                                                "n_components", "classes", "name", "description"};
  return keys;
}

nlohmann::json parse_json_object(std::string_view text, const std::string& source,
                                 const std::vector<std::string>& known, int max_depth) {
  std::vector<std::set<std::string>> keys_of_open_objects;
  auto check = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    switch (event) {
      case E::object_start:
      case E::array_start:
        if (depth >= max_depth) {
          bad(source, fmt::format("nested deeper than {} levels (a target is an object of arrays of rows)",
                                  max_depth));
        }
        if (event == E::object_start) keys_of_open_objects.emplace_back();
        break;
      case E::object_end: keys_of_open_objects.pop_back(); break;
      case E::key: {
        const auto& key = parsed.get_ref<const std::string&>();
        if (!keys_of_open_objects.back().insert(key).second) {
          bad(source, fmt::format("duplicate key \"{}\"", cut(key)));
        }
        if (depth == 1 && std::find(known.begin(), known.end(), key) == known.end()) {
          std::string list;
          for (const auto& k : known) list += (list.empty() ? "\"" : ", \"") + k + "\"";
          bad(source, fmt::format("unknown key \"{}\" (known keys: {})", cut(key), list));
        }
        break;
      }
      default: break;
    }
    return true;
  };
  nlohmann::json doc;
  try {
    // strict: trailing text is an error. A number beyond double range throws out_of_range.
    doc = nlohmann::json::parse(text.begin(), text.end(), check, /*allow_exceptions=*/true);
  } catch (const nlohmann::json::exception& e) {
    bad(source, fmt::format("not valid JSON ({})", cut(e.what(), 160)));
  }
  if (!doc.is_object()) bad(source, "the target must be a JSON object");
  return doc;
}

std::string describe_json(const nlohmann::json& v) {
  if (v.is_array()) return fmt::format("an array of {} values", v.size());
  if (v.is_object()) return fmt::format("an object of {} keys", v.size());
  if (v.is_string()) return fmt::format("\"{}\"", cut(v.get_ref<const std::string&>()));
  return v.dump();  // a scalar: no recursion
}

std::string read_text_file(const std::string& path, std::size_t max_bytes, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InvalidArgument(fmt::format("cannot open {} '{}'", what, path));
  std::string text;
  char buffer[1 << 16];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    text.append(buffer, static_cast<std::size_t>(in.gcount()));
    if (text.size() > max_bytes) {
      throw InvalidArgument(fmt::format("{}: {} larger than {} MiB", path, what, max_bytes >> 20));
    }
  }
  if (in.bad()) throw InvalidArgument(fmt::format("cannot read {} '{}'", what, path));
  return text;
}

}  // namespace tweedie::detail
