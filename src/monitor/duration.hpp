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

// The shortest poll or flush interval accepted, from a file or a flag.
inline constexpr std::chrono::milliseconds kMinPollInterval{10};

// A duration for a setting (a config key or a flag): parse_duration, then zero is refused and so
// is an `interval` under kMinPollInterval. The error does not name the setting; callers add that.
Result<std::chrono::nanoseconds> parse_setting(std::string_view text, bool interval);
// "1s", "250ms", "1m30s": the shortest exact spelling, for messages.
std::string format_duration(std::chrono::nanoseconds d);

}  // namespace perfscope::monitor
