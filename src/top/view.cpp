#include "top/view.hpp"

#include <fmt/compile.h>
#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

namespace perfscope::top {
namespace {

// Cuts `text` to `width` columns, marking the cut with '+'.
std::string fit(const std::string& text, std::size_t width) {
  if (text.size() <= width) return text;
  if (width == 0) return {};
  return text.substr(0, width - 1) + "+";
}

std::string status_text(const Status& s, bool paused) {
  // Its own cost first, where a narrow terminal does not cut it.
  return fmt::format(
      "perfscope top ({:.1f}% CPU, {} MB){}: refresh {} ({:.2f} s), {} samples, {}{}, {} at {} Hz, "
      "{}",
      s.own_cpu, (s.rss_bytes + (1 << 19)) >> 20, paused ? " [PAUSED]" : "", s.refresh,
      s.interval_s, s.samples, s.subject, s.zoom.empty() ? "" : fmt::format(", zoom {}", s.zoom),
      s.event, s.frequency, s.backend);
}

// The name column's heading and the extra columns of each view.
const char* name_heading(View v) {
  switch (v) {
    case View::functions:
      return "FUNCTION";
    case View::modules:
      return "MODULE";
    case View::processes:
      return "PROCESS";
    case View::threads:
      return "THREAD";
  }
  return "";
}

std::string row_name(const Row& r, View v) {
  switch (v) {
    case View::processes:
      return fmt::format(FMT_COMPILE("{}[{}]{}"), r.name, r.pid, r.exited ? " (exited)" : "");
    case View::threads:
      return fmt::format(FMT_COMPILE("{}[{}]{}"), r.name, r.tid, r.exited ? " (exited)" : "");
    default:
      return r.name;
  }
}

// The columns after the name: functions show module and process, modules and threads the process.
std::string row_tail(const Row& r, View v, std::size_t module_width) {
  switch (v) {
    case View::functions:
      return fmt::format(FMT_COMPILE("{:<{}} {}"), fit(r.module, module_width), module_width,
                         r.process);
    case View::modules:
    case View::threads:
      return r.process;
    case View::processes:
      return {};
  }
  return {};
}

std::string tail_heading(View v, std::size_t module_width) {
  switch (v) {
    case View::functions:
      return fmt::format("{:<{}} {}", "MODULE", module_width, "PROCESS");
    case View::modules:
    case View::threads:
      return "PROCESS";
    case View::processes:
      return {};
  }
  return {};
}

std::string numbers(const Row& r) {
  return fmt::format(FMT_COMPILE("{:6.1f} {:6.1f} {:6.1f}"), r.self, r.total, r.average);
}

constexpr const char* kNumbersHeading = " SELF% TOTAL%   AVG%";

}  // namespace

const std::string& help_line() {
  static const std::string line =
      "q quit  p pause  o sort (self/total/avg/name)  v next view  1-4 functions/modules/"
      "processes/threads  z zoom process  c/Enter callers  j/k/arrows select  s save";
  return line;
}

KeyAction handle_key(UiState& ui, int key, const std::vector<Row>& shown) {
  Query& q = ui.query;
  const Row* selected = ui.selected < shown.size() ? &shown[ui.selected] : nullptr;
  switch (key) {
    case 'q':
    case 'Q':
      return KeyAction::quit;
    case 'p':
    case ' ':
      ui.paused = !ui.paused;
      return KeyAction::redraw;
    case 'o':
      q.sort = static_cast<SortKey>((static_cast<int>(q.sort) + 1) % 4);
      ui.selected = 0;
      return KeyAction::redraw;
    case 'v':
    case '1':
    case '2':
    case '3':
    case '4': {
      const int next = key == 'v' ? (static_cast<int>(q.view) + 1) % 4 : key - '1';
      if (next != static_cast<int>(q.view)) {
        q.view = static_cast<View>(next);
        q.expanded = 0;
        ui.selected = 0;
      }
      return KeyAction::redraw;
    }
    case 'z':
      if (q.zoom_pid >= 0) {
        q.zoom_pid = -1;
      } else if (selected != nullptr && selected->pid >= 0) {
        q.zoom_pid = selected->pid;
      } else {
        return KeyAction::none;
      }
      ui.selected = 0;
      q.expanded = 0;
      return KeyAction::redraw;
    case 'c':
    case kKeyEnter:
    case '\r':
      if (q.view != View::functions || selected == nullptr) return KeyAction::none;
      q.expanded = q.expanded == selected->id ? 0 : selected->id;
      return KeyAction::redraw;
    case 'j':
    case kKeyDown:
      if (ui.selected + 1 < shown.size()) ++ui.selected;
      return KeyAction::redraw;
    case 'k':
    case kKeyUp:
      if (ui.selected > 0) --ui.selected;
      return KeyAction::redraw;
    case 's':
      return KeyAction::save;
    default:
      return KeyAction::none;
  }
}

std::vector<std::string> batch_lines(const Status& status, const Query& q,
                                     const std::vector<Row>& rows) {
  std::vector<std::string> out;
  out.push_back(status_text(status, false));
  out.push_back(fmt::format("{}  {:<48} {}", kNumbersHeading, name_heading(q.view),
                            tail_heading(q.view, 24)));
  // Format strings compiled in (FMT_COMPILE): a refresh writes a line per row, and parsing the
  // same strings at run time was a tenth of a quiet top's own CPU.
  for (const Row& r : rows) {
    out.push_back(fmt::format(FMT_COMPILE("{}  {:<48} {}"), numbers(r), row_name(r, q.view),
                              row_tail(r, q.view, 24)));
    for (const Caller& c : r.callers) {
      out.push_back(fmt::format(FMT_COMPILE("{:>20}  <- {:5.1f}% {}"), "", c.share, c.name));
    }
  }
  out.emplace_back();
  return out;
}

std::string json_line(const Status& status, const Query& q, const std::vector<Row>& rows) {
  nlohmann::json j;
  j["refresh"] = status.refresh;
  j["interval_s"] = status.interval_s;
  j["samples"] = status.samples;
  j["event"] = status.event;
  j["frequency"] = status.frequency;
  j["backend"] = status.backend;
  j["subject"] = status.subject;
  j["own_cpu_percent"] = status.own_cpu;
  const Footprint& m = status.memory;
  j["memory"] = {{"rss_bytes", status.rss_bytes},
                 {"stacks", m.stacks},
                 {"locations", m.locations},
                 {"functions", m.functions},
                 {"modules", m.modules},
                 {"files", m.files},
                 {"processes", m.processes},
                 {"threads", m.threads},
                 {"table_processes", m.table_processes},
                 {"table_spaces", m.table_spaces},
                 {"table_threads", m.table_threads},
                 {"symbolizer_addresses", m.symbolizer_addresses},
                 {"symbolizer_restarts", m.symbolizer_restarts},
                 {"stacks_evicted", m.stacks_evicted},
                 {"processes_forgotten", m.processes_forgotten},
                 {"over_budget", m.over_budget},
                 {"heap_trims", m.heap_trims}};
  j["view"] = view_name(q.view);
  j["sort"] = sort_name(q.sort);
  j["zoom_pid"] = q.zoom_pid >= 0 ? nlohmann::json(q.zoom_pid) : nlohmann::json(nullptr);
  auto& list = j["rows"] = nlohmann::json::array();
  for (const Row& r : rows) {
    nlohmann::json o;
    o["name"] = r.name;
    if (q.view == View::functions) o["module"] = r.module;
    o["process"] = r.process;
    o["pid"] = r.pid;
    if (q.view == View::threads) o["tid"] = r.tid;
    if (q.view == View::processes || q.view == View::threads) o["exited"] = r.exited;
    o["self"] = r.self;
    o["total"] = r.total;
    o["average"] = r.average;
    o["self_samples"] = r.self_samples;
    o["total_samples"] = r.total_samples;
    if (!r.callers.empty()) {
      auto& callers = o["callers"] = nlohmann::json::array();
      for (const Caller& c : r.callers) {
        callers.push_back({{"name", c.name}, {"share", c.share}, {"samples", c.samples}});
      }
    }
    list.push_back(std::move(o));
  }
  // Invalid UTF-8 in a name (a binary's symbol) is replaced, not thrown.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Screen screen(const Status& status, const UiState& ui, const std::vector<Row>& rows, int width,
              int height) {
  Screen s;
  const auto w = static_cast<std::size_t>(std::max(width, 20));
  const Query& q = ui.query;
  s.lines.push_back(fit(status_text(status, ui.paused), w));
  // A message ("saved ...") opens the second line, where the long status line cannot push it off.
  s.lines.push_back(fit(
      fmt::format("{}view {} sorted by {}{} (average: half-life {:g} s)",
                  ui.message.empty() ? "" : ui.message + "  ", view_name(q.view), sort_name(q.sort),
                  status.zoom.empty() ? "" : ", zoomed into " + status.zoom, status.half_life_s),
      w));
  // Columns: numbers, name, then the tail; the name gets what the tail leaves.
  const std::size_t numbers_w = 20, module_w = q.view == View::functions ? 18 : 0;
  const std::size_t tail_w = q.view == View::processes ? 0 : module_w + 24;
  const std::size_t name_w = w > numbers_w + 2 + tail_w + 10 ? w - numbers_w - 3 - tail_w : 10;
  s.header = static_cast<int>(s.lines.size());
  s.lines.push_back(fit(fmt::format("{}  {:<{}} {}", kNumbersHeading, name_heading(q.view), name_w,
                                    tail_heading(q.view, module_w)),
                        w));
  // The help line last, wrapped at its two-space gaps on a narrow terminal.
  std::vector<std::string> help;
  for (std::size_t at = 0; at < help_line().size();) {
    std::size_t end = help_line().size();
    if (end - at > w) {
      end = help_line().rfind("  ", at + w);
      if (end == std::string::npos || end <= at) end = at + w;
    }
    help.push_back(fit(help_line().substr(at, end - at), w));
    at = help_line().find_first_not_of(' ', end);
    if (at == std::string::npos) break;
  }
  const auto room = static_cast<std::size_t>(std::max(height - static_cast<int>(help.size()), 4));
  for (std::size_t i = 0; i < rows.size() && s.lines.size() < room; ++i) {
    const Row& r = rows[i];
    if (i == ui.selected) s.selected = static_cast<int>(s.lines.size());
    s.lines.push_back(
        fit(fmt::format(FMT_COMPILE("{}  {:<{}} {}"), numbers(r), fit(row_name(r, q.view), name_w),
                        name_w, row_tail(r, q.view, module_w)),
            w));
    for (const Caller& c : r.callers) {
      if (s.lines.size() >= room) break;
      s.lines.push_back(
          fit(fmt::format(FMT_COMPILE("{:>20}  <- {:5.1f}% {}"), "", c.share, c.name), w));
    }
  }
  while (s.lines.size() < room) s.lines.emplace_back();
  s.help = static_cast<int>(s.lines.size());
  s.lines.insert(s.lines.end(), help.begin(), help.end());
  return s;
}

}  // namespace perfscope::top
