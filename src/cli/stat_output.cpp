// How `perfscope stat` prints: the human table, -x CSV rows and --json lines, with the derived
// metrics perf shows (CPUs utilized, rates, IPC, miss ratios) when both events were counted.
#include <linux/perf_event.h>

#include <fmt/format.h>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli/stat.hpp"

namespace perfscope::cli {
namespace {

using stat::EventTotals;

struct Metric {
  double value = 0;
  std::string unit;
};

bool is_clock(const events::EventSpec& s) {
  return events::is_time_based(s);
}

const EventTotals* find(const std::vector<EventTotals>& all, std::uint32_t type,
                        std::uint64_t config) {
  for (const auto& t : all) {
    if (t.supported && t.spec.type == type && t.spec.config == config) return &t;
  }
  return nullptr;
}

const EventTotals* find_clock(const std::vector<EventTotals>& all) {
  if (auto* t = find(all, PERF_TYPE_SOFTWARE, PERF_COUNT_SW_TASK_CLOCK)) return t;
  return find(all, PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK);
}

Metric per_second(double value, double seconds) {
  double rate = seconds > 0 ? value / seconds : 0;
  const char* unit = "/sec";
  if (rate >= 1e9)
    rate /= 1e9, unit = "G/sec";
  else if (rate >= 1e6)
    rate /= 1e6, unit = "M/sec";
  else if (rate >= 1e3)
    rate /= 1e3, unit = "K/sec";
  return {rate, unit};
}

std::optional<Metric> ratio_pct(double part, const EventTotals* whole, const char* what) {
  if (whole == nullptr || whole->value == 0) return std::nullopt;
  return Metric{part / whole->value * 100.0, what};
}

// The derived metric perf prints after '#' for `t`, if its partner event was counted.
std::optional<Metric> metric_for(const EventTotals& t, const std::vector<EventTotals>& all,
                                 double elapsed_s) {
  if (!t.supported) return std::nullopt;
  const auto& s = t.spec;
  const EventTotals* clock = find_clock(all);
  const double clock_s = clock != nullptr ? clock->value / 1e9 : 0;
  if (is_clock(s)) {
    if (elapsed_s <= 0) return std::nullopt;
    return Metric{t.value / 1e9 / elapsed_s, "CPUs utilized"};
  }
  if (s.type == PERF_TYPE_HARDWARE) {
    const EventTotals* cycles = find(all, PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES);
    switch (s.config) {
      case PERF_COUNT_HW_CPU_CYCLES:
        if (clock_s > 0) return Metric{t.value / clock_s / 1e9, "GHz"};
        return std::nullopt;
      case PERF_COUNT_HW_INSTRUCTIONS:
        if (cycles != nullptr && cycles->value > 0)
          return Metric{t.value / cycles->value, "insn per cycle"};
        return std::nullopt;
      case PERF_COUNT_HW_BRANCH_MISSES:
        return ratio_pct(t.value, find(all, PERF_TYPE_HARDWARE, PERF_COUNT_HW_BRANCH_INSTRUCTIONS),
                         "of all branches");
      case PERF_COUNT_HW_CACHE_MISSES:
        return ratio_pct(t.value, find(all, PERF_TYPE_HARDWARE, PERF_COUNT_HW_CACHE_REFERENCES),
                         "of all cache refs");
      case PERF_COUNT_HW_STALLED_CYCLES_FRONTEND:
        return ratio_pct(t.value, cycles, "frontend cycles idle");
      case PERF_COUNT_HW_STALLED_CYCLES_BACKEND:
        return ratio_pct(t.value, cycles, "backend cycles idle");
      default:
        break;
    }
  }
  if (s.type == PERF_TYPE_HW_CACHE &&
      ((s.config >> 16) & 0xff) == PERF_COUNT_HW_CACHE_RESULT_MISS) {
    const std::uint64_t access = s.config & 0xffff;  // same cache and op, result ACCESS
    return ratio_pct(t.value, find(all, PERF_TYPE_HW_CACHE, access), "of all accesses");
  }
  if (clock_s > 0) return per_second(t.value, clock_s);
  return std::nullopt;
}

// Value in the unit perf shows it in: clocks in msec, the rest as counts.
std::pair<double, const char*> shown_value(const EventTotals& t) {
  if (is_clock(t.spec)) return {t.value / 1e6, "msec"};
  return {t.value, ""};
}

std::string grouped(double v) {
  const std::string digits = fmt::format("{:.0f}", v);
  const std::size_t sign = !digits.empty() && digits[0] == '-' ? 1 : 0;
  std::string out = digits.substr(0, sign);
  for (std::size_t i = sign; i < digits.size(); ++i) {
    if (i != sign && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string human_value(const EventTotals& t) {
  if (!t.supported) return "<not supported>";
  if (t.running == 0 && t.enabled > 0) return "<not counted>";
  auto [v, unit] = shown_value(t);
  return unit[0] != '\0' ? fmt::format("{:.2f}", v) : grouped(v);
}

void print_human_row(std::FILE* out, const EventTotals& t, const std::vector<EventTotals>& all,
                     double elapsed_s, const char* prefix) {
  auto [v, unit] = shown_value(t);
  (void)v;
  std::string line = fmt::format("{}{:>18} {:<4} {:<32}", prefix, human_value(t),
                                 t.supported ? unit : "", t.spec.display_name());
  if (!t.supported) {
    line += "# " + t.reason;
  } else {
    if (auto m = metric_for(t, all, elapsed_s)) {
      line += fmt::format("# {:>8.3f} {:<22}", m->value, m->unit);
    } else {
      line += fmt::format("{:33}", "");
    }
    if (t.stddev_pct > 0) line += fmt::format(" ( +- {:.2f}% )", t.stddev_pct);
    line += fmt::format(" ({:.2f}%)", t.running_fraction() * 100.0);
  }
  while (!line.empty() && line.back() == ' ') line.pop_back();
  fmt::print(out, "{}\n", line);
}

std::string csv_row(const EventTotals& t, const std::vector<EventTotals>& all, double elapsed_s,
                    const std::string& sep) {
  auto [v, unit] = shown_value(t);
  std::string value;
  if (!t.supported)
    value = "<not supported>";
  else if (t.running == 0 && t.enabled > 0)
    value = "<not counted>";
  else
    value = unit[0] != '\0' ? fmt::format("{:.2f}", v) : fmt::format("{:.0f}", v);
  std::string metric, metric_unit;
  if (auto m = metric_for(t, all, elapsed_s)) {
    metric = fmt::format("{:.3f}", m->value);
    metric_unit = m->unit;
  }
  return fmt::format("{1}{0}{2}{0}{3}{0}{4}{0}{5:.2f}{0}{6}{0}{7}", sep, value,
                     t.supported ? unit : "", t.spec.display_name(), t.running,
                     t.running_fraction() * 100.0, metric, metric_unit);
}

nlohmann::json json_row(const EventTotals& t, const std::vector<EventTotals>& all,
                        double elapsed_s) {
  auto [v, unit] = shown_value(t);
  nlohmann::json j;
  j["event"] = t.spec.display_name();
  j["supported"] = t.supported;
  if (t.supported) {
    j["counter-value"] = v;
    j["unit"] = unit;
    j["event-runtime"] = t.running;
    j["pcnt-running"] = t.running_fraction() * 100.0;
    if (auto m = metric_for(t, all, elapsed_s)) {
      j["metric-value"] = m->value;
      j["metric-unit"] = m->unit;
    }
    if (t.stddev_pct > 0) j["variance-pct"] = t.stddev_pct;
  } else {
    j["counter-value"] = nullptr;
    j["reason"] = t.reason;
  }
  return j;
}

}  // namespace

void print_report(std::FILE* out, const stat::StatReport& r, const StatFormat& f) {
  if (f.json) {
    for (const auto& t : r.events)
      fmt::print(out, "{}\n", json_row(t, r.events, r.elapsed_s).dump());
    nlohmann::json summary{{"elapsed-seconds", r.elapsed_s}, {"runs", r.runs}};
    if (r.user_s) summary["user-seconds"] = *r.user_s;
    if (r.sys_s) summary["system-seconds"] = *r.sys_s;
    for (const auto& n : r.notes) summary["notes"].push_back(n);
    fmt::print(out, "{}\n", summary.dump());
    return;
  }
  if (!f.separator.empty()) {
    for (const auto& t : r.events)
      fmt::print(out, "{}\n", csv_row(t, r.events, r.elapsed_s, f.separator));
    return;
  }
  fmt::print(out, "\n Performance counter stats for {}{}:\n\n", r.subject,
             r.runs > 1 ? fmt::format(" ({} runs)", r.runs) : "");
  for (const auto& t : r.events) print_human_row(out, t, r.events, r.elapsed_s, "");
  for (const auto& n : r.notes) fmt::print(out, "\n # {}\n", n);
  fmt::print(out, "\n{:>18.9f} seconds time elapsed", r.elapsed_s);
  if (r.elapsed_stddev_pct) fmt::print(out, "  ( +- {:.2f}% )", *r.elapsed_stddev_pct);
  fmt::print(out, "\n\n");
  if (r.user_s)
    fmt::print(out, "{:>18.9f} seconds user\n{:>18.9f} seconds sys\n\n", *r.user_s, *r.sys_s);
}

void print_interval_header(std::FILE* out, const StatFormat& f) {
  if (f.json || !f.separator.empty()) return;
  fmt::print(out, "#           time             counts unit events\n");
}

void print_interval(std::FILE* out, double timestamp_s, const std::vector<EventTotals>& deltas,
                    double interval_s, const StatFormat& f) {
  for (const auto& t : deltas) {
    if (f.json) {
      auto j = json_row(t, deltas, interval_s);
      j["interval"] = timestamp_s;
      fmt::print(out, "{}\n", j.dump());
    } else if (!f.separator.empty()) {
      fmt::print(out, "{:.9f}{}{}\n", timestamp_s, f.separator,
                 csv_row(t, deltas, interval_s, f.separator));
    } else {
      print_human_row(out, t, deltas, interval_s, fmt::format("{:>16.9f}", timestamp_s).c_str());
    }
  }
  std::fflush(out);
}

}  // namespace perfscope::cli
