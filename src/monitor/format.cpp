#include "monitor/format.hpp"

#include <fmt/format.h>
#include <time.h>

#include "core/text_escape.hpp"
#include "monitor/metric_name.hpp"

namespace perfscope::monitor {
namespace {

void append_csv_field(std::string_view text, std::string& out) {
  if (text.find_first_of(",\"\n\r") == std::string_view::npos) {
    out += text;
    return;
  }
  out += '"';
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

// Prometheus label values escape backslash, double quote and newline.
void append_label_value(std::string_view text, std::string& out) {
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

void append_labels(const Series& s, const std::string* metric, std::string& out) {
  out += '{';
  if (metric != nullptr) {
    out += "metric=\"";
    append_label_value(*metric, out);
    out += "\",";
  }
  out += "event=\"";
  append_label_value(s.event, out);
  out += '"';
  if (s.cpu >= 0) fmt::format_to(std::back_inserter(out), ",cpu=\"{}\"", s.cpu);
  if (s.pid >= 0) fmt::format_to(std::back_inserter(out), ",pid=\"{}\"", s.pid);
  if (!s.cgroup.empty()) {
    out += ",cgroup=\"";
    append_label_value(s.cgroup, out);
    out += '"';
  }
  out += '}';
}

// A timestamp string per distinct time, reused across the points of one poll.
class TimestampCache {
 public:
  const std::string& get(std::int64_t time_ns) {
    if (time_ns != time_ns_ || text_.empty()) {
      time_ns_ = time_ns;
      text_ = rfc3339(time_ns);
    }
    return text_;
  }

 private:
  std::int64_t time_ns_ = 0;
  std::string text_;
};

// Nanoseconds as exact decimal seconds: 1500000000 -> "1.5", 0 -> "0", 7 -> "0.000000007".
void append_seconds(std::uint64_t ns, std::string& out) {
  fmt::format_to(std::back_inserter(out), "{}", ns / 1'000'000'000);
  std::uint64_t fraction = ns % 1'000'000'000;
  if (fraction == 0) return;
  int digits = 9;
  while (fraction % 10 == 0) {
    fraction /= 10;
    --digits;
  }
  fmt::format_to(std::back_inserter(out), ".{:0{}}", fraction, digits);
}

}  // namespace

std::string rfc3339(std::int64_t time_ns) {
  const time_t seconds = static_cast<time_t>(time_ns / 1'000'000'000);
  const auto nanos = time_ns % 1'000'000'000;
  struct tm tm {};
  ::gmtime_r(&seconds, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, nanos);
}

const char* csv_header() {
  return "timestamp,metric,event,cpu,pid,cgroup,value,total,accuracy\n";
}

void append_csv(std::span<const Point> points, const std::vector<Series>& series,
                std::string& out) {
  TimestampCache stamps;
  auto it = std::back_inserter(out);
  for (const auto& p : points) {
    const Series& s = series[p.series];
    out += stamps.get(p.time_ns);
    out += ',';
    out += s.metric;
    out += ',';
    append_csv_field(s.event, out);
    out += ',';
    if (s.cpu >= 0) fmt::format_to(it, "{}", s.cpu);
    out += ',';
    if (s.pid >= 0) fmt::format_to(it, "{}", s.pid);
    out += ',';
    append_csv_field(s.cgroup, out);
    fmt::format_to(it, ",{},{},{}\n", p.delta, p.total, p.accuracy);
  }
}

void append_jsonl(std::span<const Point> points, const std::vector<Series>& series,
                  std::string& out) {
  TimestampCache stamps;
  auto it = std::back_inserter(out);
  for (const auto& p : points) {
    const Series& s = series[p.series];
    out += "{\"timestamp\":\"";
    out += stamps.get(p.time_ns);
    out += "\",\"metric\":\"";
    out += s.metric;  // [A-Za-z0-9_] only
    out += "\",\"event\":";
    append_json_string(out, s.event);
    fmt::format_to(it, ",\"value\":{},\"total\":{},\"accuracy\":{},\"attributes\":{{", p.delta,
                   p.total, p.accuracy);
    bool first = true;
    if (s.cpu >= 0) {
      fmt::format_to(it, "\"cpu\":{}", s.cpu);
      first = false;
    }
    if (s.pid >= 0) {
      fmt::format_to(it, "{}\"pid\":{}", first ? "" : ",", s.pid);
      first = false;
    }
    if (!s.cgroup.empty()) {
      out += first ? "\"cgroup\":" : ",\"cgroup\":";
      append_json_string(out, s.cgroup);
    }
    out += "}}\n";
  }
}

void append_exposition(const std::vector<Series>& series, std::span<const Point> latest,
                       std::string& out) {
  auto it = std::back_inserter(out);
  // Series of one family are adjacent (Source orders them by event), but an event listed with two
  // modifier sets shares its family with another: group by name, in first-seen order.
  std::vector<std::string> families;
  for (const auto& s : series) families.push_back(prometheus_name(s));
  std::vector<bool> done(series.size(), false);
  for (std::size_t i = 0; i < series.size(); ++i) {
    if (done[i]) continue;
    const std::string& family = families[i];
    if (series[i].nanoseconds) {
      fmt::format_to(it,
                     "# HELP {0} CPU time counted by the perf event {1}, in seconds (perfscope "
                     "monitor).\n# TYPE {0} counter\n",
                     family, series[i].base);
    } else {
      fmt::format_to(it,
                     "# HELP {0} Count of the perf event {1}, scaled for multiplexing (perfscope "
                     "monitor).\n# TYPE {0} counter\n",
                     family, series[i].base);
    }
    for (std::size_t j = i; j < series.size(); ++j) {
      if (families[j] != family) continue;
      done[j] = true;
      out += family;
      append_labels(series[j], nullptr, out);
      out += ' ';
      // Not polled yet: the count at the start, 0.
      const std::uint64_t total = latest[j].time_ns == 0 ? 0 : latest[j].total;
      if (series[j].nanoseconds) {
        append_seconds(total, out);
      } else {
        fmt::format_to(it, "{}", total);
      }
      out += '\n';
    }
  }
  out +=
      "# HELP perfscope_monitor_accuracy Share of the last poll interval each counter was "
      "running (time_running / time_enabled); its count was scaled by the inverse. NaN until the "
      "first poll.\n"
      "# TYPE perfscope_monitor_accuracy gauge\n";
  for (std::size_t j = 0; j < series.size(); ++j) {
    out += "perfscope_monitor_accuracy";
    append_labels(series[j], &series[j].metric, out);
    if (latest[j].time_ns == 0) {
      out += " NaN\n";
    } else {
      fmt::format_to(it, " {}\n", latest[j].accuracy);
    }
  }
}

}  // namespace perfscope::monitor
