#include "heap/inject.hpp"

#include <elf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "core/files.hpp"
#include "core/unique_fd.hpp"

namespace perfscope::heap {
namespace {

// /proc/PID/status's "Key:\tvalue" line, or empty.
std::string status_field(pid_t pid, const std::string& key) {
  std::ifstream in(fmt::format("/proc/{}/status", pid));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) {
      const auto start = line.find_first_not_of(" \t", key.size() + 1);
      return start == std::string::npos ? std::string() : line.substr(start);
    }
  }
  return {};
}

bool has_cap_sys_ptrace() {
  const std::string eff = status_field(getpid(), "CapEff");
  if (eff.empty()) return geteuid() == 0;
  return (std::stoull(eff, nullptr, 16) >> 19) & 1;  // CAP_SYS_PTRACE
}

bool is_descendant_of_us(pid_t pid) {
  for (int hops = 0; pid > 1 && hops < 4096; ++hops) {
    const std::string ppid = status_field(pid, "PPid");
    if (ppid.empty()) return false;
    pid = static_cast<pid_t>(std::stol(ppid));
    if (pid == getpid()) return true;
  }
  return false;
}

std::string comm_of(pid_t pid) {
  auto text = read_text_file(fmt::format("/proc/{}/comm", pid));
  std::string comm = text ? *text : "?";
  while (!comm.empty() && comm.back() == '\n') comm.pop_back();
  return comm;
}

struct Mapping {
  std::uint64_t start = 0, end = 0, offset = 0;
  std::string path;
};

std::vector<Mapping> read_maps(pid_t pid) {
  std::vector<Mapping> out;
  std::ifstream in(fmt::format("/proc/{}/maps", pid));
  std::string line;
  while (std::getline(in, line)) {
    Mapping m;
    std::istringstream fields(line);
    std::string range, perms, offset, dev, inode;
    fields >> range >> perms >> offset >> dev >> inode;
    std::getline(fields >> std::ws, m.path);
    const auto dash = range.find('-');
    if (dash == std::string::npos) continue;
    m.start = std::stoull(range.substr(0, dash), nullptr, 16);
    m.end = std::stoull(range.substr(dash + 1), nullptr, 16);
    m.offset = std::stoull(offset, nullptr, 16);
    out.push_back(std::move(m));
  }
  return out;
}

std::string base_name(const std::string& path) {
  return path.substr(path.rfind('/') + 1);
}

bool is_libc(const std::string& path) {
  const std::string name = base_name(path);
  return name == "libc.so.6" || name.rfind("libc-2.", 0) == 0 || name == "libc.so";
}

bool is_loader(const std::string& path) {
  return base_name(path).rfind("ld-linux", 0) == 0;
}

// The system calls glibc's allocator makes while it holds an arena lock: a thread stopped in one
// of them may be inside malloc, where calling dlopen (which allocates) would deadlock.
bool allocator_syscall(long long nr) {
  switch (nr) {
    case 9:   // mmap
    case 10:  // mprotect
    case 11:  // munmap
    case 12:  // brk
    case 25:  // mremap
    case 28:  // madvise
      return true;
    default:
      return false;
  }
}

void wait_ms(long ms) {
  timespec ts{ms / 1000, (ms % 1000) * 1'000'000};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

}  // namespace

Status check_can_trace(pid_t pid) {
  if (pid <= 0) return Error{fmt::format("{} is not a process id", pid), 0, {}};
  if (pid == getpid()) return Error{"perfscope cannot attach to itself", 0, {}};
  if (::kill(pid, 0) != 0 && errno == ESRCH) {
    return Error{fmt::format("no process {}", pid), 0,
                 "  check the pid (ps -e), it may have exited"};
  }
  if (status_field(pid, "State").rfind("Z", 0) == 0) {
    return Error{fmt::format("process {} has exited (a zombie)", pid), 0, {}};
  }
  const std::string tracer = status_field(pid, "TracerPid");
  if (!tracer.empty() && tracer != "0") {
    const pid_t t = static_cast<pid_t>(std::stol(tracer));
    return Error{fmt::format("process {} is already traced by pid {} ({})", pid, t, comm_of(t)), 0,
                 "  a process has one tracer at a time: detach the debugger or strace first"};
  }
  const bool privileged = has_cap_sys_ptrace();
  if (!privileged) {
    std::istringstream uids(status_field(pid, "Uid"));
    unsigned real = 0, effective = 0, saved = 0;
    uids >> real >> effective >> saved;
    const uid_t me = getuid();
    if (real != me || effective != me || saved != me) {
      return Error{fmt::format("process {} ({}) runs as uid {}, perfscope as uid {}", pid,
                               comm_of(pid), effective, me),
                   EPERM, "  run perfscope as that user, or as root"};
    }
  }
  const auto scope = read_int_file("/proc/sys/kernel/yama/ptrace_scope");
  const long long yama = scope ? *scope : 0;
  if (yama >= 3) {
    return Error{"ptrace is disabled on this machine (kernel.yama.ptrace_scope = 3)", EPERM,
                 "  the setting cannot be lowered until reboot; start the program under "
                 "perfscope instead: perfscope mem -- CMD"};
  }
  if (yama == 2 && !privileged) {
    return Error{"only root may attach to a process here (kernel.yama.ptrace_scope = 2)", EPERM,
                 "  run perfscope as root (sudo perfscope mem -p PID)"};
  }
  if (yama == 1 && !privileged && !is_descendant_of_us(pid)) {
    return Error{"kernel.yama.ptrace_scope = 1 lets a process attach only to its own descendants",
                 EPERM,
                 "  run perfscope as root, or allow it: sudo sysctl kernel.yama.ptrace_scope=0 "
                 "(or start the program under perfscope: perfscope mem -- CMD)"};
  }
  return {};
}

