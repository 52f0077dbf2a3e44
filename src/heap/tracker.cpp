#include "heap/tracker.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <utility>

#include <fmt/format.h>

#include "core/clock.hpp"
#include "core/files.hpp"
#include "core/unique_fd.hpp"
#include "preload/heap_wire.hpp"
#include "process/workload.hpp"
#include "symbols/symbolizer.hpp"
#include "system/binary_check.hpp"

namespace perfscope::heap {
namespace {

// The child's copy of the pipe's write end is numbered at least this high, so the descriptors a
// program opens for itself do not collide with it.
constexpr int kChildFdFloor = 200;
// After the command exited, how long processes it left behind may keep the pipe silent before
// the run ends without them.
constexpr std::uint64_t kLingerNs = 1'000'000'000;

Result<std::string> find_preload() {
  if (const char* env = std::getenv("PERFSCOPE_HEAP_LIB"); env != nullptr && *env != '\0') {
    if (::access(env, R_OK) == 0) return std::string(env);
    return Error{fmt::format("PERFSCOPE_HEAP_LIB={} cannot be read", env), errno,
                 "  point it at libperfscope-heap.so, or unset it"};
  }
  const std::string exe = read_link("/proc/self/exe");
  const std::string dir = exe.substr(0, exe.rfind('/'));
  for (const std::string& candidate :
       {dir + "/libperfscope-heap.so", dir + "/../lib/perfscope/libperfscope-heap.so"}) {
    if (::access(candidate.c_str(), R_OK) == 0) return candidate;
  }
  return Error{fmt::format("libperfscope-heap.so not found beside {}", exe), 0,
               "  build it (cmake --build build builds it next to perfscope), or set "
               "PERFSCOPE_HEAP_LIB=/path/to/libperfscope-heap.so"};
}

// The mode the preload gets, and the line that says why.
std::pair<Unwind, std::string> choose_unwind(Unwind asked, const std::string& program) {
  if (asked == Unwind::frame_pointers) return {asked, "frame pointers (asked)"};
  if (asked == Unwind::dwarf) return {asked, "DWARF (asked)"};
  const auto judged = system::judge_frame_pointers(program, program);
  return {judged.keeps_frame_pointers ? Unwind::frame_pointers : Unwind::dwarf,
          "auto: " + judged.why};
}

}  // namespace

Result<Unwind> parse_unwind(const std::string& text) {
  if (text == "auto") return Unwind::automatic;
  if (text == "fp") return Unwind::frame_pointers;
  if (text == "dwarf") return Unwind::dwarf;
  return Error{fmt::format("unknown --unwind '{}'", text), 0,
               "  choose auto, fp (frame pointers) or dwarf"};
}

struct Tracker::Session {
  TrackOptions options;
  std::string stacks;
  std::optional<process::Workload> workload;
  UniqueFd read_end;
  bool ran = false;
};

Tracker::Tracker(Tracker&&) noexcept = default;
Tracker& Tracker::operator=(Tracker&&) noexcept = default;
Tracker::~Tracker() = default;

Result<Tracker> Tracker::open(TrackOptions options) {
  if (options.command.empty()) {
    return Error{"no command to run", 0, "  give one after --: perfscope mem -- ./myprogram ARGS"};
  }
  auto session = std::make_unique<Session>();
  std::string library = options.preload_library;
  if (library.empty()) {
    auto found = find_preload();
    if (!found) return found.error();
    library = std::move(*found);
  } else if (::access(library.c_str(), R_OK) != 0) {
    return errno_error("cannot read the heap preload " + library,
                       "  point TrackOptions::preload_library at libperfscope-heap.so");
  }
  const auto [unwind, stacks] = choose_unwind(options.unwind, options.command.front());
  session->stacks = stacks;

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return errno_error("pipe2");
  session->read_end.reset(fds[0]);
  UniqueFd cloexec_write(fds[1]);
  // A bigger pipe lets the program run ahead of us (1 MiB is what an unprivileged user may ask).
  ::fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);
  // The command's copy: not close-on-exec, so the program (and what it execs) inherits it.
  UniqueFd write_end(::fcntl(fds[1], F_DUPFD, kChildFdFloor));
  if (!write_end) return errno_error("fcntl(F_DUPFD)");
  cloexec_write.reset();
  struct stat st {};
  if (::fstat(write_end.get(), &st) != 0) return errno_error("fstat(pipe)");

