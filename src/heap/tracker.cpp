#include "heap/tracker.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <utility>

#include <fmt/format.h>

#include "core/clock.hpp"
#include "core/files.hpp"
#include "core/unique_fd.hpp"
#include "heap/inject.hpp"
#include "preload/heap_wire.hpp"
#include "process/workload.hpp"
#include "symbols/symbolizer.hpp"
#include "system/binary_check.hpp"

namespace perfscope::heap {
namespace {

// The child's copy of the socket's write end is numbered at least this high, so the descriptors a
// program opens for itself do not collide with it.
constexpr int kChildFdFloor = 200;
// After the command exited, how long processes it left behind may keep the socket silent before
// the run ends without them.
constexpr std::uint64_t kLingerNs = 1'000'000'000;
// A read of at least a full packet and less than this many bytes is followed by a pause of
// kGatherNs (see read_stream).
constexpr std::size_t kGatherBelow = 256 * 1024;
constexpr long kGatherNs = 1'000'000;

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
  std::string library;
  Unwind unwind = Unwind::frame_pointers;
  std::string stacks;
  std::optional<process::Workload> workload;
  UniqueFd read_end;
  bool ran = false;
  // Attached: the named pipe the tracker opens (in a private directory), and our own write end,
  // which keeps reads from seeing an end of file until the tracker has opened its own.
  std::string fifo_dir, fifo;
  UniqueFd hold_open;
  // The reader pauses after a busy read that found less than this waiting (see read_stream).
  std::size_t gather_below = 0;

