// The monitor's TOML configuration (monitor/config.cpp): parse_config() over any text, both forms
// (Alumet's [plugins.perf] and perfscope's own), with the event lists, durations and outputs in it.
// Event names are looked up in this machine's sysfs and tracefs, as `monitor` does.
#include "monitor/config.hpp"
#include "fuzz_support.hpp"

using namespace perfscope;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const events::ParseContext ctx = events::ParseContext::current();
  (void)monitor::parse_config(fuzz::text(data, size), "fuzz.toml", ctx);
  return 0;
}