Result<std::uint64_t> libc_symbol(pid_t pid, const std::string& symbol) {
  const auto maps = read_maps(pid);
  const Mapping* libc = nullptr;
  for (const auto& m : maps) {
    if (is_libc(m.path) && m.offset == 0) {
      libc = &m;
      break;
    }
  }
  if (libc == nullptr) {
    return Error{fmt::format("process {} has no C library mapped: a statically linked program "
                             "cannot load the tracker",
                             pid),
                 0, "  start it under perfscope instead: perfscope mem -- CMD"};
  }
  const std::string path = fmt::format("/proc/{}/root{}", pid, libc->path);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return errno_error("open " + path);
  elf_version(EV_CURRENT);
  Elf* elf = elf_begin(fd.get(), ELF_C_READ_MMAP, nullptr);
  if (elf == nullptr) return Error{"cannot read " + path + " as ELF", 0, {}};
  std::uint64_t found = 0;
  bool found_default = false;
  Elf_Scn* versym = nullptr;
  Elf_Scn* dynsym = nullptr;
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr sh;
    if (gelf_getshdr(scn, &sh) == nullptr) continue;
    if (sh.sh_type == SHT_DYNSYM) dynsym = scn;
    if (sh.sh_type == SHT_GNU_versym) versym = scn;
  }
  if (dynsym != nullptr) {
    GElf_Shdr sh;
    gelf_getshdr(dynsym, &sh);
    Elf_Data* data = elf_getdata(dynsym, nullptr);
    Elf_Data* versions = versym != nullptr ? elf_getdata(versym, nullptr) : nullptr;
    const std::size_t count = sh.sh_entsize != 0 ? sh.sh_size / sh.sh_entsize : 0;
    for (std::size_t i = 0; data != nullptr && i < count && !found_default; ++i) {
      GElf_Sym sym;
      if (gelf_getsym(data, static_cast<int>(i), &sym) == nullptr || sym.st_value == 0) continue;
      const char* name = elf_strptr(elf, sh.sh_link, sym.st_name);
      if (name == nullptr || symbol != name) continue;
      GElf_Versym v = 0;
      const bool hidden = versions != nullptr &&
                          gelf_getversym(versions, static_cast<int>(i), &v) != nullptr &&
                          (v & 0x8000) != 0;
      if (found == 0 || !hidden) found = sym.st_value;
      found_default = !hidden;
    }
  }
  elf_end(elf);
  if (found == 0) {
    return Error{fmt::format("{} not found in {}", symbol, libc->path), 0,
                 "  glibc 2.34 or later is needed (dlopen in libc.so.6)"};
  }
  return libc->start - libc->offset + found;
}

struct RemoteThread::State {
  pid_t pid = 0;
  user_regs_struct saved{};
  std::vector<unsigned char> xstate;  // NT_X86_XSTATE, or FXSAVE when that is refused
  bool have_xstate = false;
  user_fpregs_struct fpregs{};
  UniqueFd mem;
  std::uint64_t strings_at = 0;  // next free byte (downwards) for put_string
  std::uint64_t call_stack = 0;  // where a call's stack starts (16-aligned)
  std::vector<int> deferred;     // signals that arrived during a call, delivered at detach

  Status restore() {
    if (::ptrace(PTRACE_SETREGS, pid, nullptr, &saved) != 0) return errno_error("PTRACE_SETREGS");
    if (have_xstate) {
      iovec io{xstate.data(), xstate.size()};
      if (::ptrace(PTRACE_SETREGSET, pid, NT_X86_XSTATE, &io) != 0)
        return errno_error("PTRACE_SETREGSET");
    } else if (::ptrace(PTRACE_SETFPREGS, pid, nullptr, &fpregs) != 0) {
      return errno_error("PTRACE_SETFPREGS");
    }
    return {};
  }
};

