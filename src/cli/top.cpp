// `perfscope top`: flags in, a recording::Recorder samples with a live client, top::Live keeps the
// model, and this file shows it: ncurses full screen, --batch text or --json lines on stdout.
#include "cli/top.hpp"

#include <curses.h>
#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/flags.hpp"
#include "cli/report_error.hpp"
#include "core/output_file.hpp"
#include "process/signal_watch.hpp"
#include "recording/recorder.hpp"
#include "system/capabilities.hpp"
#include "top/session.hpp"
#include "top/view.hpp"

namespace perfscope::cli {
namespace {

constexpr const char* kCmd = "top";

struct TopFlags {
  recording::RecordOptions options;
  bool all_cpus = false;
  bool call_graph_flag = false;  // -g: call chains, the default anyway
  std::string call_graph = "fp";
  std::string backend = "auto";
  double delay_s = 1;
  std::uint64_t iterations = 0;
  bool batch = false;
  bool json = false;
  std::string save;
  std::string view = "functions";
  std::string sort = "self";
  std::size_t rows = 20;
  top::Limits limits;
  std::uint64_t memory_mb = 512;
  std::vector<std::string> command;
};

// ncurses for the lifetime of the interactive view; endwin() however the view ends.
class Terminal {
 public:
  Terminal() {
    initscr();
    cbreak();
    noecho();
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);
    curs_set(0);
  }
  ~Terminal() { endwin(); }
  Terminal(const Terminal&) = delete;
  Terminal& operator=(const Terminal&) = delete;

  void paint(const top::Screen& s) {
    erase();
    for (std::size_t i = 0; i < s.lines.size(); ++i) {
      const int y = static_cast<int>(i);
      const attr_t attr = y == s.header     ? A_REVERSE
                          : y == s.selected ? A_STANDOUT
                          : y >= s.help     ? A_BOLD
                                            : A_NORMAL;
      if (attr != A_NORMAL) attron(attr);
      mvaddnstr(y, 0, s.lines[i].c_str(), COLS);
      if (attr != A_NORMAL) attroff(attr);
    }
    refresh();
  }
};

class TopRun {
 public:
  TopRun(TopFlags& f, top::LiveInfo info, const top::Query& q) : f_(f), live_(std::move(info)) {
    ui_.query = q;
    if (!f.batch && !f.json) terminal_ = std::make_unique<Terminal>();
  }

  bool on_refresh(sampling::Collector& collector) {
    if (!ui_.paused) live_.refresh(collector);
    ++refreshes_;
    if (f_.json) {
      fmt::print("{}\n", top::json_line(live_.status(query(f_.rows)), ui_.query, rows(f_.rows)));
      std::fflush(stdout);
    } else if (f_.batch) {
      for (const auto& line :
           top::batch_lines(live_.status(query(f_.rows)), ui_.query, rows(f_.rows))) {
        fmt::print("{}\n", line);
      }
      std::fflush(stdout);
    } else {
      draw();
    }
    return f_.iterations == 0 || refreshes_ < f_.iterations;
  }

  bool on_input() {
    for (int ch = getch(); ch != ERR; ch = getch()) {
      if (ch == KEY_RESIZE) {
        draw();
        continue;
      }
      const int key = ch == KEY_UP      ? top::kKeyUp
                      : ch == KEY_DOWN  ? top::kKeyDown
                      : ch == KEY_ENTER ? top::kKeyEnter
                                        : ch;
      ui_.message.clear();
      switch (top::handle_key(ui_, key, shown_)) {
        case top::KeyAction::quit:
          return false;
        case top::KeyAction::save:
          save(f_.save.empty() ? std::string("perfscope-top.pb.gz") : f_.save);
          [[fallthrough]];
        case top::KeyAction::redraw:
          draw();
          break;
        case top::KeyAction::none:
          break;
      }
    }
    return true;
  }

  // Writes the current window; false (and a message) when it cannot.
  bool save(const std::string& path) {
    if (!live_.ready()) {
      ui_.message = "nothing to save before the first refresh";
      return false;
    }
    auto st = profile::write_pprof(live_.model().window_profile(ui_.query.zoom_pid), path);
    ui_.message = st ? fmt::format("saved the window to {}", path)
                     : fmt::format("cannot save: {}", st.error().message());
    if (terminal_ == nullptr) fmt::print(stderr, "perfscope top: {}\n", ui_.message);
    return static_cast<bool>(st);
  }

  void end_terminal() { terminal_.reset(); }

