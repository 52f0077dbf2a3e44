#include "counting/event_catalog.hpp"

#include <fnmatch.h>
#include <strings.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <iterator>
#include <optional>

#include "core/files.hpp"
#include "counting/counter.hpp"
#include "events/event_tables.hpp"
#include "system/capabilities.hpp"

namespace perfscope::counting {
namespace {

using Entry = CatalogEntry;

// Selections up to this many tracepoints are checked by opening each one.
constexpr std::size_t kOpenEachTracepointLimit = 100;

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
  auto c = Counter::open(spec, Target{0, -1}, {.start_disabled = true});
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

std::vector<Entry> collect(const std::vector<std::string>& filters, bool probe_all,
                           std::vector<std::string>& notes) {
  std::vector<Entry> out;
  for (const auto& ev : events::named_events()) {
    if (ev.name == "dummy" || ev.name == "bpf-output") continue;  // not countable
    Entry e{events::kind_name(ev.kind), ev.name, ev.aliases, ev.description, false, {}};
    if (!matches(e, filters)) continue;
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
        if (!matches(e, filters)) continue;
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
      filters.empty() || std::any_of(filters.begin(), filters.end(), [](const auto& f) {
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
      if (!matches(e, filters)) continue;
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
  const bool each = tracepoints.size() <= kOpenEachTracepointLimit || probe_all;
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

}  // namespace

Catalog event_catalog(const std::vector<std::string>& filters, bool probe_all) {
  Catalog c;
  c.entries = collect(filters, probe_all, c.notes);
  return c;
}

}  // namespace perfscope::counting
