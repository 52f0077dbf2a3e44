#include "syscalls/summary.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <nlohmann/json.hpp>

#include "syscalls/names.hpp"

namespace perfscope::syscalls {

const char* group_by_name(GroupBy by) {
  switch (by) {
    case GroupBy::syscall:
      return "syscall";
    case GroupBy::process:
      return "process";
    case GroupBy::thread:
      return "thread";
  }
  return "syscall";
}

std::optional<GroupBy> parse_group_by(std::string_view text) {
  for (GroupBy by : {GroupBy::syscall, GroupBy::process, GroupBy::thread}) {
    if (text == group_by_name(by)) return by;
  }
  return std::nullopt;
}

int histogram_bucket(std::uint64_t ns) {
  if (ns == 0) return 0;
  const int b = 63 - std::countl_zero(ns);
  return std::min(b, kHistogramBuckets - 1);
}

void RowStats::add_call(std::int64_t wall, std::int64_t cpu, bool failed, int err) {
  ++calls;
  if (failed) {
    ++errors;
    ++errnos[err];
  }
  if (wall < 0) return;
  const auto w = static_cast<std::uint64_t>(wall);
  wall_ns += w;
  cpu_ns += cpu < 0 ? 0 : static_cast<std::uint64_t>(cpu);
  min_ns = timed == 0 ? w : std::min(min_ns, w);
  max_ns = std::max(max_ns, w);
  ++timed;
  ++histogram[static_cast<std::size_t>(histogram_bucket(w))];
}

void RowStats::merge(const RowStats& o) {
  if (o.timed > 0) {
    min_ns = timed == 0 ? o.min_ns : std::min(min_ns, o.min_ns);
    max_ns = std::max(max_ns, o.max_ns);
  }
  calls += o.calls;
  errors += o.errors;
  wall_ns += o.wall_ns;
  cpu_ns += o.cpu_ns;
  timed += o.timed;
  for (std::size_t i = 0; i < histogram.size(); ++i) histogram[i] += o.histogram[i];
  for (const auto& [err, n] : o.errnos) errnos[err] += n;
}

RowStats Summary::total() const {
  RowStats t;
  for (const auto& [key, row] : rows) t.merge(row);
  return t;
}

std::uint64_t row_time_ns(const Summary& summary, const RowStats& row, bool wall) {
  return wall || !summary.cpu_time ? row.wall_ns : row.cpu_ns;
}

std::vector<std::pair<RowKey, RowStats>> sorted_rows(const Summary& summary, bool wall) {
  std::vector<std::pair<RowKey, RowStats>> rows(summary.rows.begin(), summary.rows.end());
  std::stable_sort(rows.begin(), rows.end(), [&](const auto& a, const auto& b) {
    const auto ta = row_time_ns(summary, a.second, wall);
    const auto tb = row_time_ns(summary, b.second, wall);
    if (ta != tb) return ta > tb;
    if (a.second.calls != b.second.calls) return a.second.calls > b.second.calls;
    return syscall_name(a.first.nr) < syscall_name(b.first.nr);
  });
  return rows;
}

namespace {

// "512ns", "1.02us", "4.19ms", "1.07s": a bucket bound, 3 significant digits.
std::string short_duration(std::uint64_t ns) {
  if (ns < 1000) return fmt::format("{}ns", ns);
  const double v = static_cast<double>(ns);
  const auto three = [](double x, const char* unit) {
    if (x < 10) return fmt::format("{:.2f}{}", x, unit);
    if (x < 100) return fmt::format("{:.1f}{}", x, unit);
    return fmt::format("{:.0f}{}", x, unit);
  };
  if (ns < 1'000'000) return three(v / 1e3, "us");
  if (ns < 1'000'000'000) return three(v / 1e6, "ms");
  return three(v / 1e9, "s");
}

std::string row_label(const Summary& s, const RowKey& k) {
  switch (s.by) {
    case GroupBy::syscall:
      return syscall_name(k.nr);
    case GroupBy::process:
      return fmt::format("{} (pid {}, {})", syscall_name(k.nr), k.tgid, k.comm);
    case GroupBy::thread:
      return fmt::format("{} (tid {} of pid {}, {})", syscall_name(k.nr), k.tid, k.tgid, k.comm);
  }
  return {};
}

void append_line(std::string& out, const Summary& s, double percent, std::uint64_t time_ns,
                 const RowStats& row, const std::string& who, const std::string& name) {
  const std::uint64_t usecs = row.calls == 0 ? 0 : time_ns / 1000 / row.calls;
  out += fmt::format("{:6.2f} {:11.6f} {:11} {:9} {:>9} {}{}\n", percent,
                     static_cast<double>(time_ns) / 1e9, usecs, row.calls,
                     row.errors == 0 ? std::string() : fmt::format("{}", row.errors),
                     s.by == GroupBy::syscall ? "" : who, name);
}

}  // namespace

std::string format_table(const Summary& s, const TableOptions& o) {
  std::string out;
  const char* who_header = s.by == GroupBy::thread    ? "     tid      pid process          "
                           : s.by == GroupBy::process ? "     pid process          "
                                                      : "";
  const char* who_rule = s.by == GroupBy::thread    ? "-------- -------- ---------------- "
                         : s.by == GroupBy::process ? "-------- ---------------- "
                                                    : "";
  out += fmt::format("% time     seconds  usecs/call     calls    errors {}syscall\n", who_header);
  const std::string rule = fmt::format(
      "------ ----------- ----------- --------- --------- {}----------------\n", who_rule);
  out += rule;
  const auto rows = sorted_rows(s, o.wall);
  const RowStats total = s.total();
  const std::uint64_t total_ns = row_time_ns(s, total, o.wall);
  for (const auto& [key, row] : rows) {
    const std::uint64_t t = row_time_ns(s, row, o.wall);
    const double pct =
        total_ns == 0 ? 0.0 : 100.0 * static_cast<double>(t) / static_cast<double>(total_ns);
    std::string who;
    if (s.by == GroupBy::thread)
      who = fmt::format("{:8} {:8} {:<16} ", key.tid, key.tgid, key.comm);
    if (s.by == GroupBy::process) who = fmt::format("{:8} {:<16} ", key.tgid, key.comm);
    append_line(out, s, total_ns == 0 ? 0.0 : pct, t, row, who, syscall_name(key.nr));
  }
  out += rule;
  std::string blank_who;
  if (s.by == GroupBy::thread) blank_who = std::string(35, ' ');
  if (s.by == GroupBy::process) blank_who = std::string(26, ' ');
  append_line(out, s, rows.empty() ? 0.0 : 100.0, total_ns, total, blank_who, "total");

  if (total.errors > 0) {
    out += "\nerrors by errno:\n";
    for (const auto& [key, row] : rows) {
      for (const auto& [err, n] : row.errnos) {
        out += fmt::format("  {:<40} {:<16} {:>9}\n", row_label(s, key), errno_name(err), n);
      }
    }
  }

  if (o.histogram) {
    for (const auto& [key, row] : rows) {
      if (row.timed == 0) continue;
      int first = kHistogramBuckets, last = -1;
      std::uint64_t peak = 0;
      for (int b = 0; b < kHistogramBuckets; ++b) {
        const auto n = row.histogram[static_cast<std::size_t>(b)];
        if (n == 0) continue;
        first = std::min(first, b);
        last = b;
        peak = std::max(peak, n);
      }
      out += fmt::format("\n{}: {} timed calls, wall time per call: min {}, avg {}, max {}\n",
                         row_label(s, key), row.timed, short_duration(row.min_ns),
                         short_duration(row.wall_ns / row.timed), short_duration(row.max_ns));
      out += fmt::format("  {:>8} .. {:<8} {:>9}  distribution\n", "from", "below", "calls");
      for (int b = first; b <= last; ++b) {
        const auto n = row.histogram[static_cast<std::size_t>(b)];
        const std::uint64_t lo = b == 0 ? 0 : (std::uint64_t{1} << b);
        const std::uint64_t hi = std::uint64_t{1} << (b + 1);
        const auto width = static_cast<std::size_t>((n * 40 + peak - 1) / peak);
        out += fmt::format("  {:>8} .. {:<8} {:>9}  |{:<40}|\n", short_duration(lo),
                           short_duration(hi), n, std::string(width, '*'));
      }
    }
  }
  return out;
}

}  // namespace perfscope::syscalls

namespace perfscope::syscalls {
namespace {

using nlohmann::json;

json row_json(const Summary& s, const RowKey& key, const RowStats& row, const TableOptions& o) {
  json r;
  r["syscall"] = syscall_name(key.nr);
  r["nr"] = key.nr;
  if (s.by != GroupBy::syscall) {
    r["pid"] = key.tgid;
    r["comm"] = key.comm;
  }
  if (s.by == GroupBy::thread) r["tid"] = key.tid;
  r["calls"] = row.calls;
  r["errors"] = row.errors;
  const auto t = row_time_ns(s, row, o.wall);
  r["seconds"] = static_cast<double>(t) / 1e9;
  r["usecs_per_call"] = row.calls == 0 ? 0 : t / 1000 / row.calls;
  r["wall_seconds"] = static_cast<double>(row.wall_ns) / 1e9;
  r["wall_ns"] = row.wall_ns;
  if (s.cpu_time) {
    r["cpu_seconds"] = static_cast<double>(row.cpu_ns) / 1e9;
    r["cpu_ns"] = row.cpu_ns;
  }
  r["timed_calls"] = row.timed;
  r["min_ns"] = row.min_ns;
  r["max_ns"] = row.max_ns;
  json errs = json::object();
  for (const auto& [err, n] : row.errnos) errs[errno_name(err)] = n;
  r["errnos"] = errs;
  if (o.histogram) {
    json h = json::array();
    for (int b = 0; b < kHistogramBuckets; ++b) {
      const auto n = row.histogram[static_cast<std::size_t>(b)];
      if (n == 0) continue;
      h.push_back({{"from_ns", b == 0 ? 0 : (std::uint64_t{1} << b)},
                   {"below_ns", std::uint64_t{1} << (b + 1)},
                   {"calls", n}});
    }
    r["histogram"] = h;
  }
  return r;
}

// One row of from_json; throws nlohmann's exceptions on a missing or mistyped field.
Result<std::pair<RowKey, RowStats>> parse_row(const json& r, GroupBy by) {
  RowKey key;
  key.nr = r.at("nr").get<int>();
  if (by != GroupBy::syscall) {
    key.tgid = r.at("pid").get<std::uint32_t>();
    key.comm = r.at("comm").get<std::string>();
  }
  if (by == GroupBy::thread) key.tid = r.at("tid").get<std::uint32_t>();
  RowStats row;
  row.calls = r.at("calls").get<std::uint64_t>();
  row.errors = r.at("errors").get<std::uint64_t>();
  row.wall_ns = r.at("wall_ns").get<std::uint64_t>();
  row.cpu_ns = r.value("cpu_ns", std::uint64_t{0});
  row.timed = r.at("timed_calls").get<std::uint64_t>();
  row.min_ns = r.at("min_ns").get<std::uint64_t>();
  row.max_ns = r.at("max_ns").get<std::uint64_t>();
  for (const auto& [name, n] : r.at("errnos").items()) {
    const auto err = errno_number(name);
    if (!err) return Error{fmt::format("unknown errno name '{}'", name), 0, {}};
    row.errnos[*err] = n.get<std::uint64_t>();
  }
  if (r.contains("histogram")) {
    for (const auto& b : r.at("histogram")) {
      const auto bucket = histogram_bucket(b.at("from_ns").get<std::uint64_t>());
      row.histogram[static_cast<std::size_t>(bucket)] = b.at("calls").get<std::uint64_t>();
    }
  }
  return std::pair{std::move(key), std::move(row)};
}

}  // namespace

std::string to_json(const Summary& s, const TableOptions& o) {
  json rows = json::array();
  for (const auto& [key, row] : sorted_rows(s, o.wall)) rows.push_back(row_json(s, key, row, o));
  const auto total = s.total();
  json j;
  j["backend"] = s.backend;
  j["time"] = o.wall || !s.cpu_time ? "wall" : "cpu";
  j["cpu_time"] = s.cpu_time;
  j["by"] = group_by_name(s.by);
  j["elapsed_seconds"] = s.elapsed_s;
  j["total"] = {{"calls", total.calls},
                {"errors", total.errors},
                {"seconds", static_cast<double>(row_time_ns(s, total, o.wall)) / 1e9}};
  j["lost"] = s.lost;
  j["unfinished"] = s.unfinished;
  j["rows"] = std::move(rows);
  return j.dump(2) + "\n";
}

Result<Summary> from_json(std::string_view text) {
  const auto bad = [](const std::string& why) {
    return Error{"read a syscall summary: " + why, 0,
                 "  expected what `perfscope syscalls --json` writes"};
  };
  const json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return bad("not JSON");
  try {
    Summary s;
    const auto by = parse_group_by(j.at("by").get<std::string>());
    if (!by) return bad("unknown \"by\"");
    s.by = *by;
    s.backend = j.at("backend").get<std::string>();
    s.cpu_time = j.at("cpu_time").get<bool>();
    s.elapsed_s = j.at("elapsed_seconds").get<double>();
    s.lost = j.at("lost").get<std::uint64_t>();
    s.unfinished = j.at("unfinished").get<std::uint64_t>();
    for (const auto& r : j.at("rows")) {
      auto row = parse_row(r, s.by);
      if (!row) return bad(row.error().op);
      s.rows[std::move(row->first)].merge(row->second);
    }
    return s;
  } catch (const json::exception& e) {
    return bad(e.what());
  }
}

}  // namespace perfscope::syscalls