 private:
  top::Query query(std::size_t limit) const {
    top::Query q = ui_.query;
    q.limit = limit;
    return q;
  }
  std::vector<top::Row> rows(std::size_t limit) const {
    return live_.ready() ? live_.model().rows(query(limit)) : std::vector<top::Row>{};
  }
  void draw() {
    if (!terminal_) return;
    shown_ = rows(static_cast<std::size_t>(std::max(LINES, 1)));
    if (ui_.selected >= shown_.size()) ui_.selected = shown_.empty() ? 0 : shown_.size() - 1;
    terminal_->paint(top::screen(live_.status(ui_.query), ui_, shown_, COLS, LINES));
  }

  TopFlags& f_;
  top::Live live_;
  top::UiState ui_;
  std::vector<top::Row> shown_;
  std::uint64_t refreshes_ = 0;
  std::unique_ptr<Terminal> terminal_;
};

std::string subject_of(const TopFlags& f) {
  if (!f.command.empty()) return fmt::format("'{}'", fmt::join(f.command, " "));
  if (!f.options.target.pids.empty()) return "process " + f.options.target.pids;
  if (!f.options.cpus.empty()) return "CPUs " + f.options.cpus;
  return "system wide";
}

int run_top(TopFlags& f) {
  recording::RecordOptions& o = f.options;
  const auto view = top::parse_view(f.view);
  if (!view) {
    return report_error(kCmd, Error{fmt::format("unknown view '{}'", f.view), 0,
                                    "  use --view functions, modules, processes or threads"});
  }
  const auto sort = top::parse_sort(f.sort);
  if (!sort) {
    return report_error(kCmd, Error{fmt::format("unknown sort key '{}'", f.sort), 0,
                                    "  use --sort self, total, average or name"});
  }
  auto graph = recording::parse_call_graph(f.call_graph);
  if (!graph) return report_error(kCmd, graph.error());
  if (graph->mode == recording::CallGraphMode::dwarf ||
      graph->mode == recording::CallGraphMode::automatic) {
    return report_error(kCmd, Error{"top takes --call-graph fp, cfi or none", 0,
                                    "  DWARF stacks are unwound on a thread of their own, which a "
                                    "live view cannot read while it runs"});
  }
  o.call_graph = *graph;
  auto backend = recording::parse_backend(f.backend);
  if (!backend) return report_error(kCmd, backend.error());
  o.backend = *backend;
  o.target.command = f.command;
  o.target.system_wide_during_command = !f.command.empty() && (f.all_cpus || !o.cpus.empty());
  if (f.all_cpus && !o.target.pids.empty()) {
    return report_error(kCmd,
                        Error{"choose one target", 0,
                              "  -a (every CPU), -C CPUS, -p PID or -- COMMAND, not several"});
  }
  if (!f.batch && !f.json && (::isatty(STDIN_FILENO) == 0 || ::isatty(STDOUT_FILENO) == 0)) {
    return report_error(kCmd, Error{"the full-screen view needs a terminal", 0,
                                    "  use --batch (text) or --json for a pipe or a file"});
  }
  if (!f.save.empty()) {
    if (auto st = check_writable(f.save); !st) return report_error(kCmd, st.error());
  }

  f.limits.memory_bytes = f.memory_mb << 20;
  // Every refresh frees what the last one made: let malloc keep it rather than hand it back to
  // the kernel and fault it in again (page faults were a tenth of top's CPU). The model returns
  // memory itself with malloc_trim when it is over --memory-limit.
  ::mallopt(M_TRIM_THRESHOLD, 64 << 20);
  ::mallopt(M_MMAP_THRESHOLD, 32 << 20);
  auto signals = process::SignalWatch::create();
  if (!signals) return report_error(kCmd, signals.error());
  auto recorder = recording::Recorder::open(o, system::Capabilities::current());
  if (!recorder) return report_error(kCmd, recorder.error());
  for (const auto& note : recorder->notes()) fmt::print(stderr, "perfscope top: {}\n", note);
  if (f.batch || f.json) {
    fmt::print(stderr, "perfscope top: {}, {} at {} Hz, {}; a refresh every {} s{}\n",
               subject_of(f), o.event, o.frequency, recorder->backend_name(), f.delay_s,
               f.iterations > 0 ? fmt::format(", {} refreshes", f.iterations) : " until Ctrl-C");
  }

  top::Query q;
  q.view = *view;
  q.sort = *sort;
  TopRun top(
      f, top::LiveInfo{o.event, o.frequency, recorder->backend_name(), subject_of(f), f.limits}, q);
  recording::LiveClient live;
  live.refresh_s = f.delay_s;
  live.on_refresh = [&top](sampling::Collector& c) { return top.on_refresh(c); };
  if (!f.batch && !f.json) {
    live.input_fd = STDIN_FILENO;
    live.on_input = [&top] { return top.on_input(); };
  }
  auto result = recorder->run(signals->stop_source(), live);
  top.end_terminal();
  if (!result) return report_error(kCmd, result.error());
  for (const auto& note : result->notes) fmt::print(stderr, "perfscope top: {}\n", note);
  if (!f.save.empty() && (f.batch || f.json) && !top.save(f.save)) return 1;
  for (const auto& line : result->backend.loss_lines) fmt::print(stderr, "  {}\n", line);
  // Ctrl-C is how top ends: not a failure. Another signal is passed on in the status.
  if (result->stop_signal != 0 && result->stop_signal != SIGINT) {
    return 128 + result->stop_signal;
  }
  return 0;
}

}  // namespace

