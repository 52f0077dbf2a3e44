#include "monitor/metric_name.hpp"

#include <fmt/format.h>

#include "events/event_tables.hpp"

namespace perfscope::monitor {
namespace {

// Anything outside [A-Za-z0-9_] becomes '_'; runs of '_' collapse; no '_' at either end.
std::string sanitize(std::string_view text) {
  std::string out;
  for (char c : text) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (ok) {
      out += c;
    } else if (!out.empty() && out.back() != '_') {
      out += '_';
    }
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  return out;
}

}  // namespace

std::string metric_name(const events::EventSpec& spec) {
  using events::EventKind;
  if (spec.kind == EventKind::hardware || spec.kind == EventKind::software ||
      spec.kind == EventKind::cache) {
    const auto* named = events::find_named_event(spec.name);
    if (named != nullptr && named->type == spec.type && named->config == spec.config) {
      return "perf_" + events::alumet_metric_stem(*named);
    }
  }
  if (spec.kind == EventKind::raw) return fmt::format("perf_raw_0x{:x}", spec.config);
  std::string stem = sanitize(spec.name);
  if (spec.kind == EventKind::hardware || spec.kind == EventKind::software ||
      spec.kind == EventKind::cache) {
    for (auto& c : stem) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
  }
  return fmt::format("perf_{}_{}", events::kind_name(spec.kind), stem);
}

std::string prometheus_name(const Series& series) {
  return series.metric + (series.nanoseconds ? "_seconds_total" : "_total");
}

}  // namespace perfscope::monitor
