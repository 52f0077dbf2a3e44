// `perfscope scenario NAME -- CMD`: runs the command bare (for the baseline time), then once per
// profile type through perfscope's own subcommands (cpu: record + flamegraph; memory: mem; io:
// syscalls), each a child process of this one with its output in logs/. Everything is written to
// a staging folder beside DIR/NAME and renamed into place at the end, so DIR/NAME is never
// half-written. summary.md (for people) and summary.json (for `scenario diff`) hold the headline
// numbers.
#include "cli/scenario.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "cli/report_error.hpp"
#include "core/clock.hpp"
#include "core/files.hpp"
#include "heap/text_report.hpp"
#include "profile/profile.hpp"
#include "profile/query.hpp"

extern char** environ;

namespace perfscope::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kCmd = "scenario";

struct ScenarioOptions {
  std::string name;
  std::vector<std::string> command;  // for `diff`: the two scenarios
  std::string types = "all";
  unsigned freq = 99;
  std::string results = "perfscope-results";
  std::string output;  // diff: the folder for diff.svg and diff.md
};

// SIGINT, SIGTERM or SIGHUP: the run in progress finishes its files, no further run starts.
volatile sig_atomic_t g_interrupted = 0;  // the signal's number
volatile sig_atomic_t g_forward = 0;      // sent to perfscope alone (kill), not by the terminal
void on_interrupt(int sig, siginfo_t* info, void*) {
  g_interrupted = sig;
  // A terminal's Ctrl-C already reached the whole process group; kill() reached only us.
  if (info == nullptr || info->si_code != SI_KERNEL) g_forward = 1;
}

struct Step {
  int exit_code = -1;  // shell convention: 128 + signal when killed
  double seconds = 0;
};

// Runs argv with standard input from /dev/null and both outputs appended to `log`; waits.
Result<Step> run_logged(const std::vector<std::string>& argv, const std::string& log) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const double start = monotonic_seconds();
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    return Error{fmt::format("run {}", argv[0]), rc, "  check the command name and PATH"};
  }
  int status = 0;
  bool forwarded = false;
  for (;;) {
    // Also before the first wait: the signal may have come while the run was being started.
    if (g_interrupted != 0 && g_forward != 0 && !forwarded) {
      ::kill(pid, g_interrupted);
      forwarded = true;
    }
    if (::waitpid(pid, &status, 0) == pid) break;
    if (errno != EINTR) return errno_error("waitpid");
  }
  Step s;
  s.seconds = monotonic_seconds() - start;
  s.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return s;
}

std::string tail_of(const std::string& path, std::size_t lines) {
  auto text = read_text_file(path);
  if (!text) return {};
  std::vector<std::string> all;
  std::istringstream in(*text);
  for (std::string l; std::getline(in, l);) all.push_back(l);
  std::string out;
  for (std::size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i)
    out += "    " + all[i] + "\n";
  return out;
}

std::string command_line(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) s += (s.empty() ? "" : " ") + a;
  return s;
}

Result<std::vector<std::string>> parse_types(const std::string& text) {
  if (text == "all") return std::vector<std::string>{"cpu", "memory", "io"};
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string t; std::getline(in, t, ',');) {
    if (t != "cpu" && t != "memory" && t != "io") {
      return Error{fmt::format("unknown scenario type '{}'", t), 0,
                   "  choose from cpu, memory, io (comma-separated), or all"};
    }
    if (std::find(out.begin(), out.end(), t) == out.end()) out.push_back(t);
  }
  if (out.empty()) return Error{"--type is empty", 0, "  choose from cpu, memory, io, or all"};
  return out;
}

// The hottest functions of a CPU profile, by self share.
json top_functions(const profile::Profile& p, std::size_t top) {
  json out = json::array();
  auto hot = profile::hottest(p, {});
  if (!hot || hot->total <= 0) return out;
  for (const auto& e : hot->entries) {
    if (e.self <= 0 || out.size() == top) break;
    out.push_back(
        {{"function", e.name},
         {"self_percent", 100.0 * static_cast<double>(e.self) / static_cast<double>(hot->total)},
         {"total_percent",
          100.0 * static_cast<double>(e.total) / static_cast<double>(hot->total)}});
  }
  return out;
}