RemoteThread::RemoteThread(RemoteThread&&) noexcept = default;
RemoteThread& RemoteThread::operator=(RemoteThread&&) noexcept = default;

RemoteThread::~RemoteThread() {
  if (!state_) return;
  (void)state_->restore();
  const int first = state_->deferred.empty() ? 0 : state_->deferred.front();
  ::ptrace(PTRACE_DETACH, state_->pid, nullptr, reinterpret_cast<void*>(first));
  for (std::size_t i = 1; i < state_->deferred.size(); ++i)
    ::kill(state_->pid, state_->deferred[i]);
}

Result<RemoteThread> RemoteThread::stop(pid_t pid) {
  if (::ptrace(PTRACE_SEIZE, pid, nullptr, nullptr) != 0) {
    const int e = errno;
    if (auto why = check_can_trace(pid); !why) return why.error();
    return Error{fmt::format("ptrace cannot attach to process {}", pid), e,
                 e == EPERM ? "  the process may be non-dumpable (setuid, or prctl "
                              "PR_SET_DUMPABLE 0): perfscope cannot attach to it"
                            : ""};
  }
  RemoteThread t;
  t.state_ = std::make_unique<State>();
  State& s = *t.state_;
  s.pid = pid;
  std::vector<Mapping> maps = read_maps(pid);
  auto in_libc_or_loader = [&](std::uint64_t ip) {
    for (const auto& m : maps) {
      if (ip >= m.start && ip < m.end) return is_libc(m.path) || is_loader(m.path);
    }
    return false;
  };
  constexpr int kTries = 200;
  for (int attempt = 0;; ++attempt) {
    if (::ptrace(PTRACE_INTERRUPT, pid, nullptr, nullptr) != 0) {
      const int e = errno;
      t.state_.reset();
      ::ptrace(PTRACE_DETACH, pid, nullptr, nullptr);
      return Error{fmt::format("PTRACE_INTERRUPT of process {}", pid), e, {}};
    }
    int status = 0;
    for (;;) {
      if (::waitpid(pid, &status, __WALL) < 0) {
        if (errno == EINTR) continue;
        const int e = errno;
        t.state_.reset();
        return Error{fmt::format("waiting for process {}", pid), e, {}};
      }
      if (WIFEXITED(status) || WIFSIGNALED(status)) {
        t.state_.reset();
        return Error{fmt::format("process {} exited while perfscope attached", pid), 0, {}};
      }
      if (WIFSTOPPED(status) && (status >> 16) == 0) {
        // A signal on its way: let it through and wait for our stop.
        ::ptrace(PTRACE_CONT, pid, nullptr, reinterpret_cast<void*>(WSTOPSIG(status)));
        continue;
      }
      break;  // the interrupt's (or a group) stop
    }
    if (::ptrace(PTRACE_GETREGS, pid, nullptr, &s.saved) != 0) {
      const int e = errno;
      t.state_.reset();
      ::ptrace(PTRACE_DETACH, pid, nullptr, nullptr);
      return Error{"PTRACE_GETREGS", e, {}};
    }
    const auto nr = static_cast<long long>(s.saved.orig_rax);
    const bool safe = nr >= 0 ? !allocator_syscall(nr) : !in_libc_or_loader(s.saved.rip);
    if (safe) break;
    if (attempt == kTries) {
      t.state_.reset();
      ::ptrace(PTRACE_DETACH, pid, nullptr, nullptr);
      return Error{fmt::format("process {} stayed inside the C library's allocator or the "
                               "dynamic loader for two seconds",
                               pid),
                   0,
                   "  try again; perfscope only loads its tracker at a point where that is safe"};
    }
    ::ptrace(PTRACE_CONT, pid, nullptr, nullptr);
    wait_ms(10);
  }
  s.xstate.resize(16384);
  iovec io{s.xstate.data(), s.xstate.size()};
  if (::ptrace(PTRACE_GETREGSET, pid, NT_X86_XSTATE, &io) == 0) {
    s.xstate.resize(io.iov_len);
    s.have_xstate = true;
  } else if (::ptrace(PTRACE_GETFPREGS, pid, nullptr, &s.fpregs) != 0) {
    // Nothing to put back yet: let the thread go as it was.
    const int e = errno;
    t.state_.reset();
    ::ptrace(PTRACE_DETACH, pid, nullptr, nullptr);
    return Error{"PTRACE_GETFPREGS", e, {}};
  }
  s.mem.reset(::open(fmt::format("/proc/{}/mem", pid).c_str(), O_RDWR | O_CLOEXEC));
  if (!s.mem) return errno_error(fmt::format("open /proc/{}/mem", pid));
  // Below the 128-byte red zone: 4 KiB for strings, then the calls' stack.
  s.strings_at = (s.saved.rsp - 256) & ~std::uint64_t{15};
  s.call_stack = (s.saved.rsp - 8192) & ~std::uint64_t{15};
  return t;
}