void add_top_command(CLI::App& app, int& exit_code) {
  auto f = std::make_shared<TopFlags>();
  recording::RecordOptions* o = &f->options;
  auto* c = app.add_subcommand(
      "top",
      "A live view of the hottest functions (like perf top): eBPF counts drained every refresh\n"
      "(perf ring buffers where eBPF cannot run), each address symbolized once.");
  c->add_flag("-a,--all-cpus", f->all_cpus, "Every process on every CPU (the default)");
  c->add_option("-p,--pid", o->target.pids, "These processes (comma list), with their threads")
      ->check(non_empty_target());
  c->add_option("-C,--cpu", o->cpus, "Only these CPUs (e.g. 0-3,7)")->check(non_empty_target());
  c->add_option("-F,-f,--freq", o->frequency, "Sampling frequency in Hz, per CPU")
      ->capture_default_str();
  c->add_option("-d,--delay", f->delay_s, "Seconds between refreshes (the window's length)")
      ->check(positive_seconds())
      ->capture_default_str();
  c->add_option("-e,--event", o->event, "Event that drives sampling")->capture_default_str();
  c->add_flag("-g", f->call_graph_flag, "Call chains (the default: total shares and callers)");
  c->add_option("--call-graph", f->call_graph,
                "fp (frame pointers), cfi (eBPF: .eh_frame walked in the kernel) or none")
      ->capture_default_str();
  c->add_option("--backend", f->backend, "auto, bpf or perf")->capture_default_str();
  c->add_flag("--batch", f->batch, "Plain text refreshes on standard output (like top -b)");
  c->add_flag("--json", f->json, "One JSON object per refresh, one per line, on standard output");
  c->add_option("-n,--iterations", f->iterations, "Refreshes, then exit (default: until q/Ctrl-C)")
      ->check(CLI::PositiveNumber);
  c->add_option("--rows", f->rows, "--batch/--json: rows per refresh")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  c->add_option("--view", f->view, "functions, modules, processes or threads")
      ->capture_default_str();
  c->add_option("--sort", f->sort, "self, total, average or name")->capture_default_str();
  c->add_option("--save", f->save,
                "Write the last window as a pprof profile here (at exit with --batch/--json; "
                "the `s` key's file, default perfscope-top.pb.gz)");
  c->add_option("--half-life", f->limits.half_life_s,
                "Seconds over which AVG% halves; a stack unseen for ~7 half-lives is forgotten")
      ->check(positive_seconds())
      ->capture_default_str();
  c->add_option("--max-stacks", f->limits.max_stacks,
                "Distinct stacks kept in memory at most (the least sampled are forgotten first)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 30))
      ->capture_default_str();
  c->add_option("--memory-limit", f->memory_mb,
                "Resident MB past which symbol caches, then stacks outside the window, are dropped")
      ->check(CLI::Range(16, 1 << 20))
      ->capture_default_str();
  c->add_flag("--inline", f->limits.inline_frames,
              "Inline frames (from DWARF) as functions of their own: dearer on new addresses");
  c->add_flag("--no-idle", o->no_idle, "Leave out samples of idle CPUs");
  c->add_option("command", f->command, "Command to run and watch (after --)");
  c->footer(fmt::format(
      "Keys: {}\n"
      "Columns: SELF% (leaf samples) and TOTAL% (anywhere in the stack) of the last window; AVG%\n"
      "  the self share decayed with a --half-life (default {:.0f} s). The status line shows "
      "perfscope's own\n  CPU and resident memory.\n"
      "Examples:\n"
      "  perfscope top                          every CPU, full screen\n"
      "  perfscope top --batch -n 3 -d 2        three 2-second refreshes as text\n"
      "  perfscope top -p 1234 --json -n 5      five JSON lines about one process\n"
      "  perfscope top -- ./app                 a command, until it exits",
      top::help_line(), top::kHalfLifeSeconds));
  c->callback([f, &exit_code] { exit_code = run_top(*f); });
}

}  // namespace perfscope::cli
