// Event specifications (events/event_spec.cpp): parse_event() and parse_event_list() over any
// text, as -e and the monitor's config give them: names, modifiers, raw rNNN, pmu/term=value/,
// {groups}, tracepoints and their globs, looked up in this machine's sysfs and tracefs.
#include "events/event_spec.hpp"
#include "fuzz_support.hpp"

using namespace perfscope;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const events::ParseContext ctx = events::ParseContext::current();
  const std::string_view text = fuzz::text(data, size);
  if (auto spec = events::parse_event(text, ctx)) {
    (void)spec->display_name();
    (void)spec->attr();
  }
  (void)events::split_event_list(text);
  if (auto groups = events::parse_event_list(text, ctx)) {
    for (const auto& group : *groups) {
      fuzz::require(!group.events.empty(), "a parsed event group has events");
    }
  }
  return 0;
}