// Per process in a heap profile: the peak heap (inuse_space, which mem takes at the peak).
json heap_numbers(const profile::Profile& p) {
  json out = json::object();
  auto inuse = profile::sample_type_index(p, "inuse_space");
  auto allocs = profile::sample_type_index(p, "alloc_objects");
  if (!inuse || !allocs) return out;
  profile::LabelKeys keys(p);
  std::map<std::int64_t, std::pair<std::int64_t, std::int64_t>> by_pid;  // pid -> (peak, allocs)
  std::map<std::int64_t, std::string> comm;
  for (const auto& s : p.samples()) {
    const auto pid = profile::num_label(s, keys.pid).value_or(0);
    by_pid[pid].first += s.values[*inuse];
    by_pid[pid].second += s.values[*allocs];
    if (!comm.contains(pid)) comm[pid] = std::string(p.string(profile::str_label(s, keys.comm)));
  }
  std::int64_t best_pid = 0, best = -1;
  for (const auto& [pid, v] : by_pid) {
    if (v.first > best) best = v.first, best_pid = pid;
  }
  if (best < 0) return out;
  out["peak_bytes"] = best;
  out["pid"] = best_pid;
  out["comm"] = comm[best_pid];
  out["allocations"] = by_pid[best_pid].second;
  return out;
}

std::string format_seconds(double s) {
  return fmt::format("{:.3f} s", s);
}

// summary.md from summary.json's content.
std::string summary_markdown(const json& j) {
  std::string md = fmt::format("# Scenario {}\n\n", j.at("name").get<std::string>());
  md += fmt::format("Command: `{}`  \nRecorded: {} by perfscope {}\n\n",
                    j.at("command").get<std::string>(), j.at("date").get<std::string>(),
                    j.at("perfscope").get<std::string>());
  if (j.value("interrupted", false)) {
    md +=
        "**Interrupted**: the run in progress was cut short, and the types after it were not "
        "run.\n\n";
  }
  md += "| run | wall time | overhead vs bare | exit status | results |\n|---|---|---|---|---|\n";
  const double bare =
      j.at("runs").contains("bare") ? j.at("runs").at("bare").at("seconds").get<double>() : 0.0;
  for (const char* type : {"bare", "cpu", "memory", "io"}) {
    if (!j.at("runs").contains(type)) continue;
    const auto& r = j.at("runs").at(type);
    const double sec = r.at("seconds").get<double>();
    std::string files;
    for (const auto& f : r.at("files")) {
      const auto name = f.get<std::string>();
      files += (files.empty() ? "" : ", ") + fmt::format("[{}]({})", name, name);
    }
    md += fmt::format("| {} | {} | {} | {} | {} |\n", type, format_seconds(sec),
                      std::string(type) == "bare" || bare <= 0 ? std::string("")
                                                               : fmt::format("{:.2f}x", sec / bare),
                      r.at("exit_code").get<int>(), files);
  }
  md +=
      "\nEach wall time includes perfscope's own start and finish (loading BPF programs, "
      "symbolizing, writing files); logs/ holds each run's output.\n";
  if (j.contains("cpu")) {
    const auto& c = j.at("cpu");
    const auto samples = c.at("samples").get<std::int64_t>();
    md += fmt::format("\n## CPU\n\n{} samples at {} Hz, {} lost.", samples,
                      j.at("freq").get<unsigned>(), c.at("lost").get<std::int64_t>());
    md += samples == 0 ? " The command was not on a CPU when a sample was due, so there is no "
                         "flame graph.\n"
                       : " Top functions by self time:\n\n| # | function | self | total "
                         "|\n|---|---|---|---|\n";
    int i = 0;
    for (const auto& f : c.at("top_functions")) {
      md += fmt::format("| {} | `{}` | {:.1f}% | {:.1f}% |\n", ++i,
                        f.at("function").get<std::string>(), f.at("self_percent").get<double>(),
                        f.at("total_percent").get<double>());
    }
  }
  if (j.contains("memory")) {
    const auto& m = j.at("memory");
    md += "\n## Memory\n\n";
    if (m.contains("peak_bytes")) {
      md += fmt::format(
          "Peak heap: {} in pid {} ({}), {} allocations. Details: [heap.txt](heap.txt), "
          "what held the peak: [heap.svg](heap.svg).\n",
          heap::format_size(m.at("peak_bytes").get<std::uint64_t>()),
          m.at("pid").get<std::int64_t>(), m.at("comm").get<std::string>(),
          heap::group_digits(m.at("allocations").get<std::uint64_t>()));
    } else {
      md += "No heap profile was made.\n";
    }
  }
  if (j.contains("io")) {
    const auto& io = j.at("io");
    md += fmt::format(
        "\n## I/O\n\n{} system calls, {} failed, {} in the kernel ({} time). Top system calls "
        "by time:\n\n",
        io.at("calls").get<std::uint64_t>(), io.at("errors").get<std::uint64_t>(),
        format_seconds(io.at("seconds").get<double>()), io.at("time").get<std::string>());
    md += "| syscall | calls | errors | seconds |\n|---|---|---|---|\n";
    for (const auto& r : io.at("top_syscalls")) {
      md += fmt::format("| {} | {} | {} | {:.6f} |\n", r.at("syscall").get<std::string>(),
                        r.at("calls").get<std::uint64_t>(), r.at("errors").get<std::uint64_t>(),
                        r.at("seconds").get<double>());
    }
  }
  return md;
}

