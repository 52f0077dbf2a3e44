#include "cli/list.hpp"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/report_error.hpp"
#include "counting/event_catalog.hpp"

namespace perfscope::cli {
namespace {

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
  auto [entries, notes] = counting::event_catalog(o.filters, o.probe_all);
  if (o.available_only) {
    std::erase_if(entries, [](const counting::CatalogEntry& e) { return !e.available; });
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
