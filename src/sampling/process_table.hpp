// ProcessTable: what each process looked like while it was sampled, so its addresses can be
// symbolized after it has exited.
//
// Seeded from /proc (comm, executable mappings) when a recording starts, then kept current from
// MMAP2 / COMM / FORK / EXIT records. exec() gives a process a new address space; samples are tied
// to the address space they were taken in (AddressSpaceId), so a process that exec()s is still
// symbolized correctly on both sides of the exec. Nothing is removed during a recording unless a
// live view asks (forget(): `top` drops exited processes it no longer shows).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/error.hpp"
#include "sampling/records.hpp"

namespace perfscope::sampling {

struct Mapping {
  std::uint64_t start = 0, end = 0, pgoff = 0;
  std::string path;        // "[vdso]", "//anon", or a file path as the kernel names it
  std::string build_id;    // lowercase hex from MMAP2, empty when the kernel did not send one
  bool from_proc = false;  // seeded from /proc/PID/maps rather than seen in an MMAP record
};

using AddressSpaceId = std::uint32_t;

struct AddressSpace {
  pid_t pid = 0;
  std::uint64_t generation = 0;   // grows with every space made (ids are reused after forget())
  std::string comm;               // the process name while it ran this program
  std::vector<Mapping> mappings;  // sorted by start, non-overlapping
  // The mapping containing `address`, or nullptr.
  const Mapping* find(std::uint64_t address) const;
  void insert(Mapping m);  // replaces whatever the new mapping overlaps, as mmap(MAP_FIXED) does
};

class ProcessTable {
 public:
  // Reads comm and executable mappings of `pid` (every process when pid is -1) from `proc_root`.
  // Processes that vanish meanwhile, or whose maps cannot be read (another user's), are skipped.
  void seed_from_proc(pid_t pid, const std::string& proc_root = "/proc");

  // Record handlers, in ring order.
  void on_mmap(const MmapRecord& m);
  void on_comm(const CommRecord& c);
  void on_fork(const TaskRecord& t);
  void on_exit(const TaskRecord& t);

  // The address space `pid` was running at `time` (perf clock), created on demand.
  AddressSpaceId space_of(pid_t pid, std::uint64_t time);
  const AddressSpace& space(AddressSpaceId id) const { return spaces_[id]; }

  // Records `comm` as the thread's name unless a COMM record or /proc already gave one.
  void learn_thread_comm(pid_t tid, std::string_view comm);
  // The thread's own name (set with prctl or at exec) when known, else its process's.
  std::string_view thread_comm(pid_t tid, AddressSpaceId space) const;
  // True when an EXIT record for the process (its main thread) was seen.
  bool exited(pid_t pid) const;

  // A live view's eviction. The processes whose EXIT record was seen.
  std::vector<pid_t> exited_processes() const;
  // Forgets a process: its address spaces (their ids are reused by later processes: the caller
  // must hold none of them), its name and the names of its threads. A sample of it that comes
  // later starts a new entry, as for a process never seen.
  void forget(pid_t pid);
  std::size_t processes_known() const { return processes_.size(); }
  std::size_t spaces_live() const { return spaces_.size() - free_spaces_.size(); }
  std::size_t threads_named() const { return thread_comms_.size(); }

 private:
  struct Image {
    std::uint64_t since = 0;  // perf clock time of the exec or fork that created it
    AddressSpaceId space = 0;
  };
  struct Process {
    std::vector<Image> images;   // in time order
    std::vector<pid_t> threads;  // threads other than the main one, as forks and COMMs named them
    bool exited = false;
  };
  AddressSpaceId new_space(pid_t pid, std::string comm);
  static void add_image(Process& proc, Image image);
  Process& process(pid_t pid);

  std::unordered_map<pid_t, Process> processes_;
  std::vector<AddressSpace> spaces_;
  std::vector<AddressSpaceId> free_spaces_;  // ids of forgotten spaces, reused first
  std::uint64_t generations_ = 0;
  std::unordered_map<pid_t, std::string> thread_comms_;
  // tid -> time of the COMM record that named it: a FORK read after a later COMM of the thread it
  // creates (another CPU's records, or a perf.data's) does not rename that thread back.
  std::unordered_map<pid_t, std::uint64_t> named_at_;
};

std::string build_id_hex(std::span<const std::uint8_t> bytes);

}  // namespace perfscope::sampling
