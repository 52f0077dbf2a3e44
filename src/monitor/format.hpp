// Text forms of monitor points: CSV rows, JSON lines and the Prometheus text exposition format
// (version 0.0.4). Formatting appends to a caller-owned string, so a flush costs one write(2).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "monitor/series.hpp"

namespace perfscope::monitor {

// "2026-11-22T09:15:30.250000000Z" (UTC, nanoseconds).
std::string rfc3339(std::int64_t time_ns);

// timestamp,metric,event,cpu,pid,cgroup,value,total,accuracy (absent attributes are empty).
const char* csv_header();
void append_csv(std::span<const Point> points, const std::vector<Series>& series, std::string& out);

// {"timestamp":"…","metric":"…","event":"…","value":N,"total":N,"accuracy":X,
//  "attributes":{"cpu":0}} per line.
void append_jsonl(std::span<const Point> points, const std::vector<Series>& series,
                  std::string& out);

// Every series' total as a counter family (prometheus_name(): METRIC_total, or
// METRIC_seconds_total with the nanoseconds as exact decimal seconds), labelled with the event and
// the scope, and each series' accuracy in one gauge family, perfscope_monitor_accuracy.
// `latest` is indexed by series. Every series is always there: one with time_ns 0 has not been
// polled yet and reads the start values, a total of 0 and an accuracy of NaN (no interval yet), as
// Prometheus asks of series known in advance.
void append_exposition(const std::vector<Series>& series, std::span<const Point> latest,
                       std::string& out);
inline constexpr const char* kExpositionContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace perfscope::monitor
