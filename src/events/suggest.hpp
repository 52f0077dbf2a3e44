// "Did you mean": the closest names to a misspelling.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace perfscope::events {

// Case-insensitive Levenshtein distance.
std::size_t edit_distance(std::string_view a, std::string_view b);
// Up to `max` candidates nearest to `word`, best first, within a distance that scales with its
// length; a candidate that starts with or contains `word` also counts as near.
std::vector<std::string> closest_names(std::string_view word,
                                       const std::vector<std::string>& candidates,
                                       std::size_t max = 3);

}  // namespace perfscope::events