Status write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return errno_error("write " + path);
  return {};
}

std::string now_text() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

int run_scenario(const ScenarioOptions& o) {
  if (o.name.empty() || o.name.find('/') != std::string::npos || o.name == "." || o.name == "..") {
    return report_error(kCmd, Error{fmt::format("invalid scenario name '{}'", o.name), 0,
                                    "  a name is one folder name: perfscope scenario NAME -- CMD"});
  }
  if (o.command.empty()) {
    return report_error(kCmd, Error{"no command to run", 0,
                                    "  give one after --: perfscope scenario NAME -- ./myprogram"});
  }
  if (o.freq == 0) return report_error(kCmd, Error{"--freq must be at least 1 Hz", 0, ""});
  auto types = parse_types(o.types);
  if (!types) return report_error(kCmd, types.error());
  const std::string program = o.command.front();
  if (const std::string path = find_on_path(program);
      path.empty() || ::access(path.c_str(), X_OK) != 0) {
    return report_error(kCmd, Error{fmt::format("{}: command not found", program), 0,
                                    "  check the name, or give its path"});
  }
  std::error_code ec;
  fs::create_directories(o.results, ec);
  if (ec) {
    return report_error(kCmd, Error{fmt::format("create the results folder {}", o.results),
                                    ec.value(), "  choose another with --results DIR"});
  }
  const std::string final_dir = (fs::path(o.results) / o.name).string();
  const std::string stage =
      (fs::path(o.results) / fmt::format(".{}.partial-{}", o.name, ::getpid())).string();
  fs::create_directories(fs::path(stage) / "logs", ec);
  if (ec) {
    return report_error(kCmd, Error{fmt::format("create {}", stage), ec.value(), ""});
  }
  // Anything that fails from here removes the staging folder: no half-written scenario.
  struct Cleanup {
    std::string dir;
    bool keep = false;
    ~Cleanup() {
      std::error_code e;
      if (!keep) fs::remove_all(dir, e);
    }
  } cleanup{stage};

  const std::string self = read_link("/proc/self/exe");
  const auto file = [&](const char* name) { return (fs::path(stage) / name).string(); };
  const auto log = [&](const std::string& type) {
    return (fs::path(stage) / "logs" / (type + ".log")).string();
  };
  // Ctrl-C reaches the running command and perfscope child too (same process group); they finish
  // their files, and no further type is started. SIGTERM, SIGHUP or a kill() of perfscope alone
  // is passed on to the run in progress.
  struct sigaction sa {};
  sa.sa_sigaction = on_interrupt;
  sa.sa_flags = SA_SIGINFO;  // no SA_RESTART: waitpid returns, and the signal is passed on
  constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGHUP};
  struct sigaction old_actions[std::size(kStopSignals)] = {};
  for (std::size_t i = 0; i < std::size(kStopSignals); ++i)
    ::sigaction(kStopSignals[i], &sa, &old_actions[i]);
  g_interrupted = 0;
  g_forward = 0;

  json j;
  j["name"] = o.name;
  j["command"] = command_line(o.command);
  j["argv"] = o.command;
  j["date"] = now_text();
  j["perfscope"] = "0.1.0";
  j["freq"] = o.freq;
  j["types"] = *types;
  j["runs"] = json::object();

  fmt::print(stderr, "perfscope scenario {}: bare run of {}\n", o.name, program);
  auto bare = run_logged(o.command, log("bare"));
  if (!bare) return report_error(kCmd, bare.error());
  j["runs"]["bare"] = {{"seconds", bare->seconds},
                       {"exit_code", bare->exit_code},
                       {"files", json::array({"logs/bare.log"})}};

  const auto fail = [&](const std::string& type, const std::string& what) {
    return report_error(
        kCmd, Error{fmt::format("the {} run failed: {}", type, what), 0,
                    fmt::format("  the end of logs/{}.log:\n{}", type, tail_of(log(type), 8))});
  };
  for (const auto& type : *types) {
    if (g_interrupted != 0) break;
    fmt::print(stderr, "perfscope scenario {}: {} run\n", o.name, type);
    std::vector<std::string> argv{self};
    std::vector<std::string> files;
    if (type == "cpu") {
      argv.insert(argv.end(),
                  {"record", "-F", std::to_string(o.freq), "-o", file("profile.pb.gz")});
      files = {"flamegraph.svg", "profile.pb.gz"};
    } else if (type == "memory") {
      argv.insert(argv.end(),
                  {"mem", "-o", file("heap.pb.gz"), "--report", file("heap.txt"), "--flamegraph",
                   file("heap.svg"), "--timeline", file("heap-timeline.svg")});
      files = {"heap.txt", "heap.svg", "heap-timeline.svg", "heap.pb.gz"};
    } else {
      argv.insert(argv.end(), {"syscalls", "-o", file("syscalls.txt"), "--json-file",
                               file("syscalls.json"), "--histogram"});
      files = {"syscalls.txt", "syscalls.json"};
    }
    argv.push_back("--");
    argv.insert(argv.end(), o.command.begin(), o.command.end());
    auto step = run_logged(argv, log(type));
    if (!step) return report_error(kCmd, step.error());
    if (type == "cpu") {
      if (!path_exists(file("profile.pb.gz"))) return fail(type, "no profile was written");
      auto p = profile::read_pprof(file("profile.pb.gz"));
      if (!p) return report_error(kCmd, p.error());
      const auto totals = profile::totals(*p);
      const std::int64_t samples = totals.values.empty() ? 0 : totals.values[0];
      if (samples > 0) {
        auto fg = run_logged(
            {self, "flamegraph", "-i", file("profile.pb.gz"), "-o", file("flamegraph.svg"),
             "--title", fmt::format("{}: {}", o.name, command_line(o.command))},
            log(type));
        if (!fg) return report_error(kCmd, fg.error());
        if (fg->exit_code != 0) return fail(type, "the flame graph could not be drawn");
      } else {
        files = {"profile.pb.gz"};  // a command that never ran on a CPU: nothing to draw
      }
      j["cpu"] = {{"samples", samples},
                  {"lost", profile::lost_samples(*p)},
                  {"top_functions", top_functions(*p, 5)}};
    } else if (type == "memory") {
      if (!path_exists(file("heap.pb.gz"))) return fail(type, "no heap profile was written");
      auto p = profile::read_pprof(file("heap.pb.gz"));
      if (!p) return report_error(kCmd, p.error());
      j["memory"] = heap_numbers(*p);
    } else {
      if (!path_exists(file("syscalls.json"))) return fail(type, "no syscall summary was written");
      auto text = read_text_file(file("syscalls.json"));
      if (!text) return report_error(kCmd, text.error());
      const auto s = json::parse(*text, nullptr, false);
      if (s.is_discarded()) return fail(type, "syscalls.json is not JSON");
      json top = json::array();
      for (const auto& r : s.at("rows")) {
        if (top.size() == 5) break;
        top.push_back({{"syscall", r.at("syscall")},
                       {"calls", r.at("calls")},
                       {"errors", r.at("errors")},
                       {"seconds", r.at("seconds")}});
      }
      j["io"] = {{"calls", s.at("total").at("calls")},
                 {"errors", s.at("total").at("errors")},
                 {"seconds", s.at("total").at("seconds")},
                 {"time", s.at("time")},
                 {"backend", s.at("backend")},
                 {"top_syscalls", top}};
    }
    files.push_back("logs/" + type + ".log");
    j["runs"][type] = {
        {"seconds", step->seconds}, {"exit_code", step->exit_code}, {"files", files}};
  }
  for (std::size_t i = 0; i < std::size(kStopSignals); ++i)
    ::sigaction(kStopSignals[i], &old_actions[i], nullptr);
  const int stop_signal = g_interrupted;
  if (stop_signal != 0) j["interrupted"] = true;  // also when the last run was the one cut short

  if (auto st = write_file(file("summary.json"), j.dump(2) + "\n"); !st)
    return report_error(kCmd, st.error());
  if (auto st = write_file(file("summary.md"), summary_markdown(j)); !st)
    return report_error(kCmd, st.error());

  // Into place: an older run of the same name is replaced only now.
  const std::string old =
      (fs::path(o.results) / fmt::format(".{}.old-{}", o.name, ::getpid())).string();
  const bool had_old = fs::exists(final_dir);
  if (had_old) fs::rename(final_dir, old, ec);
  if (!ec) {
    fs::rename(stage, final_dir, ec);
    if (ec && had_old) {
      std::error_code restore;
      fs::rename(old, final_dir, restore);  // the older results stay where they were
    }
  }
  if (ec) {
    return report_error(kCmd,
                        Error{fmt::format("move the results into {}", final_dir), ec.value(), ""});
  }
  cleanup.keep = true;
  if (had_old) fs::remove_all(old, ec);
  fmt::print(
      stderr, "perfscope scenario {}: results in {}/ (summary.md){}\n", o.name, final_dir,
      stop_signal != 0 ? fmt::format("; interrupted by SIG{}", sigabbrev_np(stop_signal)) : "");
  return stop_signal != 0 ? 128 + stop_signal : 0;
}