  // LD_PRELOAD keeps what the user had, after ours.
  std::string preload = library;
  if (const char* old = std::getenv("LD_PRELOAD"); old != nullptr && *old != '\0') {
    preload += ':';
    preload += old;
  }
  process::WorkloadOptions run_options;
  run_options.environment = {
      {"LD_PRELOAD", preload},
      {heap_wire::kEnvFd, fmt::format("{}:{}", write_end.get(), st.st_ino)},
      {heap_wire::kEnvUnwind, unwind == Unwind::dwarf ? "dwarf" : "fp"},
  };
  auto workload = process::Workload::prepare(options.command, run_options);
  if (!workload) return workload.error();
  session->workload.emplace(std::move(*workload));
  // From now on only the traced processes hold the write end: the stream ends when they are gone.
  write_end.reset();
  session->options = std::move(options);
  Tracker t;
  t.session_ = std::move(session);
  return t;
}

const std::string& Tracker::stacks() const {
  return session_->stacks;
}

pid_t Tracker::pid() const {
  return session_->workload->pid();
}

namespace {

// Reads the stream while watching the stop request and the command's exit, one wait at a time.
class StreamReader {
 public:
  StreamReader(process::Workload& command, int read_end, const StopSource& stop,
               HeapAnalysis& analysis)
      : command_(command), read_end_(read_end), stop_(stop), analysis_(analysis) {
    // Readable once the command has exited (Linux 5.3+); without it the exit is polled.
    exit_fd_.reset(static_cast<int>(::syscall(SYS_pidfd_open, command.pid(), 0)));
  }

  // One wait; false when the run is over.
  Result<bool> step() {
    const bool exited = command_.exited();
    pollfd fds[3] = {{stream_open_ ? read_end_ : -1, POLLIN, 0},
                     {stop_.take ? stop_.fd : -1, POLLIN, 0},
                     {exited ? -1 : exit_fd_.get(), POLLIN, 0}};
    const int r = ::poll(fds, 3, 200);
    if (r < 0 && errno != EINTR) return errno_error("poll");
    if (r > 0 && (fds[1].revents & POLLIN) != 0) on_stop_request();
    bool data = false;
    if (r > 0 && (fds[0].revents & (POLLIN | POLLHUP)) != 0) {
      auto read = read_stream();
      if (!read) return read.error();
      data = *read;
    }
    return keep_going(data);
  }

  std::vector<std::string> notes() const;
  int stop_signal() const { return stop_signal_; }

 private:
  void on_stop_request() {
    const int sig = stop_.take();
    if (sig == 0) return;
    const bool running = !command_.try_reap();
    if (stop_signal_ == 0) {
      stop_signal_ = sig;
      if (!running) return;
      ::kill(command_.pid(), sig);
      kill_at_ns_ = monotonic_ns() + process::Workload::kEndGraceSeconds * 1'000'000'000ULL;
    } else if (running) {
      ::kill(command_.pid(), SIGKILL);  // a second request means now
    }
  }

  // True when events arrived.
  Result<bool> read_stream() {
    const ssize_t n = ::read(read_end_, buffer_.data(), buffer_.size());
    if (n < 0) return errno == EINTR ? Result<bool>(false) : errno_error("read(heap pipe)");
    if (n == 0) {
      stream_open_ = false;  // every traced process is gone
      return false;
    }
    if (auto s = analysis_.feed(std::string_view(buffer_.data(), static_cast<std::size_t>(n))); !s)
      return s.error();
    return true;
  }

