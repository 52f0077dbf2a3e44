#include "events/event_spec.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "core/files.hpp"
#include "events/event_tables.hpp"
#include "events/pmu_format.hpp"
#include "events/suggest.hpp"
#include "system/capabilities.hpp"

namespace perfscope::events {
namespace {

bool is_modifier_string(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c != 'u' && c != 'k' && c != 'h') return false;
  }
  return true;
}

// perf semantics: naming any of u/k/h counts only the named levels.
Status apply_modifiers(EventSpec& spec, std::string_view mods, std::string_view text) {
  if (mods.empty()) return {};
  if (!is_modifier_string(mods)) {
    return Error{"invalid modifier ':" + std::string(mods) + "' in '" + std::string(text) + "'", 0,
                 "  modifiers: u (user space), k (kernel), h (hypervisor), combinable as :uk"};
  }
  const bool u = mods.find('u') != std::string_view::npos;
  const bool k = mods.find('k') != std::string_view::npos;
  const bool h = mods.find('h') != std::string_view::npos;
  spec.exclude_user = !u;
  spec.exclude_kernel = !k;
  spec.exclude_hv = !h;
  spec.modifiers.clear();
  if (u) spec.modifiers += 'u';
  if (k) spec.modifiers += 'k';
  if (h) spec.modifiers += 'h';
  return {};
}

bool all_caps(std::string_view s) {
  return std::none_of(s.begin(), s.end(), [](char c) { return c >= 'a' && c <= 'z'; });
}

// The names to suggest from: one spelling per event, in the style the user typed (Alumet's
// CAPITALS or perf's lower-case), so "did you mean" never offers one event twice.
std::vector<std::string> symbolic_names_like(std::string_view typed) {
  const bool alumet_style = all_caps(typed);
  std::vector<std::string> names;
  for (const auto& e : named_events()) {
    std::string pick = e.name;
    if (alumet_style) {
      for (const auto& a : e.aliases) {
        if (all_caps(a)) pick = a;
      }
    }
    names.push_back(std::move(pick));
  }
  return names;
}

// Like closest_names over every spelling, but each event is named once.
std::vector<std::string> closest_events(std::string_view typed) {
  std::vector<std::string> spellings;
  for (const auto& e : named_events()) {
    spellings.push_back(e.name);
    for (const auto& a : e.aliases) spellings.push_back(a);
  }
  const auto preferred = symbolic_names_like(typed);
  std::vector<std::string> out;
  for (const auto& near : closest_names(typed, spellings, 10)) {
    const NamedEvent* ev = find_named_event(near);
    const std::string& name = preferred[static_cast<std::size_t>(ev - named_events().data())];
    if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
    if (out.size() == 3) break;
  }
  return out;
}

std::string suggestion_hint(const std::vector<std::string>& near, const std::string& where) {
  std::string hint;
  if (!near.empty()) {
    hint = "  did you mean ";
    for (std::size_t i = 0; i < near.size(); ++i) {
      hint += (i == 0 ? "" : i + 1 == near.size() ? " or " : ", ") + near[i];
    }
    hint += "?\n";
  }
  return hint + "  " + where;
}