// --- scenario diff ------------------------------------------------------------------------------

Result<std::string> scenario_dir(const ScenarioOptions& o, const std::string& name) {
  for (const std::string& candidate : {(fs::path(o.results) / name).string(), name}) {
    if (path_exists(candidate + "/summary.json")) return candidate;
  }
  return Error{fmt::format("no scenario '{}' (looked for {}/{}/summary.json and {}/summary.json)",
                           name, o.results, name, name),
               0, "  run it first: perfscope scenario " + name + " -- CMD"};
}

Result<json> read_summary(const std::string& dir) {
  auto text = read_text_file(dir + "/summary.json");
  if (!text) return text.error();
  auto j = json::parse(*text, nullptr, false);
  if (j.is_discarded()) {
    return Error{dir + "/summary.json is not JSON", 0, "  run the scenario again"};
  }
  return j;
}

std::string signed_percent(double v) {
  return fmt::format("{:+.1f}", v);
}

int run_diff(const ScenarioOptions& o) {
  if (o.command.size() != 2) {
    return report_error(kCmd, Error{"scenario diff compares two scenarios", 0,
                                    "  perfscope scenario diff BEFORE AFTER"});
  }
  auto a_dir = scenario_dir(o, o.command[0]);
  if (!a_dir) return report_error(kCmd, a_dir.error());
  auto b_dir = scenario_dir(o, o.command[1]);
  if (!b_dir) return report_error(kCmd, b_dir.error());
  auto a = read_summary(*a_dir);
  if (!a) return report_error(kCmd, a.error());
  auto b = read_summary(*b_dir);
  if (!b) return report_error(kCmd, b.error());
  const std::string a_name = a->at("name"), b_name = b->at("name");
  const std::string out_dir =
      o.output.empty() ? (fs::path(o.results) / fmt::format("diff-{}-{}", a_name, b_name)).string()
                       : o.output;
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) return report_error(kCmd, Error{"create " + out_dir, ec.value(), ""});

  std::string md =
      fmt::format("# {} → {}\n\n`{}` → `{}`\n\n", a_name, b_name,
                  a->at("command").get<std::string>(), b->at("command").get<std::string>());
  md += "| run | " + a_name + " | " + b_name + " | change |\n|---|---|---|---|\n";
  for (const char* type : {"bare", "cpu", "memory", "io"}) {
    if (!a->at("runs").contains(type) || !b->at("runs").contains(type)) continue;
    const double x = a->at("runs").at(type).at("seconds"), y = b->at("runs").at(type).at("seconds");
    md += fmt::format("| {} wall time | {} | {} | {} |\n", type, format_seconds(x),
                      format_seconds(y), x > 0 ? fmt::format("{:+.1f}%", 100.0 * (y - x) / x) : "");
  }
  if (a->contains("memory") && b->contains("memory") && a->at("memory").contains("peak_bytes") &&
      b->at("memory").contains("peak_bytes")) {
    const auto x = a->at("memory").at("peak_bytes").get<std::uint64_t>();
    const auto y = b->at("memory").at("peak_bytes").get<std::uint64_t>();
    md += fmt::format(
        "| peak heap | {} | {} | {} |\n", heap::format_size(x), heap::format_size(y),
        x > 0 ? fmt::format("{:+.1f}%", 100.0 * (static_cast<double>(y) - static_cast<double>(x)) /
                                            static_cast<double>(x))
              : "");
  }
  if (a->contains("io") && b->contains("io")) {
    const auto x = a->at("io").at("calls").get<std::uint64_t>();
    const auto y = b->at("io").at("calls").get<std::uint64_t>();
    md += fmt::format("| system calls | {} | {} | {:+} |\n", x, y,
                      static_cast<std::int64_t>(y) - static_cast<std::int64_t>(x));
  }

  const std::string a_prof = *a_dir + "/profile.pb.gz", b_prof = *b_dir + "/profile.pb.gz";
  if (path_exists(a_prof) && path_exists(b_prof)) {
    auto pa = profile::read_pprof(a_prof);
    if (!pa) return report_error(kCmd, pa.error());
    auto pb = profile::read_pprof(b_prof);
    if (!pb) return report_error(kCmd, pb.error());
    // Self and total share per function in each, then the largest moves of either.
    struct Share {
      double self = 0, total = 0;
    };
    const auto shares = [](const profile::Profile& p) {
      std::map<std::string, Share> out;
      auto hot = profile::hottest(p, {});
      if (!hot || hot->total <= 0) return out;
      const auto all = static_cast<double>(hot->total);
      for (const auto& e : hot->entries) {
        out[e.name] = {100.0 * static_cast<double>(e.self) / all,
                       100.0 * static_cast<double>(e.total) / all};
      }
      return out;
    };
    auto sa = shares(*pa), sb = shares(*pb);
    std::vector<std::pair<double, std::string>> moves;
    std::map<std::string, bool> names;
    for (const auto& [n, v] : sa) names[n] = true;
    for (const auto& [n, v] : sb) names[n] = true;
    for (const auto& [n, unused] : names) {
      const double ds = sb[n].self - sa[n].self, dt = sb[n].total - sa[n].total;
      moves.emplace_back(std::fabs(ds) > std::fabs(dt) ? ds : dt, n);
    }
    std::stable_sort(moves.begin(), moves.end(), [](const auto& l, const auto& r) {
      return std::fabs(l.first) > std::fabs(r.first);
    });
    md += fmt::format(
        "\n## CPU: functions whose share changed most\n\n| function | self {0} | self {1} | "
        "total {0} | total {1} | change (points) |\n|---|---|---|---|---|---|\n",
        a_name, b_name);
    for (std::size_t i = 0; i < moves.size() && i < 10; ++i) {
      const auto& [d, n] = moves[i];
      if (std::fabs(d) < 0.05) break;
      md += fmt::format("| `{}` | {:.1f}% | {:.1f}% | {:.1f}% | {:.1f}% | {} |\n", n, sa[n].self,
                        sb[n].self, sa[n].total, sb[n].total, signed_percent(d));
    }
    md += "\nDifferential flame graph: [diff.svg](diff.svg) (red: more in " + b_name +
          ", blue: less; the baseline is scaled to the same total).\n";
    const std::string self = read_link("/proc/self/exe");
    const std::string log = (fs::path(out_dir) / "flamegraph.log").string();
    auto fg = run_logged({self, "flamegraph", "-i", b_prof, "--diff", a_prof, "--normalize", "-o",
                          (fs::path(out_dir) / "diff.svg").string(), "--title",
                          fmt::format("{} → {}", a_name, b_name)},
                         log);
    if (!fg) return report_error(kCmd, fg.error());
    if (fg->exit_code != 0) {
      return report_error(kCmd, Error{"the differential flame graph could not be drawn", 0,
                                      "  " + log + ":\n" + tail_of(log, 8)});
    }
    fs::remove(log, ec);
  } else {
    md += "\nNo CPU profile in both scenarios: no differential flame graph.\n";
  }
  if (auto st = write_file((fs::path(out_dir) / "diff.md").string(), md); !st)
    return report_error(kCmd, st.error());
  fmt::print("{}", md);
  fmt::print(stderr, "perfscope scenario diff: {}/diff.md{}\n", out_dir,
             path_exists(out_dir + "/diff.svg") ? ", diff.svg" : "");
  return 0;
}

}  // namespace

