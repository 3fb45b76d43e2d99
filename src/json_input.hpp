// Strict reading of the JSON a user gives (the Gaussian-mixture target): bounded in size and
// nesting, duplicate and unknown keys refused, and messages that never recurse into user values.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace tweedie::detail {

/// The top-level keys of a target file: "weights", "means", "stds", "dim", "n_components",
/// "classes" (one integer label per component) and the free-text "name" and "description".
const std::vector<std::string>& target_keys();

/// The deepest nesting a target needs: an object of arrays of rows of numbers.
inline constexpr int target_max_depth = 3;
/// The largest target file read (its parsed document takes up to ~40x its text).
inline constexpr std::size_t target_max_bytes = std::size_t{32} << 20;

/// Parses `text` as one JSON object whose keys are all among `known` (a top-level key that is
/// not is refused, listing the known ones), with no key repeated in any object, containers
/// nested at most `max_depth` deep, no trailing text and every number within double range.
/// Throws InvalidArgument "<source>: ..." with at most a short excerpt of the offending text.
nlohmann::json parse_json_object(std::string_view text, const std::string& source,
                                 const std::vector<std::string>& known, int max_depth);

/// A short description of a value for messages: scalars as written (strings cut after 32
/// characters), containers as "an array of N values" / "an object of N keys" (never dump()ed).
std::string describe_json(const nlohmann::json& v);

/// The contents of the file at `path`, refused (naming it) beyond `max_bytes`.
std::string read_text_file(const std::string& path, std::size_t max_bytes, const std::string& what);

}  // namespace tweedie::detail
