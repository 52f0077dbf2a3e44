#include "monitor/format.hpp"

#include <fmt/format.h>
#include <time.h>

#include "core/text_escape.hpp"

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
  // Series of one metric are adjacent (Source orders them by event), but an event listed with two
  // modifier sets shares its metric with another: group by name, in first-seen order.
  std::vector<bool> done(series.size(), false);
  for (std::size_t i = 0; i < series.size(); ++i) {
    if (done[i]) continue;
    const std::string& metric = series[i].metric;
    fmt::format_to(it,
                   "# HELP {0}_total Count of the perf event {1}, scaled for multiplexing "
                   "(perfscope monitor).\n# TYPE {0}_total counter\n",
                   metric, series[i].base);
    for (std::size_t j = i; j < series.size(); ++j) {
      if (series[j].metric != metric) continue;
      done[j] = true;
      if (latest[j].time_ns == 0) continue;
      out += metric;
      out += "_total";
      append_labels(series[j], nullptr, out);
      fmt::format_to(it, " {}\n", latest[j].total);
    }
  }
  out +=
      "# HELP perfscope_monitor_accuracy Share of the last poll interval each counter was "
      "running (time_running / time_enabled); its count was scaled by the inverse.\n"
      "# TYPE perfscope_monitor_accuracy gauge\n";
  for (std::size_t j = 0; j < series.size(); ++j) {
    if (latest[j].time_ns == 0) continue;
    out += "perfscope_monitor_accuracy";
    append_labels(series[j], &series[j].metric, out);
    fmt::format_to(it, " {}\n", latest[j].accuracy);
  }
}

}  // namespace perfscope::monitor