void add_scenario_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<ScenarioOptions>();
  auto* c = app.add_subcommand(
      "scenario",
      "Profile one command for CPU, memory and I/O in one go and file the results in "
      "DIR/NAME/ with a summary; `scenario diff A B` compares two scenarios");
  c->add_option("name", o->name, "Scenario name (a folder under --results), or diff")->required();
  c->add_option("command", o->command, "Command to run (after --); for diff: the two scenarios");
  c->add_option("--type", o->types, "Profiles to make: cpu, memory, io (comma-separated) or all")
      ->capture_default_str();
  c->add_option("-F,--freq", o->freq, "CPU sampling frequency, Hz")->capture_default_str();
  c->add_option("--results", o->results, "Folder the scenario folders go in")
      ->capture_default_str();
  c->add_option("-o,--output", o->output,
                "diff only: folder for diff.md and diff.svg (default: RESULTS/diff-A-B)");
  c->footer(
      "Files (in RESULTS/NAME/): flamegraph.svg, profile.pb.gz (cpu); heap.txt, heap.svg,\n"
      "heap-timeline.svg, heap.pb.gz (memory); syscalls.txt, syscalls.json (io); summary.md and\n"
      "summary.json; logs/ with each run's output. The command runs once bare and once per type.\n"
      "Examples:\n"
      "  perfscope scenario baseline -- ./myprogram --input data.txt\n"
      "  perfscope scenario optimized --type cpu,io -F 499 -- ./myprogram-new --input data.txt\n"
      "  perfscope scenario diff baseline optimized");
  c->callback([o, &exit_code] { exit_code = o->name == "diff" ? run_diff(*o) : run_scenario(*o); });
}

}  // namespace perfscope::cli