Result<std::uint64_t> RemoteThread::put_string(const std::string& text) {
  State& s = *state_;
  const std::uint64_t at = (s.strings_at - text.size() - 1) & ~std::uint64_t{15};
  if (at < s.call_stack + 64) return Error{"no room for the call's strings", 0, {}};
  if (::pwrite(s.mem.get(), text.c_str(), text.size() + 1, static_cast<off_t>(at)) !=
      static_cast<ssize_t>(text.size() + 1)) {
    return errno_error(fmt::format("writing into process {}", s.pid));
  }
  s.strings_at = at;
  return at;
}

Result<std::string> RemoteThread::read_string(std::uint64_t address, std::size_t max) {
  std::string out(max, '\0');
  const ssize_t n = ::pread(state_->mem.get(), out.data(), max, static_cast<off_t>(address));
  if (n <= 0) return errno_error(fmt::format("reading process {}", state_->pid));
  out.resize(static_cast<std::size_t>(n));
  out.resize(std::strlen(out.c_str()));
  return out;
}

Result<std::uint64_t> RemoteThread::call(std::uint64_t fn, const std::vector<std::uint64_t>& args,
                                         int timeout_s) {
  State& s = *state_;
  if (args.size() > 6) return Error{"at most 6 arguments", 0, {}};
  user_regs_struct regs = s.saved;
  const std::uint64_t zero = 0;
  regs.rsp = s.call_stack - 8;  // the return address: 0, so the return faults and stops here
  if (::pwrite(s.mem.get(), &zero, sizeof zero, static_cast<off_t>(regs.rsp)) != sizeof zero) {
    return errno_error(fmt::format("writing into process {}", s.pid));
  }
  unsigned long long* slots[] = {&regs.rdi, &regs.rsi, &regs.rdx, &regs.rcx, &regs.r8, &regs.r9};
  for (std::size_t i = 0; i < args.size(); ++i) *slots[i] = args[i];
  regs.rip = fn;
  regs.rax = 0;
  regs.orig_rax = static_cast<unsigned long long>(-1);  // no system call to restart
  if (::ptrace(PTRACE_SETREGS, s.pid, nullptr, &regs) != 0) return errno_error("PTRACE_SETREGS");
  if (::ptrace(PTRACE_CONT, s.pid, nullptr, nullptr) != 0) return errno_error("PTRACE_CONT");
  const long kStepMs = 1;
  for (long waited = 0;; waited += kStepMs) {
    int status = 0;
    const pid_t r = ::waitpid(s.pid, &status, __WALL | WNOHANG);
    if (r < 0 && errno != EINTR) return errno_error("waitpid");
    if (r == s.pid) {
      if (WIFEXITED(status) || WIFSIGNALED(status)) {
        state_.reset();
        return Error{fmt::format("process {} died during perfscope's call", s.pid), 0, {}};
      }
      const int sig = WSTOPSIG(status);
      if ((status >> 16) == 0 && sig == SIGSEGV) {
        user_regs_struct after{};
        if (::ptrace(PTRACE_GETREGS, s.pid, nullptr, &after) != 0)
          return errno_error("PTRACE_GETREGS");
        if (after.rip == 0) {
          if (auto st = s.restore(); !st) return st.error();
          return static_cast<std::uint64_t>(after.rax);
        }
        (void)s.restore();
        return Error{
            fmt::format("the call into process {} crashed at {:#x}", s.pid, after.rip), 0, {}};
      }
      if ((status >> 16) == 0) s.deferred.push_back(sig);  // delivered when we let go
      ::ptrace(PTRACE_CONT, s.pid, nullptr, nullptr);
      continue;
    }
    if (waited >= timeout_s * 1000L) {
      ::ptrace(PTRACE_INTERRUPT, s.pid, nullptr, nullptr);
      ::waitpid(s.pid, nullptr, __WALL);
      (void)s.restore();
      return Error{fmt::format("the call into process {} did not return in {} s", s.pid, timeout_s),
                   0, "  the process may be deadlocked in its allocator or dynamic loader"};
    }
    wait_ms(kStepMs);
  }
}

}  // namespace perfscope::heap