  ~Session() {
    if (!fifo.empty()) ::unlink(fifo.c_str());
    if (!fifo_dir.empty()) ::rmdir(fifo_dir.c_str());
  }
};

namespace {

// The named pipe of an attached run, readable by the process's user (it opens it itself).
Status make_fifo(Tracker::Session& s, pid_t pid) {
  char dir[] = "/tmp/perfscope-mem-XXXXXX";
  if (::mkdtemp(dir) == nullptr) return errno_error("mkdtemp /tmp/perfscope-mem-XXXXXX");
  s.fifo_dir = dir;
  s.fifo = s.fifo_dir + "/events";
  if (::mkfifo(s.fifo.c_str(), 0600) != 0) return errno_error("mkfifo " + s.fifo);
  struct stat st {};
  if (::stat(fmt::format("/proc/{}", pid).c_str(), &st) != 0) {
    return errno_error(fmt::format("no process {}", pid), "  check the pid (ps -e)");
  }
  if (st.st_uid != ::geteuid()) {
    // root attaching to another user's process: the process must be able to reach and open it.
    if (::chown(s.fifo_dir.c_str(), st.st_uid, st.st_gid) != 0 ||
        ::chown(s.fifo.c_str(), st.st_uid, st.st_gid) != 0) {
      return errno_error("chown " + s.fifo);
    }
  }
  s.read_end.reset(::open(s.fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!s.read_end) return errno_error("open " + s.fifo);
  s.hold_open.reset(::open(s.fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
  if (!s.hold_open) return errno_error("open " + s.fifo);
  ::fcntl(s.read_end.get(), F_SETPIPE_SZ, 1 << 20);
  return {};
}

}  // namespace

Tracker::Tracker(Tracker&&) noexcept = default;
Tracker& Tracker::operator=(Tracker&&) noexcept = default;
Tracker::~Tracker() = default;

Result<Tracker> Tracker::open(TrackOptions options) {
  if (options.attach_pid != 0 && !options.command.empty()) {
    return Error{"give a command or a process to attach to, not both", 0,
                 "  perfscope mem -p PID, or perfscope mem -- CMD ARGS"};
  }
  if (options.command.empty() && options.attach_pid == 0) {
    return Error{"no command to run", 0, "  give one after --: perfscope mem -- ./myprogram ARGS"};
  }
  // The process first: whether perfscope may attach matters more than where its library is.
  if (options.attach_pid != 0) {
    if (auto s = check_can_trace(options.attach_pid); !s) return s.error();
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
  session->library = library;
  if (options.attach_pid != 0) {
    session->options = std::move(options);
    return open_attached(std::move(session));
  }
  const auto [unwind, stacks] = choose_unwind(options.unwind, options.command.front());
  session->stacks = stacks;

  // A unix stream socket rather than a pipe: the preload's send(MSG_NOSIGNAL) cannot raise
  // SIGPIPE, where a pipe write needs SIGPIPE blocked around it (two more system calls a packet).
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    return errno_error("socketpair");
  }
  session->read_end.reset(fds[0]);
  UniqueFd cloexec_write(fds[1]);
  ::shutdown(fds[0], SHUT_WR);
  ::shutdown(fds[1], SHUT_RD);
  // A bigger buffer lets the program run ahead of us: the kernel grants twice what is asked (for
  // its bookkeeping) up to twice net.core.wmem_max (212,992 bytes by default: 416 KiB). A read
  // pause is taken only while well under what it granted.
  const int sndbuf = 1 << 20;
  ::setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
  int granted = 0;
  socklen_t granted_len = sizeof(granted);
  if (::getsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &granted, &granted_len) == 0 && granted > 0) {
    session->gather_below = std::min(kGatherBelow, static_cast<std::size_t>(granted) / 8 * 5);
  }
  // The command's copy: not close-on-exec, so the program (and what it execs) inherits it.
  UniqueFd write_end(::fcntl(fds[1], F_DUPFD, kChildFdFloor));
  if (!write_end) return errno_error("fcntl(F_DUPFD)");
  cloexec_write.reset();
  struct stat st {};
  if (::fstat(write_end.get(), &st) != 0) return errno_error("fstat(socket)");

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
  return session_->workload ? session_->workload->pid() : session_->options.attach_pid;
}

Result<Tracker> Tracker::open_attached(std::unique_ptr<Session> session) {
  const pid_t pid = session->options.attach_pid;
  const std::string exe = read_link(fmt::format("/proc/{}/exe", pid));
  const auto [unwind, stacks] = choose_unwind(session->options.unwind, exe);
  session->unwind = unwind;
  session->stacks = stacks;
  if (auto s = make_fifo(*session, pid); !s) return s.error();
  Tracker t;
  t.session_ = std::move(session);
  return t;
}

namespace {

// Reads the stream while watching the stop request and the command's exit, one wait at a time.
class StreamReader {
 public:
  StreamReader(process::Workload& command, int read_end, const StopSource& stop,
               HeapAnalysis& analysis, std::size_t gather_below)
      : command_(command),
        read_end_(read_end),
        stop_(stop),
        analysis_(analysis),
        gather_below_(gather_below) {
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
    if (n < 0) return errno == EINTR ? Result<bool>(false) : errno_error("read(heap socket)");
    if (n == 0) {
      stream_open_ = false;  // every traced process is gone
      return false;
    }
    if (auto s = analysis_.feed(std::string_view(buffer_.data(), static_cast<std::size_t>(n))); !s)
      return s.error();
    // Busy, but little was waiting: let packets gather before the next read. A reader that waits
    // in poll is woken by every packet (16 KiB), a wakeup and a context switch each, paid by the
    // program that sends and by us. gather_below_ (256 KiB, at most 5/8 of the socket's buffer)
    // leaves 3/8 of it, 160 KiB of the usual 416 KiB, for the pause's 1 ms: 100 KB at 100 MB/s,
    // so the program rarely blocks on a full socket. Less than a full packet means a quiet
    // stream (or a process at exit, waiting for its scan): no pause then.
    if (static_cast<std::size_t>(n) >= heap_wire::kMaxPacketBytes &&
        static_cast<std::size_t>(n) < gather_below_) {
      const timespec gather{0, kGatherNs};
      ::nanosleep(&gather, nullptr);
    }
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
    // The command exited but something it started still holds the socket: a second of silence,
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
  std::size_t gather_below_;  // 0: never pause (attached: the FIFO's small packets)
  UniqueFd exit_fd_;
  std::string buffer_ = std::string(1 << 20, '\0');
  bool stream_open_ = true;
  int stop_signal_ = 0;
  std::uint64_t kill_at_ns_ = 0;   // SIGKILL the command then if it still runs (0: never)
  std::uint64_t quiet_since_ = 0;  // after the command exited: the socket's last data (or the exit)
  bool left_behind_ = false;       // the run ended while other processes still held the socket
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
        "processes the command started still held the heap socket after it exited: their "
        "tracking was cut short a second later");
  }
  return notes;
}

}  // namespace

namespace {

// Loads the tracker into the stopped process and starts it; the address of its detach function.
Result<std::uint64_t> load_tracker(RemoteThread& t, pid_t pid, const Tracker::Session& s) {
  std::uint64_t fn[3];
  const char* names[3] = {"dlopen", "dlsym", "dlerror"};
  for (int i = 0; i < 3; ++i) {
    auto at = libc_symbol(pid, names[i]);
    if (!at) return at.error();
    fn[i] = *at;
  }
  auto path = t.put_string(s.library);
  if (!path) return path.error();
  auto handle = t.call(fn[0], {*path, RTLD_NOW});
  if (!handle) return handle.error();
  if (*handle == 0) {
    std::string why = "(no reason given)";
    if (auto message = t.call(fn[2], {}); message && *message != 0) {
      if (auto text = t.read_string(*message); text) why = *text;
    }
    return Error{fmt::format("process {} could not load {}: {}", pid, s.library, why), 0,
                 "  the library must be readable by the process's user, in its mount namespace"};
  }
  std::uint64_t entry[2];
  const char* entries[2] = {heap_wire::kAttachFunction, heap_wire::kDetachFunction};
  for (int i = 0; i < 2; ++i) {
    auto name = t.put_string(entries[i]);
    if (!name) return name.error();
    auto at = t.call(fn[1], {*handle, *name});
    if (!at) return at.error();
    if (*at == 0) return Error{s.library + " is not perfscope's heap tracker", 0, {}};
    entry[i] = *at;
  }
  auto fifo = t.put_string(s.fifo);
  if (!fifo) return fifo.error();
  const auto unwind = static_cast<std::uint64_t>(
      s.unwind == Unwind::dwarf ? heap_wire::Unwind::dwarf : heap_wire::Unwind::frame_pointers);
  auto rc = t.call(entry[0], {*fifo, unwind});
  if (!rc) return rc.error();
  if (*rc == EBUSY) {
    return Error{fmt::format("process {} is already tracked by perfscope's heap tracker", pid), 0,
                 "  it runs under perfscope mem, or another perfscope mem -p is attached"};
  }
  if (*rc != 0) {
    return Error{
        fmt::format("the tracker could not start in process {}", pid), static_cast<int>(*rc), {}};
  }
  return entry[1];
}

Status detach_tracker(pid_t pid, std::uint64_t detach_fn) {
  auto t = RemoteThread::stop(pid);
  if (!t) return t.error();
  auto rc = t->call(detach_fn, {});
  if (!rc) return rc.error();
  if (*rc != 0) return Error{"the tracker refused to detach", static_cast<int>(*rc), {}};
  return {};
}

std::string command_line_of(pid_t pid) {
  auto text = read_text_file(fmt::format("/proc/{}/cmdline", pid));
  std::string line = text ? *text : std::string();
  while (!line.empty() && line.back() == '\0') line.pop_back();
  for (char& c : line) {
    if (c == '\0') c = ' ';
  }
  return line.empty() ? fmt::format("pid {}", pid) : line;
}

// Images to the symbolized result (both kinds of run).
Status finish_result(HeapAnalysis& analysis, TrackResult& result, const std::string& what) {
  result.images = analysis.finish();
  if (result.images.empty()) {
    return Error{fmt::format("{} made no allocation events", what), 0,
                 "  the program did not load libperfscope-heap.so: it is statically linked, "
                 "setuid, or clears LD_PRELOAD (perfscope mem follows a program only where "
                 "LD_PRELOAD reaches)"};
  }
  symbols::Symbolizer symbolizer;
  result.profile =
      build_heap_profile(result.images, symbolizer, result.info, &result.sample_of_site);
  result.profile.add_comment("stacks: " + result.stacks);
  return {};
}

}  // namespace

Result<TrackResult> Tracker::run_attached(const StopSource& stop) {
  Session& s = *session_;
  const pid_t pid = s.options.attach_pid;
  TrackResult result;
  result.stacks = s.stacks;
  result.info.command_line = command_line_of(pid);
  result.info.time_nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  const std::uint64_t start_ns = monotonic_ns();
  std::uint64_t detach_fn = 0;
  {
    auto thread = RemoteThread::stop(pid);
    if (!thread) return thread.error();
    auto loaded = load_tracker(*thread, pid, s);
    if (!loaded) return loaded.error();
    detach_fn = *loaded;
  }                     // the thread runs on from where it was stopped
  s.hold_open.reset();  // from now on the stream ends when the tracker closes its end
  if (s.options.on_attached) s.options.on_attached(pid);

  HeapAnalysis analysis;
  analysis.set_command_pid(pid);
  UniqueFd exit_fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  const std::uint64_t deadline =
      s.options.duration_s > 0 ? start_ns + static_cast<std::uint64_t>(s.options.duration_s * 1e9)
                               : 0;
  std::string buffer(1 << 20, '\0');
  bool gone = false, detached = false, left_behind = false;
  std::uint64_t quiet_since = 0;
  for (;;) {
    pollfd fds[3] = {{s.read_end.get(), POLLIN, 0},
                     {stop.take ? stop.fd : -1, POLLIN, 0},
                     {gone || detached ? -1 : exit_fd.get(), POLLIN, 0}};
    const int r = ::poll(fds, 3, 100);
    if (r < 0 && errno != EINTR) return errno_error("poll");
    const std::uint64_t now = monotonic_ns();
    bool want_detach = deadline != 0 && now >= deadline;
    if (r > 0 && (fds[1].revents & POLLIN) != 0) {
      if (const int sig = stop.take(); sig != 0) {
        if (result.stop_signal == 0) result.stop_signal = sig;
        want_detach = true;
      }
    }
    if (r > 0 && (fds[2].revents & POLLIN) != 0) gone = true;
    if (want_detach && !detached && !gone) {
      detached = true;
      if (auto d = detach_tracker(pid, detach_fn); !d) {
        if (::kill(pid, 0) != 0) {
          gone = true;
        } else {
          result.notes.push_back("could not detach cleanly: " + d.error().message() +
                                 "; the process runs on with the tracker passing calls through");
        }
      }
    }
    bool data = false;
    if (r > 0 && (fds[0].revents & (POLLIN | POLLHUP)) != 0) {
      const ssize_t n = ::read(s.read_end.get(), buffer.data(), buffer.size());
      if (n == 0) break;  // every writer closed: the tracker detached or the process is gone
      if (n < 0 && errno != EAGAIN && errno != EINTR) return errno_error("read(heap pipe)");
      if (n > 0) {
        if (auto f = analysis.feed(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
            !f) {
          return f.error();
        }
        data = true;
      }
    }
    if (gone || detached) {
      // Fork children the process left may still hold the pipe: a second of silence, then stop.
      if (data || quiet_since == 0) {
        quiet_since = now;
      } else if (now - quiet_since > kLingerNs) {
        left_behind = true;
        break;
      }
    }
  }
  s.read_end.reset();
  result.info.duration_nanos = static_cast<std::int64_t>(monotonic_ns() - start_ns);
  if (detached) {
    result.notes.push_back(fmt::format("detached from pid {}; it runs on", pid));
  }
  if (left_behind) {
    result.notes.push_back(
        "processes forked by the attached one still held the heap pipe: their tracking was cut "
        "short a second later");
  }
  if (auto f = finish_result(analysis, result, fmt::format("process {}", pid)); !f)
    return f.error();
  return result;
}

Result<TrackResult> Tracker::run(const StopSource& stop) {
  Session& s = *session_;
  if (s.ran) return Error{"Tracker::run called twice", 0, {}};
  s.ran = true;
  if (s.options.attach_pid != 0) return run_attached(stop);
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

  StreamReader reader(command, s.read_end.get(), stop, analysis, s.gather_below);
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

  if (auto f = finish_result(analysis, result, s.options.command.front()); !f) return f.error();
  return result;
}

}  // namespace perfscope::heap
