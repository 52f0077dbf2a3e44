// Durations (monitor/duration.cpp) as configs and flags spell them: parse_duration() and
// parse_setting() over any text; what parses, format_duration() spells so that it parses back to
// the same duration.
#include "monitor/duration.hpp"
#include "fuzz_support.hpp"

using namespace perfscope;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = fuzz::text(data, size);
  (void)monitor::parse_setting(text, true);
  (void)monitor::parse_setting(text, false);
  auto d = monitor::parse_duration(text);
  if (!d) return 0;
  const std::string spelled = monitor::format_duration(*d);
  auto again = monitor::parse_duration(spelled);
  fuzz::require(static_cast<bool>(again), "format_duration's spelling parses");
  fuzz::require(*again == *d, "format_duration's spelling parses to the same duration");
  return 0;
}
