#include "syscalls/perf_tracer.hpp"

#include <fmt/format.h>
#include <linux/perf_event.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <unordered_map>

#include "core/cpu_set.hpp"
#include "core/files.hpp"
#include "sampling/ring_set.hpp"
#include "syscalls/names.hpp"

namespace perfscope::syscalls {
namespace {

// A tracepoint's id and the offsets of named fields in its raw record, from tracefs.
struct Tracepoint {
  std::uint64_t id = 0;
  std::unordered_map<std::string, std::size_t> offsets;
};

Result<Tracepoint> read_tracepoint(const std::string& root, const std::string& name) {
  const std::string dir = root + "/events/raw_syscalls/" + name;
  auto id = read_int_file(dir + "/id");
  if (!id) {
    Error e = id.error();
    e.op = "read the id of tracepoint raw_syscalls:" + name + " in " + root;
    if (e.errnum == EACCES) e.hint = "  tracefs is readable by root only here: run as root";
    return e;
  }
  auto format = read_text_file(dir + "/format");
  if (!format) return format.error();
  Tracepoint tp;
  tp.id = static_cast<std::uint64_t>(*id);
  // "\tfield:long ret;\toffset:16;\tsize:8;\tsigned:1;"
  std::string_view rest = *format;
  while (!rest.empty()) {
    const auto eol = rest.find('\n');
    const std::string_view line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view{} : rest.substr(eol + 1);
    const auto field = line.find("field:");
    const auto semi = line.find(';');
    const auto off = line.find("offset:");
    if (field == std::string_view::npos || semi == std::string_view::npos ||
        off == std::string_view::npos)
      continue;
    std::string_view decl = line.substr(field + 6, semi - field - 6);
    if (const auto bracket = decl.find('['); bracket != std::string_view::npos)
      decl = decl.substr(0, bracket);
    const auto space = decl.find_last_of(" *");
    const std::string fname(space == std::string_view::npos ? decl : decl.substr(space + 1));
    tp.offsets[fname] = static_cast<std::size_t>(std::atol(line.data() + off + 7));
  }
  for (const char* needed : {"common_type", "id"}) {
    if (!tp.offsets.contains(needed)) {
      return Error{fmt::format("tracepoint raw_syscalls:{} has no field '{}'", name, needed), 0,
                   "  its format file is not what perfscope expects: " + dir + "/format"};
    }
  }
  return tp;
}

template <typename T>
T load(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Reads the rings itself: the RecordSink side is called by its own RingSet only.
class PerfTracer final : public Tracer, private sampling::RecordSink {
 public:
  const char* backend() const override { return "perf"; }

  Status open(const TracerOptions& o, const system::Capabilities& caps) {
    options_ = o;
    bool mounted = false;
    auto root = ensure_tracefs(caps, mounted);
    if (!root) return root.error();
    if (mounted) notes_.push_back(fmt::format("mounted tracefs at {}", *root));
    auto enter = read_tracepoint(*root, "sys_enter");
    if (!enter) return enter.error();
    auto exit = read_tracepoint(*root, "sys_exit");
    if (!exit) return exit.error();
    if (!exit->offsets.contains("ret")) {
      return Error{"tracepoint raw_syscalls:sys_exit has no field 'ret'", 0, ""};
    }
    enter_ = *enter;
    exit_ = *exit;
    // Looked up once here, not per record.
    enter_nr_at_ = enter_.offsets.at("id");
    exit_nr_at_ = exit_.offsets.at("id");
    exit_ret_at_ = exit_.offsets.at("ret");
    sigreturn_nr_ = syscall_number("rt_sigreturn").value_or(-1);
    execve_nr_ = syscall_number("execve").value_or(-1);
    execveat_nr_ = syscall_number("execveat").value_or(-1);
    self_ = ::getpid();
    for (pid_t p : o.pids) wanted_.insert(static_cast<std::uint32_t>(p));
    if (o.command > 0) live_.insert(static_cast<std::uint32_t>(o.command));

    std::vector<pid_t> tasks;  // empty: every task on each CPU (-a)
    if (!o.all && o.command > 0) {
      tasks.push_back(o.command);
    } else if (!o.all) {
      for (pid_t p : o.pids) {
        auto threads = list_directory(fmt::format("/proc/{}/task", p));
        if (!threads) continue;
        for (const auto& t : *threads) tasks.push_back(static_cast<pid_t>(std::stol(t)));
      }
      if (tasks.empty()) return Error{"count syscalls", ESRCH, "  every target process has exited"};
    }
    auto cpus = CpuSet::online();
    if (!cpus) return cpus.error();
    const std::size_t pages = sampling::default_ring_pages(cpus->size(), caps, 1024, 128);
    for (;;) {
      auto rings = sampling::RingSet::open(
          sampling::RingSetOptions{.events = {event_of(enter_, "raw_syscalls:sys_enter", true),
                                              event_of(exit_, "raw_syscalls:sys_exit", false)},
                                   .targets = tasks,
                                   .cpus = *cpus,
                                   .ring_pages = pages},
          caps);
      if (rings) {
        rings_ = std::move(*rings);
        break;
      }
      const bool asked_inherit_thread = inherit_thread_ && o.command == 0 && !o.all;
      if (rings.error().errnum != EINVAL || !asked_inherit_thread) return rings.error();
      inherit_thread_ = false;  // before Linux 5.13: children too, dropped when read
    }
    summary_.by = o.by;
    summary_.backend = "perf";
    summary_.cpu_time = false;
    if (o.cpu_time) {
      notes_.push_back(
          "the perf backend measures wall-clock time only: the time column is wall-clock (as -w)");
    }
    return {};
  }

  // One raw_syscalls event for every followed task. Each task's sys_enter event also brings its
  // FORK, EXIT and COMM records (from the CPU they happen on, so once).
  sampling::RingEvent event_of(const Tracepoint& tp, const char* name, bool task_records) const {
    perf_event_attr a{};
    a.size = sizeof a;
    a.type = PERF_TYPE_TRACEPOINT;
    a.config = tp.id;
    a.sample_period = 1;
    a.sample_type = PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_RAW;
    a.disabled = 1;
    a.inherit = options_.all ? 0 : 1;
    // -p: new threads of the process, not its children (their events would fill the rings only
    // to be dropped here).
    a.inherit_thread = options_.command == 0 && !options_.all && inherit_thread_ ? 1 : 0;
    a.enable_on_exec = options_.command > 0 ? 1 : 0;
    if (task_records) a.task = a.comm = 1;
    // RingSet stamps records with CLOCK_MONOTONIC, comparable across CPUs, which the pass
    // ordering (on_pass_end) needs.
    return {a, name};
  }

  Status start() override {
    if (options_.command > 0) return {};  // enable_on_exec
    return rings_.enable();
  }

  Result<bool> wait(int fd, int timeout_ms) override {
    if (fd >= 0 && fd != watched_) {
      if (auto st = rings_.watch(fd); !st) return st.error();
      watched_ = fd;
    }
    auto ready = rings_.wait(timeout_ms);
    if (!ready) return ready;
    rings_.drain(*this);
    return *ready && fd >= 0;
  }

  bool followed_alive() override {
    for (auto it = live_.begin(); it != live_.end();) {
      it = process_running(*it) ? std::next(it) : live_.erase(it);
    }
    return !live_.empty();
  }

  Result<Summary> finish() override {
    (void)rings_.disable();
    rings_.drain(*this);
    handle_pending(~std::uint64_t{0});  // the events are off: every record has been delivered
    summary_.lost = lost_ + rings_.stats().ring_errors;
    return summary_;
  }

 private:
  // A call's entry and exit can land in two CPUs' rings, and one pass may read the exit before
  // the entry. So records wait in `pending_` and are handled in time order once every ring has
  // surely delivered everything up to their time: the start of the previous pass (records are
  // written within microseconds of their time stamp; a whole poll interval lies in between).
  void on_pass_end(std::uint64_t pass_start) override {
    handle_pending(previous_pass_start_);
    previous_pass_start_ = pass_start;
  }

  // Handles the pending records stamped before `horizon`, in time order.
  void handle_pending(std::uint64_t horizon) {
    std::stable_sort(pending_.begin(), pending_.end(),
                     [](const Pending& a, const Pending& b) { return a.time < b.time; });
    std::size_t done = 0;
    while (done < pending_.size() && pending_[done].time < horizon) on_pending(pending_[done++]);
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(done));
  }

  const std::string& comm_of(std::uint32_t tid) {
    auto [it, inserted] = comm_.try_emplace(tid);
    if (inserted) {
      auto text = read_text_file(fmt::format("/proc/{}/comm", tid));
      if (text) {
        it->second = *text;
        while (!it->second.empty() && it->second.back() == '\n') it->second.pop_back();
      }
    }
    return it->second;
  }

  void on_record(std::span<const std::byte> r) override {
    const auto* h = reinterpret_cast<const perf_event_header*>(r.data());
    const std::byte* p = r.data() + sizeof(perf_event_header);
    const std::byte* end = r.data() + r.size();
    switch (h->type) {
      case PERF_RECORD_SAMPLE: {
        if (end - p < 20) return;
        const auto pid = load<std::uint32_t>(p);
        const auto tid = load<std::uint32_t>(p + 4);
        const auto time = load<std::uint64_t>(p + 8);
        const auto size = load<std::uint32_t>(p + 16);
        const std::byte* raw = p + 20;
        if (static_cast<std::size_t>(end - raw) < size || size < 2) return;
        on_event(pid, tid, time, raw, size);
        return;
      }
      case PERF_RECORD_FORK: {
        if (end - p < 16) return;
        const auto pid = load<std::uint32_t>(p);
        const auto ppid = load<std::uint32_t>(p + 4);
        const auto tid = load<std::uint32_t>(p + 8);
        const auto ptid = load<std::uint32_t>(p + 12);
        if (pid != ppid && options_.command > 0) live_.insert(pid);
        // The child is named as its parent until it execs (a COMM record then), and may be gone
        // before its calls are handled.
        if (!comm_.contains(tid)) comm_[tid] = comm_of(ptid);
        return;
      }
      case PERF_RECORD_EXIT: {
        if (end - p < 24) return;
        Pending e;
        e.kind = Pending::task_exit;
        e.pid = load<std::uint32_t>(p);
        e.tid = load<std::uint32_t>(p + 8);
        e.time = load<std::uint64_t>(p + 16);
        pending_.push_back(e);
        return;
      }
      case PERF_RECORD_COMM: {
        if (end - p < 8) return;
        const auto tid = load<std::uint32_t>(p + 4);
        const char* s = reinterpret_cast<const char*>(p + 8);
        comm_[tid] = std::string(s, strnlen(s, static_cast<std::size_t>(end - (p + 8))));
        return;
      }
      case PERF_RECORD_LOST: {
        if (end - p < 16) return;
        lost_ += load<std::uint64_t>(p + 8);
        return;
      }
      default:
        return;
    }
  }

  // A sys_enter or sys_exit sample of a followed process, decoded into `pending_`.
  void on_event(std::uint32_t pid, std::uint32_t tid, std::uint64_t time, const std::byte* raw,
                std::uint32_t size) {
    if (options_.all && pid == static_cast<std::uint32_t>(self_)) return;
    if (!wanted_.empty() && !wanted_.contains(pid)) return;
    const auto type = load<std::uint16_t>(raw);
    const auto field = [&](std::size_t off) -> std::int64_t {
      if (off + 8 > size) return 0;
      return load<std::int64_t>(raw + off);
    };
    Pending e;
    e.time = time;
    e.pid = pid;
    e.tid = tid;
    if (type == enter_.id) {
      e.kind = Pending::enter;
      e.nr = field(enter_nr_at_);
    } else if (type == exit_.id) {
      e.kind = Pending::exit;
      e.nr = field(exit_nr_at_);
      e.ret = field(exit_ret_at_);
    } else {
      return;
    }
    if (e.nr >= 0) pending_.push_back(e);
  }

  struct Pending {
    enum Kind : std::uint8_t { enter, exit, task_exit };
    std::uint64_t time = 0;
    std::uint32_t pid = 0, tid = 0;
    Kind kind = enter;
    std::int64_t nr = 0, ret = 0;
  };

  void on_pending(const Pending& e) {
    if (e.kind == Pending::task_exit) {
      if (inflight_.erase(e.tid) > 0) ++summary_.unfinished;
      if (e.pid == e.tid) live_.erase(e.pid);
      return;
    }
    const int nr = static_cast<int>(e.nr);
    if (e.kind == Pending::enter) {
      inflight_[e.tid] = {e.time, nr};
      return;
    }
    std::int64_t wall = -1;  // untimed
    if (auto it = inflight_.find(e.tid); it != inflight_.end()) {
      if (it->second.nr == nr && e.time >= it->second.start) {
        wall = static_cast<std::int64_t>(e.time - it->second.start);
      }
      inflight_.erase(it);
    } else if (nr != execve_nr_ && nr != execveat_nr_) {
      // Entered before counting began (or a new child's return from fork/clone, which it never
      // entered): not counted, as the eBPF backend does. The command's own execve is the
      // exception: enable_on_exec starts the events inside it.
      return;
    }
    RowKey key;
    key.nr = nr;
    if (options_.by != GroupBy::syscall) {
      key.tgid = e.pid;
      if (options_.by == GroupBy::thread) key.tid = e.tid;
      // A process is named as its main thread (tid = pid), whatever its threads call themselves.
      key.comm = comm_of(options_.by == GroupBy::process ? e.pid : e.tid);
    }
    const bool failed = e.ret < 0 && e.ret >= -4095 && nr != sigreturn_nr_;
    summary_.rows[key].add_call(wall, -1, failed, failed ? static_cast<int>(-e.ret) : 0);
  }

  struct Inflight {
    std::uint64_t start = 0;
    int nr = 0;
  };
  TracerOptions options_;
  Tracepoint enter_, exit_;
  std::size_t enter_nr_at_ = 0, exit_nr_at_ = 0, exit_ret_at_ = 0;  // raw record offsets
  int sigreturn_nr_ = -1;
  int execve_nr_ = -1;
  int execveat_nr_ = -1;
  pid_t self_ = 0;
  sampling::RingSet rings_;
  int watched_ = -1;                // the fd wait() added to the rings' epoll set
  bool inherit_thread_ = true;      // perf_event_attr.inherit_thread works (Linux 5.13 and later)
  std::set<std::uint32_t> wanted_;  // -p processes
  std::set<std::uint32_t> live_;    // the command's processes still running
  std::unordered_map<std::uint32_t, Inflight> inflight_;
  std::unordered_map<std::uint32_t, std::string> comm_;
  std::uint64_t lost_ = 0;
  std::vector<Pending> pending_;  // records not yet handled, see on_pass_end()
  std::uint64_t previous_pass_start_ = 0;
  Summary summary_;
};

}  // namespace

Result<std::string> ensure_tracefs(const system::Capabilities& caps, bool& mounted) {
  mounted = false;
  if (!caps.tracefs_path.empty()) {
    if (!caps.tracefs_readable) {
      return Error{fmt::format("tracefs at {} cannot be read by this user", caps.tracefs_path),
                   EACCES,
                   fmt::format("  run as root, or make it readable: sudo mount -o remount,mode=755 "
                               "{}\n  more: perfscope doctor --need syscalls",
                               caps.tracefs_path)};
    }
    return caps.tracefs_path;
  }
  const std::string target = "/sys/kernel/tracing";
  if (::mount("nodev", target.c_str(), "tracefs", 0, nullptr) == 0) {
    mounted = true;
    return target;
  }
  const int e = errno;
  return Error{"tracefs is not mounted, and mounting it failed", e,
               fmt::format("  as root: sudo mount -t tracefs nodev {}\n  (to mount it at boot, add "
                           "to /etc/fstab: tracefs {} tracefs defaults 0 0)\n  more: perfscope "
                           "doctor --need syscalls",
                           target, target)};
}

Result<std::unique_ptr<Tracer>> open_perf_tracer(const TracerOptions& options,
                                                 const system::Capabilities& caps) {
  auto t = std::make_unique<PerfTracer>();
  if (auto st = t->open(options, caps); !st) return st.error();
  return std::unique_ptr<Tracer>(std::move(t));
}

}  // namespace perfscope::syscalls
