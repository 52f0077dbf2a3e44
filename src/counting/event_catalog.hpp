// The event catalog behind `perfscope list`: every event perfscope understands (named events,
// the events PMUs publish in sysfs, tracepoints), each opened for this process to tell whether it
// really works here, with the reason when it does not.
#pragma once

#include <string>
#include <vector>

namespace perfscope::counting {

struct CatalogEntry {
  std::string group;  // "hardware", "software", "cache", "tracepoint", "pmu"
  std::string name;
  std::vector<std::string> aliases;
  std::string description;
  bool available = false;
  std::string reason;  // why it does not open, short enough for one column
};

struct Catalog {
  std::vector<CatalogEntry> entries;
  std::vector<std::string> notes;  // what could not be listed or was probed by a stand-in, and why
};

// `filters`: group names, tracepoint subsystems, substrings or globs (empty: everything).
// `probe_all`: open every tracepoint, not one for a long list (each close waits ~40 ms).
Catalog event_catalog(const std::vector<std::string>& filters, bool probe_all);

}  // namespace perfscope::counting