Result<EventSpec> parse_tracepoint(std::string_view name, const ParseContext& ctx) {
  const auto colon = name.find(':');
  const std::string subsys(name.substr(0, colon));
  const std::string event(name.substr(colon + 1));
  if (ctx.tracefs.empty()) {
    return Error{"tracepoint " + std::string(name) + " needs tracefs, which is not mounted", 0,
                 "  mount it (as root): mount -t tracefs nodev /sys/kernel/tracing"};
  }
  const std::string events_dir = ctx.tracefs + "/events";
  auto id = read_int_file(events_dir + "/" + subsys + "/" + event + "/id");
  if (id) {
    EventSpec spec;
    spec.name = subsys + ":" + event;
    spec.kind = EventKind::tracepoint;
    spec.type = PERF_TYPE_TRACEPOINT;
    spec.config = static_cast<std::uint64_t>(*id);
    return spec;
  }
  if (id.error().errnum == EACCES || id.error().errnum == EPERM) {
    return Error{"cannot read tracepoint " + std::string(name) + " in " + ctx.tracefs,
                 id.error().errnum,
                 "  tracefs is readable by root only here: run as root, or grant access with "
                 "chmod/mount options (mount -o remount,mode=755 " +
                     ctx.tracefs + ")"};
  }
  auto subsystems = list_directory(events_dir);
  if (subsystems &&
      std::find(subsystems->begin(), subsystems->end(), subsys) == subsystems->end()) {
    return Error{"unknown tracepoint subsystem '" + subsys + "'", 0,
                 suggestion_hint(closest_names(subsys, *subsystems),
                                 "`perfscope list tracepoint` shows every tracepoint")};
  }
  std::vector<std::string> events;
  if (auto ev = list_directory(events_dir + "/" + subsys)) events = *ev;
  std::vector<std::string> near = closest_names(event, events);
  for (auto& n : near) n = subsys + ":" + n;
  return Error{"unknown tracepoint '" + std::string(name) + "'", 0,
               suggestion_hint(near, "`perfscope list " + subsys + "` shows its tracepoints")};
}

Result<EventSpec> parse_pmu(std::string_view text, const ParseContext& ctx,
                            std::string_view& mods) {
  // "pmu/terms/" then optional modifiers directly ("/u") or after a colon ("/:u").
  const auto first = text.find('/');
  const auto last = text.rfind('/');
  if (first == 0 || last == first) {
    return Error{"invalid PMU event '" + std::string(text) + "'", 0,
                 "  expected PMU/TERM=VALUE,.../ such as cpu/event=0x3c,umask=0x1/"};
  }
  const std::string pmu(text.substr(0, first));
  const std::string_view terms = text.substr(first + 1, last - first - 1);
  mods = text.substr(last + 1);
  if (!mods.empty() && mods.front() == ':') mods.remove_prefix(1);
  const std::string dir = ctx.event_sources + "/" + pmu;
  if (!path_exists(dir + "/type")) {
    std::vector<std::string> pmus;
    if (auto l = list_directory(ctx.event_sources)) pmus = *l;
    std::string all;
    for (const auto& p : pmus) all += (all.empty() ? "" : ", ") + p;
    auto near = closest_names(pmu, pmus);
    return Error{"unknown PMU '" + pmu + "'", 0,
                 suggestion_hint(near, "PMUs on this machine: " + all)};
  }
  auto enc = encode_pmu_terms(dir, pmu, terms);
  if (!enc) return enc.error();
  EventSpec spec;
  spec.name = pmu + "/" + std::string(terms) + "/";
  spec.kind = EventKind::pmu;
  spec.type = enc->type;
  spec.config = enc->config[0];
  spec.config1 = enc->config[1];
  spec.config2 = enc->config[2];
  return spec;
}

Result<EventSpec> parse_raw(std::string_view hex) {
  if (hex.size() > 2 && hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X')) hex.remove_prefix(2);
  std::uint64_t config = 0;
  auto [p, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), config, 16);
  if (hex.empty() || ec != std::errc() || p != hex.data() + hex.size()) {
    return Error{"invalid raw event", 0, {}};
  }
  EventSpec spec;
  spec.kind = EventKind::raw;
  spec.type = PERF_TYPE_RAW;
  spec.config = config;
  char buf[32];
  auto res = std::to_chars(buf, buf + sizeof buf, config, 16);
  spec.name = "r" + std::string(buf, res.ptr);
  return spec;
}

bool looks_raw(std::string_view s) {
  if (s.size() < 2 || s[0] != 'r') return false;
  s.remove_prefix(1);
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) s.remove_prefix(2);
  if (s.empty() || s.size() > 16) return false;
  for (char c : s) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

}  // namespace

