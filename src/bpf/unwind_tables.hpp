// UnwindTables: the user-space half of the in-kernel native unwinder. It compiles each executable
// file's CFI once (unwind::compile_cfi_table), loads it into the BPF table map as an array of
// rows sized to fit, and tells the program, per process, which table covers which executable
// mapping. Processes are loaded when the program first samples them (it names them in
// `unwind_wanted` and uses frame pointers meanwhile) and again when they map new code.
//
// Files are compiled on a thread of their own: a process is loaded at once with the tables that
// are ready (frame pointers in the others), and again when the rest are. So one big binary never
// holds up the small ones.
//
// Tables are shared: two processes that map the same file (same device and inode) use one table.
// Their memory is bounded: when a new table would pass the limit, the least recently sampled
// tables are evicted (the program then uses frame pointers in them, and counts it).
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "bpf/unwind_cache.hpp"
#include "unwind/cfi_table.hpp"
#include "unwind_abi.h"

namespace perfscope::bpf {

struct UnwindTableStats {
  std::uint64_t processes_loaded = 0;   // process loads (first ones and refreshes)
  std::uint64_t files = 0;              // distinct files seen
  std::uint64_t tables_loaded = 0;      // tables put in the kernel (reloads after eviction too)
  std::uint64_t tables_failed = 0;      // files without a usable table
  std::uint64_t tables_from_cache = 0;  // read from the cache instead of compiled
  std::uint64_t evictions = 0;
  std::uint64_t bytes = 0;                // table bytes in BPF maps now
  std::uint64_t peak_bytes = 0;           // the most held at once
  std::uint64_t rows = 0;                 // rows in BPF maps now
  std::uint64_t mappings_over_limit = 0;  // executable mappings past PS_MAX_MAPPINGS per process
  double compile_cpu_s = 0;               // thread CPU time compiling and loading tables
  // Per loaded file: its bytes in the kernel (the largest first in reports).
  std::map<std::string, std::uint64_t> bytes_by_file;
  // Files without a table, with why (no CFI, unreadable, above 4 GiB...).
  std::map<std::string, std::string> failures;
};

class UnwindTables {
 public:
  // The maps of the loaded profile program (file descriptors stay owned by the skeleton).
  struct Maps {
    int tables = -1;    // unwind_tables (array of maps)
    int procs = -1;     // unwind_procs
    int wanted = -1;    // unwind_wanted
    int last_use = -1;  // table_last_use
  };
  // `cache_dir`: where compiled tables are kept between recordings ("" for none).
  UnwindTables(Maps maps, std::uint64_t limit_bytes, std::string cache_dir);
  // $PERFSCOPE_UNWIND_CACHE ("off": none), else $XDG_CACHE_HOME/perfscope/unwind, else
  // ~/.cache/perfscope/unwind.
  static std::string default_cache_dir();
  const std::string& cache_dir() const { return cache_dir_; }

  ~UnwindTables();
  UnwindTables(const UnwindTables&) = delete;
  UnwindTables& operator=(const UnwindTables&) = delete;

  // Reads /proc/PID/maps and (re)writes the process's entry, loading the tables it needs.
  void load_process(pid_t pid);
  // The process mapped new code, exec()ed, or exited: refresh (or drop) it at the next poll().
  void mark_changed(pid_t pid) { changed_.insert(pid); }
  // Loads the processes the program asked for and refreshes the changed ones.
  void poll();
  // Starts compiling the table of the file at `path` ahead of any process mapping it (a
  // command's program and the libraries it will map), so its first samples are walked too.
  void prepare(const std::string& path);
  // prepare() for the libc and dynamic loader this process maps (nearly every program maps them).
  void prepare_common_libraries();
  // Waits (up to `max_seconds`) for the compiling thread to finish what is queued, then poll()s:
  // before a recording starts, so the processes named up front are walked from their first
  // sample.
  void settle(double max_seconds);
  // Before a recording starts: loads the processes named up front (`targets`), prepares `files`
  // (a command's program) with the common libraries, then settle()s, so the first samples of
  // all of them are walked too; a huge binary past the bound is walked once its table is done.
  void prepare_start(const std::vector<pid_t>& targets, const std::vector<std::string>& files,
                     double max_seconds);

  // The file behind a table id, for per-module stop counts ("" when unknown).
  std::string file_of(std::uint32_t table) const;
  const UnwindTableStats& stats() const { return stats_; }
  std::uint64_t limit_bytes() const { return limit_bytes_; }
  // The maps it fills, for a second program that walks with the same tables (reuse_fd).
  const Maps& maps() const { return maps_; }

 private:
  struct File;
  struct Compiled;
  File* file_for(const std::string& key, const std::string& path, const std::string& open_path);
  // True when the file's rows are in the kernel; false when it has no table or is still being
  // compiled (it is then queued, and `waiting`, a process, refreshed when it is done).
  bool ensure_loaded(File& file, pid_t waiting = 0);
  void queue(File& file);  // for the compiling thread, unless it is done or queued
  void take_compiled(Compiled&& done);
  static Compiled build(const std::string& key, const std::string& path,
                        const std::string& cache_dir);
  void worker();
  void evict_for(std::uint64_t bytes, const File* keep);
  void unload(File& file);

  Maps maps_;
  std::uint64_t limit_bytes_;
  std::string cache_dir_;
  std::map<std::string, std::unique_ptr<File>> files_;  // by "dev:inode" (or "[vdso]")
  std::vector<File*> by_table_;                         // table id -> file
  std::vector<std::uint32_t> free_ids_;
  std::set<pid_t> changed_;
  std::set<pid_t> loaded_;  // processes with an entry
  UnwindTableStats stats_;

  // The compiling thread: paths in, results out, under one mutex.
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;  // the compiling thread finished a file
  bool busy_ = false;             // the compiling thread holds a file
  // (file size, key, open path): the smallest first, so a big binary never holds up the rest.
  std::set<std::tuple<std::uint64_t, std::string, std::string>> queue_;
  std::vector<Compiled> done_;
  double worker_cpu_s_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace perfscope::bpf
