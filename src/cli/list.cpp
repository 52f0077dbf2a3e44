#include "cli/list.hpp"

#include <fnmatch.h>

#include <iterator>
#include <optional>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <cstring>
#include <nlohmann/json.hpp>

#include "cli/report_error.hpp"
#include "core/files.hpp"
#include "counting/counter.hpp"
#include "events/event_tables.hpp"
#include "system/capabilities.hpp"
#include "system/permission_advice.hpp"

namespace perfscope::cli {
namespace {

// Selections up to this many tracepoints are checked by opening each one.
constexpr std::size_t kOpenEachTracepointLimit = 100;

struct Entry {
  std::string group;  // "hardware", "software", "cache", "tracepoint", "pmu"
  std::string name;
  std::vector<std::string> aliases;
  std::string description;
  bool available = false;
  std::string reason;
};

// Short reason for a refused open, for one column of the table.
std::string short_reason(const Error& e, const events::EventSpec& spec) {
  const auto& caps = system::Capabilities::current();
  const bool hw = spec.type == PERF_TYPE_HARDWARE || spec.type == PERF_TYPE_HW_CACHE ||
                  spec.type == PERF_TYPE_RAW;
  switch (e.errnum) {
    case ENOENT:
    case EOPNOTSUPP:
      return hw && !caps.hardware_pmu ? "no hardware PMU on this machine" : "not supported here";
    case EACCES:
    case EPERM:
      return fmt::format("refused at perf_event_paranoid {} (perfscope doctor)", caps.paranoid);
    case EINVAL:
      return "not valid on this CPU or kernel";
    default:
      return e.errnum != 0 ? std::strerror(e.errnum) : e.op;
  }
}

// Opens the event for this process to see whether it really works (user space only where the
// paranoid level requires it, as stat would).
void probe(Entry& entry, const events::EventSpec& spec) {
  auto c = counting::Counter::open(spec, counting::Target{0, -1}, {.start_disabled = true});
  entry.available = c.has_value();
  if (!c) entry.reason = short_reason(c.error(), spec);
}

bool matches(const Entry& e, const std::vector<std::string>& filters) {
  if (filters.empty()) return true;
  for (const auto& f : filters) {
    if (f == e.group) return true;
    if (e.group == "tracepoint" && e.name.rfind(f + ":", 0) == 0) return true;
    if (f.find_first_of("*?[") != std::string::npos) {
      if (fnmatch(f.c_str(), e.name.c_str(), 0) == 0) return true;
    } else if (e.name.find(f) != std::string::npos) {
      return true;
    }
    for (const auto& a : e.aliases) {
      if (strcasecmp(a.c_str(), f.c_str()) == 0) return true;
    }
  }
  return false;
}

std::vector<Entry> collect(const ListOptions& o, std::vector<std::string>& notes) {
  std::vector<Entry> out;
  for (const auto& ev : events::named_events()) {
    if (ev.name == "dummy" || ev.name == "bpf-output") continue;  // not countable
    Entry e{events::kind_name(ev.kind), ev.name, ev.aliases, ev.description, false, {}};
    if (!matches(e, o.filters)) continue;
    events::EventSpec spec;
    spec.name = ev.name;
    spec.kind = ev.kind;
    spec.type = ev.type;
    spec.config = ev.config;
    probe(e, spec);
    out.push_back(std::move(e));
  }

  // Named events that PMUs publish in sysfs (msr/tsc/, cpu/mem-loads/, ...).
  const std::string sources = "/sys/bus/event_source/devices";
  if (auto pmus = list_directory(sources)) {
    for (const auto& pmu : *pmus) {
      auto names = list_directory(sources + "/" + pmu + "/events");
      if (!names) continue;
      for (const auto& n : *names) {
        if (n.find('.') != std::string::npos) continue;  // .unit/.scale companions
        Entry e{"pmu", pmu + "/" + n + "/", {}, "", false, {}};
        if (!matches(e, o.filters)) continue;
        auto spec = events::parse_event(e.name);
        if (spec)
          probe(e, *spec);
        else
          e.reason = spec.error().message();
        out.push_back(std::move(e));
      }
    }
  }

  // Tracepoints, from tracefs.
  const auto& caps = system::Capabilities::current();
  const bool want_tracepoints =
      o.filters.empty() || std::any_of(o.filters.begin(), o.filters.end(), [](const auto& f) {
        return f != "hardware" && f != "software" && f != "cache" && f != "pmu";
      });
  if (!want_tracepoints) return out;
  if (caps.tracefs_path.empty()) {
    notes.push_back(
        "tracepoints: tracefs is not mounted; as root: mount -t tracefs nodev "
        "/sys/kernel/tracing");
    return out;
  }
  const std::string events_dir = caps.tracefs_path + "/events";
  auto subsystems = list_directory(events_dir);
  if (!subsystems) {
    notes.push_back(
        fmt::format("tracepoints: {} is not readable by this user; run as root to see "
                    "them (perfscope doctor explains the options)",
                    events_dir));
    return out;
  }
  const auto ctx = events::ParseContext::current();
  std::vector<Entry> tracepoints;
  std::vector<events::EventSpec> specs;
  for (const auto& sub : *subsystems) {
    auto names = list_directory(events_dir + "/" + sub);
    if (!names) continue;
    for (const auto& n : *names) {
      Entry e{"tracepoint", sub + ":" + n, {}, "", false, {}};
      if (!path_exists(events_dir + "/" + sub + "/" + n + "/id")) continue;
      if (!matches(e, o.filters)) continue;
      auto spec = events::parse_event(e.name, ctx);
      if (!spec) {
        e.reason = spec.error().message();  // listed, as not available, with the reason
        out.push_back(std::move(e));
        continue;
      }
      tracepoints.push_back(std::move(e));
      specs.push_back(std::move(*spec));
    }
  }
  // Closing a tracepoint event waits for an RCU grace period in the kernel (~40 ms, serialised),
  // so opening all ~2000 would take over a minute. Small selections are opened one by one; for
  // large ones a single tracepoint stands for the rest (they share one permission check), except
  // ftrace's, which have stricter rules and are always opened.
  const bool each = tracepoints.size() <= kOpenEachTracepointLimit || o.probe_all;
  std::optional<Entry> representative;
  for (std::size_t i = 0; i < tracepoints.size(); ++i) {
    Entry& e = tracepoints[i];
    if (each || e.name.rfind("ftrace:", 0) == 0) {
      probe(e, specs[i]);
    } else {
      if (!representative) {
        representative = e;
        probe(*representative, specs[i]);
      }
      e.available = representative->available;
      e.reason = representative->reason;
    }
  }
  if (representative) {
    notes.push_back(fmt::format(
        "tracepoints: {} was opened for all {} listed ({}); `perfscope list SUBSYSTEM` or "
        "--probe-all opens each one",
        representative->name, tracepoints.size(),
        representative->available ? "it works" : "refused"));
  }
  std::move(tracepoints.begin(), tracepoints.end(), std::back_inserter(out));
  return out;
}

const char* group_title(const std::string& g) {
  if (g == "hardware") return "Hardware events";
  if (g == "software") return "Software events";
  if (g == "cache") return "Hardware cache events";
  if (g == "pmu") return "PMU events (from sysfs)";
  return "Tracepoints";
}

}  // namespace

void add_list_command(CLI::App& app, ListOptions& o, int& exit_code) {
  auto* sub = app.add_subcommand(
      "list", "List events and whether each works on this machine (each one is opened to check)");
  sub->add_flag("-j,--json", o.json, "One JSON array of events");
  sub->add_flag("--available", o.available_only, "Only events that work here");
  sub->add_flag("--probe-all", o.probe_all,
                "Open every tracepoint, not one for the whole list (slow: ~40 ms each)");
  sub->add_option("filter", o.filters,
                  "Show only: hardware, software, cache, pmu, tracepoint, a tracepoint subsystem "
                  "(sched), a substring or a glob");
  sub->footer(
      "Also accepted by -e everywhere: raw events rNNNN, PMU terms pmu/event=0x3c,umask=0x1/ and\n"
      "the modifiers :u :k :h. Examples:\n"
      "  perfscope list software\n"
      "  perfscope list sched --available\n"
      "  perfscope list --json > events.json");
  sub->callback([&o, &exit_code] { exit_code = run_list(o); });
}

int run_list(const ListOptions& o) {
  std::vector<std::string> notes;
  auto entries = collect(o, notes);
  if (o.available_only) {
    std::erase_if(entries, [](const Entry& e) { return !e.available; });
  }
  if (o.json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& e : entries) {
      nlohmann::json j{{"name", e.name}, {"group", e.group}, {"available", e.available}};
      if (!e.aliases.empty()) j["aliases"] = e.aliases;
      if (!e.description.empty()) j["description"] = e.description;
      if (!e.available) j["reason"] = e.reason;
      arr.push_back(std::move(j));
    }
    fmt::print("{}\n", arr.dump(2));
    for (const auto& n : notes) fmt::print(stderr, "perfscope list: {}\n", n);
    return 0;
  }
  std::string current;
  for (const auto& e : entries) {
    if (e.group != current) {
      fmt::print("{}{}:\n", current.empty() ? "" : "\n", group_title(e.group));
      current = e.group;
    }
    std::string names = e.name;
    for (const auto& a : e.aliases) names += " OR " + a;
    fmt::print("  {:<58} {}\n", names, e.available ? "yes" : "no: " + e.reason);
  }
  for (const auto& n : notes) fmt::print("\n# {}\n", n);
  if (entries.empty() && notes.empty()) {
    return report_error(
        "list", Error{"no event matches the filter", 0, "  try `perfscope list` without a filter"});
  }
  return 0;
}

}  // namespace perfscope::cli