EventSpec software_event(std::string name, std::uint64_t config) {
  EventSpec s;
  s.name = std::move(name);
  s.kind = EventKind::software;
  s.type = PERF_TYPE_SOFTWARE;
  s.config = config;
  return s;
}

bool is_time_based(const EventSpec& spec) {
  return spec.type == PERF_TYPE_SOFTWARE &&
         (spec.config == PERF_COUNT_SW_CPU_CLOCK || spec.config == PERF_COUNT_SW_TASK_CLOCK);
}

const char* kind_name(EventKind kind) {
  switch (kind) {
    case EventKind::hardware:
      return "hardware";
    case EventKind::software:
      return "software";
    case EventKind::cache:
      return "cache";
    case EventKind::raw:
      return "raw";
    case EventKind::pmu:
      return "pmu";
    case EventKind::tracepoint:
      return "tracepoint";
  }
  return "?";
}

std::string EventSpec::display_name() const {
  if (modifiers.empty()) return name;
  // perf writes PMU modifiers straight after the closing slash: cpu/event=0x3c/u
  return kind == EventKind::pmu ? name + modifiers : name + ":" + modifiers;
}

perf_event_attr EventSpec::attr() const {
  perf_event_attr a{};
  a.size = sizeof a;
  a.type = type;
  a.config = config;
  a.config1 = config1;
  a.config2 = config2;
  a.exclude_user = exclude_user;
  a.exclude_kernel = exclude_kernel;
  a.exclude_hv = exclude_hv;
  return a;
}

ParseContext ParseContext::current() {
  ParseContext ctx;
  const auto& caps = system::Capabilities::current();
  ctx.tracefs = caps.tracefs_path;
  return ctx;
}

Result<EventSpec> parse_event(std::string_view text, const ParseContext& ctx) {
  std::string_view s = text;
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  if (s.empty()) {
    return Error{"empty event name", 0, "  `perfscope list` shows every event"};
  }

  std::string_view mods;
  Result<EventSpec> parsed = Error{};
  if (s.find('/') != std::string_view::npos) {
    parsed = parse_pmu(s, ctx, mods);
  } else {
    // Modifiers follow the last colon, unless "subsys:name" is a tracepoint whose name happens to
    // be made of modifier letters.
    std::string_view base = s;
    const auto colon = s.rfind(':');
    if (colon != std::string_view::npos) {
      const std::string_view tail = s.substr(colon + 1);
      const bool single_colon = s.find(':') == colon;
      const std::string_view head = s.substr(0, colon);
      const bool symbolic_head = find_named_event(head) != nullptr || looks_raw(head);
      const bool tracepoint_named_like_modifier =
          single_colon && !ctx.tracefs.empty() &&
          path_exists(ctx.tracefs + "/events/" + std::string(head) + "/" + std::string(tail));
      if (is_modifier_string(tail) && !tracepoint_named_like_modifier) {
        base = head;
        mods = tail;
      } else if (single_colon && symbolic_head) {
        return Error{"invalid modifier ':" + std::string(tail) + "' in '" + std::string(s) + "'", 0,
                     "  modifiers: u (user space), k (kernel), h (hypervisor), combinable as :uk"};
      }
    }
    if (base.find(':') != std::string_view::npos) {
      parsed = parse_tracepoint(base, ctx);
    } else if (const NamedEvent* named = find_named_event(base)) {
      EventSpec spec;
      spec.name = named->name;
      spec.kind = named->kind;
      spec.type = named->type;
      spec.config = named->config;
      parsed = std::move(spec);
    } else if (looks_raw(base)) {
      parsed = parse_raw(base.substr(1));
    } else {
      return Error{"unknown event '" + std::string(base) + "'", 0,
                   suggestion_hint(closest_events(base),
                                   "`perfscope list` shows every event and whether it works here")};
    }
  }
  if (!parsed) return parsed;
  if (auto st = apply_modifiers(*parsed, mods, s); !st) return st.error();
  return parsed;
}

}  // namespace perfscope::events