  bool keep_going(bool data) {
    const std::uint64_t now = monotonic_ns();
    if (!command_.try_reap()) {
      if (kill_at_ns_ != 0 && now >= kill_at_ns_) {
        ::kill(command_.pid(), SIGKILL);
        killed_ = true;
        kill_at_ns_ = 0;
      }
      return true;
    }
    if (!stream_open_) return false;
    // The command exited but something it started still holds the pipe: a second of silence,
    // then the run ends without it. After a stop request, a second from the command's exit.
    if ((data && stop_signal_ == 0) || quiet_since_ == 0) {
      quiet_since_ = now;
      return true;
    }
    if (now - quiet_since_ <= kLingerNs) return true;
    left_behind_ = true;
    return false;
  }

  process::Workload& command_;
  int read_end_;
  const StopSource& stop_;
  HeapAnalysis& analysis_;
  UniqueFd exit_fd_;
  std::string buffer_ = std::string(1 << 20, '\0');
  bool stream_open_ = true;
  int stop_signal_ = 0;
  std::uint64_t kill_at_ns_ = 0;   // SIGKILL the command then if it still runs (0: never)
  std::uint64_t quiet_since_ = 0;  // after the command exited: the pipe's last data (or the exit)
  bool left_behind_ = false;       // the run ended while other processes still held the pipe
  bool killed_ = false;            // the command outlived the grace period after the request
};

std::vector<std::string> StreamReader::notes() const {
  std::vector<std::string> notes;
  if (stop_signal_ != 0) {
    const char* name = sigabbrev_np(stop_signal_);
    notes.push_back(fmt::format("stopped by {}{}: passed on to {} (pid {})",
                                name != nullptr ? "SIG" : "signal ",
                                name != nullptr ? name : std::to_string(stop_signal_),
                                command_.command_line(), command_.pid()));
  }
  if (killed_) {
    notes.push_back(
        fmt::format("{} (pid {}) was still running {} s after the signal; killed it (SIGKILL)",
                    command_.command_line(), command_.pid(), process::Workload::kEndGraceSeconds));
  }
  if (left_behind_) {
    notes.push_back(
        "processes the command started still held the heap pipe after it exited: their "
        "tracking was cut short a second later");
  }
  return notes;
}

}  // namespace

Result<TrackResult> Tracker::run(const StopSource& stop) {
  Session& s = *session_;
  if (s.ran) return Error{"Tracker::run called twice", 0, {}};
  s.ran = true;
  process::Workload& command = *s.workload;
  HeapAnalysis analysis;
  analysis.set_command_pid(command.pid());
  TrackResult result;
  for (const auto& arg : s.options.command)
    result.info.command_line += (result.info.command_line.empty() ? "" : " ") + arg;
  result.info.time_nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  const std::uint64_t start_ns = monotonic_ns();
  if (auto started = command.start(); !started) return started.error();

  StreamReader reader(command, s.read_end.get(), stop, analysis);
  for (;;) {
    auto more = reader.step();
    if (!more) {
      command.end(SIGKILL);
      return more.error();
    }
    if (!*more) break;
  }
  s.read_end.reset();
  result.info.duration_nanos = static_cast<std::int64_t>(monotonic_ns() - start_ns);
  result.command_status = command.exit_code();
  result.stop_signal = reader.stop_signal();
  result.notes = reader.notes();
  result.stacks = s.stacks;

  result.images = analysis.finish();
  if (result.images.empty()) {
    return Error{fmt::format("{} made no allocation events", s.options.command.front()), 0,
                 "  the program did not load libperfscope-heap.so: it is statically linked, "
                 "setuid, or clears LD_PRELOAD (perfscope mem follows a program only where "
                 "LD_PRELOAD reaches)"};
  }
  symbols::Symbolizer symbolizer;
  result.profile =
      build_heap_profile(result.images, symbolizer, result.info, &result.sample_of_site);
  result.profile.add_comment("stacks: " + result.stacks);
  return result;
}

}  // namespace perfscope::heap
