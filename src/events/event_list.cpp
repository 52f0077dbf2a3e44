// Event lists: "a,b,{c,d}" with tracepoint globs ("sched:*") expanded from tracefs.
#include <fnmatch.h>

#include "core/files.hpp"
#include "events/event_spec.hpp"

namespace perfscope::events {
namespace {

bool has_glob(std::string_view s) {
  return s.find_first_of("*?[") != std::string_view::npos;
}

// Expands "subsys:pattern" (either part may hold a glob) into tracepoint names.
Result<std::vector<std::string>> expand_tracepoint_glob(std::string_view item,
                                                        const ParseContext& ctx) {
  const auto colon = item.find(':');
  const std::string sub_pat(item.substr(0, colon));
  std::string ev_pat(item.substr(colon + 1));
  std::string mods;
  if (const auto c2 = ev_pat.find(':'); c2 != std::string::npos) {
    mods = ev_pat.substr(c2);
    ev_pat.resize(c2);
  }
  if (ctx.tracefs.empty()) {
    return Error{"tracepoint pattern " + std::string(item) + " needs tracefs, which is not mounted",
                 0, "  mount it (as root): mount -t tracefs nodev /sys/kernel/tracing"};
  }
  auto subsystems = list_directory(ctx.tracefs + "/events");
  if (!subsystems) return subsystems.error();
  std::vector<std::string> out;
  for (const auto& sub : *subsystems) {
    if (fnmatch(sub_pat.c_str(), sub.c_str(), 0) != 0) continue;
    auto names = list_directory(ctx.tracefs + "/events/" + sub);
    if (!names) continue;
    for (const auto& ev : *names) {
      if (fnmatch(ev_pat.c_str(), ev.c_str(), 0) == 0 &&
          path_exists(ctx.tracefs + "/events/" + sub + "/" + ev + "/id")) {
        out.push_back(sub + ":" + ev + mods);
      }
    }
  }
  if (out.empty()) {
    return Error{"no tracepoint matches '" + std::string(item) + "'", 0,
                 "  `perfscope list tracepoint` shows every tracepoint"};
  }
  return out;
}

Result<std::vector<EventSpec>> parse_items(const std::vector<std::string>& items,
                                           const ParseContext& ctx) {
  std::vector<EventSpec> out;
  for (const auto& item : items) {
    if (item.find(':') != std::string::npos && item.find('/') == std::string::npos &&
        has_glob(item)) {
      auto names = expand_tracepoint_glob(item, ctx);
      if (!names) return names.error();
      for (const auto& n : *names) {
        auto spec = parse_event(n, ctx);
        if (!spec) return spec.error();
        out.push_back(std::move(*spec));
      }
      continue;
    }
    auto spec = parse_event(item, ctx);
    if (!spec) return spec.error();
    out.push_back(std::move(*spec));
  }
  return out;
}

}  // namespace

Result<std::vector<std::string>> split_event_list(std::string_view text) {
  std::vector<std::string> out;
  std::string current;
  int brace = 0;
  bool in_pmu = false;
  for (char c : text) {
    if (c == '{') ++brace;
    if (c == '}') --brace;
    if (brace < 0 || brace > 1) {
      return Error{"unbalanced or nested braces in event list '" + std::string(text) + "'", 0,
                   "  a group is written {event1,event2} and groups do not nest"};
    }
    if (c == '/') in_pmu = !in_pmu;
    if (c == ',' && brace == 0 && !in_pmu) {
      out.push_back(std::move(current));
      current.clear();
      continue;
    }
    current += c;
  }
  if (brace != 0) {
    return Error{"unbalanced braces in event list '" + std::string(text) + "'", 0,
                 "  a group is written {event1,event2}"};
  }
  out.push_back(std::move(current));
  for (const auto& item : out) {
    if (item.find_first_not_of(' ') == std::string::npos) {
      return Error{"empty event name in list '" + std::string(text) + "'", 0,
                   "  separate events with single commas: -e task-clock,page-faults"};
    }
  }
  return out;
}

Result<std::vector<EventGroupSpec>> parse_event_list(std::string_view text,
                                                     const ParseContext& ctx) {
  auto items = split_event_list(text);
  if (!items) return items.error();
  std::vector<EventGroupSpec> groups;
  for (const auto& item : *items) {
    if (!item.empty() && item.front() == '{') {
      const auto close = item.rfind('}');
      std::string inner = item.substr(1, close - 1);
      if (close + 1 != item.size()) {
        return Error{"text after a group's closing brace in '" + item + "'", 0,
                     "  modifiers go on each event inside the group: {cycles:u,instructions:u}"};
      }
      auto members = split_event_list(inner);
      if (!members) return members.error();
      auto specs = parse_items(*members, ctx);
      if (!specs) return specs.error();
      groups.push_back({std::move(*specs), true});
      continue;
    }
    auto specs = parse_items({item}, ctx);
    if (!specs) return specs.error();
    for (auto& s : *specs) groups.push_back({{std::move(s)}, false});
  }
  return groups;
}

}  // namespace perfscope::events
