// Durations as configs spell them: "1s", "500ms", "1m 30s", "1.5s", "2h". Units: ns, us (µs),
// ms, s, m (min), h. A number needs a unit; negative and zero durations are refused by the caller
// where they make no sense.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace perfscope::monitor {

Result<std::chrono::nanoseconds> parse_duration(std::string_view text);
// "1s", "250ms", "1m30s": the shortest exact spelling, for messages.
std::string format_duration(std::chrono::nanoseconds d);

}  // namespace perfscope::monitor
