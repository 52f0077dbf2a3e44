#include "bpf/unwind_tables.hpp"

#include <bpf/bpf.h>
#include <fmt/format.h>
#include <linux/bpf.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "symbols/vdso.hpp"
#include "unwind/cfi_table.hpp"
#include "unwind_abi.h"

namespace perfscope::bpf {
namespace {

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// A row in the kernel's 8-byte form; offsets that do not fit make it unsupported.
ps_kernel_row to_kernel(const ps_unwind_row& r) {
  ps_kernel_row k{};
  k.pc = r.pc;
  std::uint8_t kind = r.cfa_kind;
  std::uint8_t rbp = r.rbp_kind;
  if (kind == PS_CFA_RSP || kind == PS_CFA_RBP) {
    if (r.cfa_offset % 8 != 0 || r.cfa_offset / 8 < INT16_MIN || r.cfa_offset / 8 > INT16_MAX) {
      kind = PS_CFA_UNSUPPORTED;
    } else {
      k.cfa8 = static_cast<std::int16_t>(r.cfa_offset / 8);
    }
  } else if (kind == PS_CFA_PLT) {
    k.cfa8 = static_cast<std::int16_t>(r.cfa_offset);
  }
  if (rbp == PS_RBP_AT_CFA) {
    if (r.rbp_offset % 8 != 0 || r.rbp_offset / 8 < INT8_MIN || r.rbp_offset / 8 > INT8_MAX) {
      kind = PS_CFA_UNSUPPORTED;
      rbp = PS_RBP_SAME;
    } else {
      k.rbp8 = static_cast<std::int8_t>(r.rbp_offset / 8);
    }
  }
  if (kind == PS_CFA_UNSUPPORTED) {
    k.cfa8 = 0;
    k.rbp8 = 0;
    rbp = PS_RBP_SAME;
  }
  k.kinds = static_cast<std::uint8_t>(kind | (rbp << 4));
  return k;
}

struct MapsLine {
  std::uint64_t start = 0, end = 0, pgoff = 0, inode = 0;
  std::string dev, path;
  bool exec = false;
};

std::vector<MapsLine> read_exec_mappings(pid_t pid) {
  std::vector<MapsLine> out;
  std::ifstream in(fmt::format("/proc/{}/maps", pid));
  std::string line;
  while (std::getline(in, line)) {
    MapsLine m;
    char perms[8] = {};
    char dev[32] = {};
    int path_at = 0;
    unsigned long long start = 0, end = 0, pgoff = 0, inode = 0;
    if (std::sscanf(line.c_str(), "%llx-%llx %7s %llx %31s %llu %n", &start, &end, perms, &pgoff,
                    dev, &inode, &path_at) < 6) {
      continue;
    }
    if (perms[2] != 'x') continue;
    m.start = start;
    m.end = end;
    m.pgoff = pgoff;
    m.inode = inode;
    m.dev = dev;
    if (path_at > 0 && static_cast<std::size_t>(path_at) <= line.size())
      m.path = line.substr(path_at);
    m.exec = true;
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace

struct UnwindTables::File {
  std::string key;
  std::string path;  // as the process names it
  std::string open_path;
  std::uint32_t id = PS_NO_TABLE;
  bool compiled = false;
  bool queued = false;  // with the compiling thread
  bool failed = false;
  bool loaded = false;  // its rows are in the kernel
  std::vector<ps_kernel_row> rows;
  std::vector<unwind::LoadSegment> segments;
  std::set<pid_t> waiting;  // processes to refresh once it is compiled
};

// What the compiling thread hands back.
struct UnwindTables::Compiled {
  std::string key;
  std::string error;  // empty: rows and segments hold the table
  std::vector<ps_kernel_row> rows;
  std::vector<unwind::LoadSegment> segments;
  bool from_cache = false;
};

namespace {}  // namespace

std::string UnwindTables::default_cache_dir() {
  if (const char* dir = std::getenv("PERFSCOPE_UNWIND_CACHE"); dir != nullptr && dir[0] != '\0') {
    return std::string_view(dir) == "off" ? std::string() : std::string(dir);
  }
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && xdg[0] == '/') {
    return std::string(xdg) + "/perfscope/unwind";
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && home[0] == '/') {
    return std::string(home) + "/.cache/perfscope/unwind";
  }
  return {};
}

// The table of the file at `path`: from the cache when it holds this version of the file, else
// compiled (and cached).
UnwindTables::Compiled UnwindTables::build(const std::string& key, const std::string& path,
                                           const std::string& cache_dir) {
  Compiled done;
  done.key = key;
  // The vdso's image is a copy made per run (its identity changes every time, so a cached table
  // would never be read again, and each write would make the cache trim itself): not cached.
  const bool cacheable = key != "[vdso]";
  if (auto t = cacheable ? unwind_cache::read(cache_dir, path) : std::nullopt) {
    done.rows = std::move(t->rows);
    done.segments = std::move(t->segments);
    done.from_cache = true;
    return done;
  }
  auto table = unwind::compile_cfi_table(path);
  if (!table) {
    done.error = table.error().message();
    return done;
  }
  done.segments = table->segments;
  done.rows.reserve(table->rows.size());
  for (const auto& r : table->rows) done.rows.push_back(to_kernel(r));
  if (done.rows.empty()) {
    done.error = "its CFI has no rows";
    return done;
  }
  if (cacheable) {
    (void)unwind_cache::write(cache_dir, path, unwind_cache::Table{done.rows, done.segments});
  }
  return done;
}

UnwindTables::UnwindTables(Maps maps, std::uint64_t limit_bytes, std::string cache_dir)
    : maps_(maps),
      limit_bytes_(limit_bytes),
      cache_dir_(std::move(cache_dir)),
      thread_([this] { worker(); }) {}

UnwindTables::~UnwindTables() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void UnwindTables::worker() {
  // Building tables must not take CPU from the programs being profiled.
  (void)setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10);
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    auto [size, key, path] = *queue_.begin();
    queue_.erase(queue_.begin());
    busy_ = true;
    lock.unlock();
    const double start = thread_cpu_seconds();
    Compiled done = build(key, path, cache_dir_);
    const double used = thread_cpu_seconds() - start;
    lock.lock();
    worker_cpu_s_ += used;
    done_.push_back(std::move(done));
    busy_ = false;
    idle_.notify_all();
  }
}

std::string UnwindTables::file_of(std::uint32_t table) const {
  if (table < by_table_.size() && by_table_[table] != nullptr) return by_table_[table]->path;
  return {};
}

UnwindTables::File* UnwindTables::file_for(const std::string& key, const std::string& path,
                                           const std::string& open_path) {
  auto& slot = files_[key];
  if (slot) return slot.get();
  std::uint32_t id = 0;
  if (!free_ids_.empty()) {
    id = free_ids_.back();
    free_ids_.pop_back();
  } else if (by_table_.size() < PS_MAX_TABLES) {
    id = static_cast<std::uint32_t>(by_table_.size());
    by_table_.push_back(nullptr);
  } else {
    files_.erase(key);
    return nullptr;  // every id taken: this file gets no table
  }
  slot = std::make_unique<File>();
  slot->key = key;
  slot->path = path;
  slot->open_path = open_path;
  slot->id = id;
  by_table_[id] = slot.get();
  ++stats_.files;
  return slot.get();
}

void UnwindTables::unload(File& file) {
  if (!file.loaded) return;
  (void)bpf_map_delete_elem(maps_.tables, &file.id);
  const std::uint64_t bytes = file.rows.size() * sizeof(ps_kernel_row);
  stats_.bytes -= std::min(stats_.bytes, bytes);
  stats_.rows -= std::min<std::uint64_t>(stats_.rows, file.rows.size());
  stats_.bytes_by_file.erase(file.path);
  file.loaded = false;
}

// Frees room for `bytes` more by evicting the tables the program used least recently.
void UnwindTables::evict_for(std::uint64_t bytes, const File* keep) {
  if (stats_.bytes + bytes <= limit_bytes_) return;
  std::vector<std::pair<std::uint64_t, File*>> order;
  for (File* f : by_table_) {
    if (f == nullptr || !f->loaded || f == keep) continue;
    std::uint64_t used = 0;
    (void)bpf_map_lookup_elem(maps_.last_use, &f->id, &used);
    order.emplace_back(used, f);
  }
  std::sort(order.begin(), order.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [used, f] : order) {
    if (stats_.bytes + bytes <= limit_bytes_) break;
    unload(*f);
    ++stats_.evictions;
  }
}

void UnwindTables::take_compiled(Compiled&& done) {
  auto it = files_.find(done.key);
  if (it == files_.end()) return;
  File& file = *it->second;
  file.queued = false;
  file.compiled = true;
  if (!done.error.empty()) {
    file.failed = true;
    stats_.failures[file.path] = done.error;
    ++stats_.tables_failed;
  } else {
    file.segments = std::move(done.segments);
    file.rows = std::move(done.rows);
    if (done.from_cache) ++stats_.tables_from_cache;
  }
  for (pid_t pid : file.waiting) changed_.insert(pid);
  file.waiting.clear();
}

void UnwindTables::queue(File& file) {
  if (file.queued || file.compiled) return;
  file.queued = true;
  struct stat st {};
  const std::uint64_t size =
      ::stat(file.open_path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
  {
    std::lock_guard lock(mutex_);
    queue_.emplace(size, file.key, file.open_path);
  }
  wake_.notify_one();
}

bool UnwindTables::ensure_loaded(File& file, pid_t waiting) {
  if (file.failed) return false;
  if (file.loaded) return true;
  if (!file.compiled) {
    if (waiting != 0) file.waiting.insert(waiting);
    queue(file);
    return false;
  }
  const std::uint64_t bytes = file.rows.size() * sizeof(ps_kernel_row);
  if (bytes > limit_bytes_) {
    file.failed = true;
    stats_.failures[file.path] = fmt::format(
        "its table ({} KiB) is larger than the limit (--unwind-table-limit)", bytes >> 10);
    ++stats_.tables_failed;
    return false;
  }
  evict_for(bytes, &file);
  LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_INNER_MAP);
  const auto n = static_cast<std::uint32_t>(file.rows.size());
  const int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "ps_unwind_rows", sizeof(std::uint32_t),
                                sizeof(ps_kernel_row), n, &opts);
  if (fd < 0) {
    stats_.failures[file.path] =
        fmt::format("the kernel refused a {}-row table: {}", n, std::strerror(errno));
    file.failed = true;
    ++stats_.tables_failed;
    return false;
  }
  std::vector<std::uint32_t> keys(n);
  for (std::uint32_t i = 0; i < n; ++i) keys[i] = i;
  std::uint32_t count = n;
  int rc = bpf_map_update_batch(fd, keys.data(), file.rows.data(), &count, nullptr);
  if (rc != 0) {  // kernels without batch operations
    rc = 0;
    for (std::uint32_t i = 0; i < n && rc == 0; ++i) {
      rc = bpf_map_update_elem(fd, &keys[i], &file.rows[i], BPF_ANY);
    }
  }
  if (rc == 0) rc = bpf_map_update_elem(maps_.tables, &file.id, &fd, BPF_ANY);
  const int e = errno;
  ::close(fd);  // the table map holds its own reference
  if (rc != 0) {
    stats_.failures[file.path] = fmt::format("loading its table failed: {}", std::strerror(e));
    file.failed = true;
    ++stats_.tables_failed;
    return false;
  }
  file.loaded = true;
  stats_.bytes += bytes;
  stats_.rows += n;
  stats_.peak_bytes = std::max(stats_.peak_bytes, stats_.bytes);
  stats_.bytes_by_file[file.path] = bytes;
  ++stats_.tables_loaded;
  return true;
}

void UnwindTables::load_process(pid_t pid) {
  const double cpu_start = thread_cpu_seconds();
  auto lines = read_exec_mappings(pid);
  auto proc = std::make_unique<ps_proc_unwind>();
  std::memset(proc.get(), 0, sizeof(*proc));
  const auto key = static_cast<std::uint32_t>(pid);
  if (lines.empty()) {
    // Gone, or a kernel thread: nothing to walk. An entry with no mappings stops the program
    // from asking again while the process lives.
    (void)bpf_map_update_elem(maps_.procs, &key, proc.get(), BPF_ANY);
    loaded_.insert(pid);
    return;
  }
  for (const MapsLine& m : lines) {
    if (proc->count >= PS_MAX_MAPPINGS) {
      ++stats_.mappings_over_limit;
      break;
    }
    ps_exec_mapping& out = proc->mappings[proc->count];
    out.start = m.start;
    out.end = m.end;
    out.table = PS_NO_TABLE;
    File* file = nullptr;
    if (m.path == "[vdso]") {
      const std::string& image = symbols::vdso_image_path();
      if (!image.empty()) file = file_for("[vdso]", "[vdso]", image);
    } else if (!m.path.empty() && m.path.front() == '/' && m.inode != 0 &&
               m.path.find(" (deleted)") == std::string::npos) {
      // The path as this process sees it; perfscope's own view of it when that is the same file
      // (a short-lived process's /proc/PID/root is gone by the time the file is compiled).
      const std::string file_key = m.dev + ":" + std::to_string(m.inode);
      struct stat st {};
      const bool same = ::stat(m.path.c_str(), &st) == 0 && st.st_ino == m.inode &&
                        fmt::format("{:02x}:{:02x}", major(st.st_dev), minor(st.st_dev)) == m.dev;
      file =
          file_for(file_key, m.path, same ? m.path : fmt::format("/proc/{}/root{}", pid, m.path));
    }
    if (file != nullptr) {
      out.table = file->id;
      if (ensure_loaded(*file, pid)) {
        // pc - bias is the ELF address: the segment the mapping's offset falls in says how.
        const unwind::LoadSegment* seg = nullptr;
        for (const auto& s : file->segments) {
          if (m.pgoff >= s.offset && m.pgoff < s.offset + std::max(s.filesz, std::uint64_t{1})) {
            if (seg == nullptr || (s.executable && !seg->executable)) seg = &s;
          }
        }
        if (seg != nullptr) {
          out.bias = m.start - m.pgoff + seg->offset - seg->vaddr;
          out.rows = static_cast<std::uint32_t>(file->rows.size());
        } else if (m.path == "[vdso]" && !file->segments.empty()) {
          out.bias = m.start - file->segments.front().vaddr + file->segments.front().offset;
          out.rows = static_cast<std::uint32_t>(file->rows.size());
        }
      } else if (file->queued) {
        out.table |= PS_TABLE_PENDING;  // compiling: frame pointers until the refresh
      }
    }
    ++proc->count;
  }
  (void)bpf_map_update_elem(maps_.procs, &key, proc.get(), BPF_ANY);
  loaded_.insert(pid);
  ++stats_.processes_loaded;
  stats_.compile_cpu_s += thread_cpu_seconds() - cpu_start;
}

void UnwindTables::prepare(const std::string& path) {
  struct stat st {};
  if (path.empty() || ::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return;
  // Scripts (a shell shim in front of the real program) have nothing to compile.
  static constexpr char kElfMagic[4] = {0x7f, 'E', 'L', 'F'};
  char magic[4] = {};
  std::ifstream in(path, std::ios::binary);
  if (!in.read(magic, 4) || std::memcmp(magic, kElfMagic, 4) != 0) return;
  // The key /proc/PID/maps will give: "major:minor:inode" as it prints the device (hex, 2 digits).
  const std::string key = fmt::format("{:02x}:{:02x}:{}", major(st.st_dev), minor(st.st_dev),
                                      static_cast<std::uint64_t>(st.st_ino));
  File* file = file_for(key, path, path);
  if (file == nullptr || file->compiled || file->queued) return;
  // From the cache at once when it holds the file (a read: milliseconds), so the command's first
  // samples are walked; else on the compiling thread.
  if (auto cached = unwind_cache::read(cache_dir_, path)) {
    take_compiled(Compiled{key, "", std::move(cached->rows), std::move(cached->segments), true});
    return;
  }
  queue(*file);
}

void UnwindTables::prepare_common_libraries() {
  for (const MapsLine& m : read_exec_mappings(::getpid())) {
    const auto slash = m.path.rfind('/');
    const std::string name = slash == std::string::npos ? m.path : m.path.substr(slash + 1);
    if (name.starts_with("libc.so") || name.starts_with("ld-linux")) prepare(m.path);
  }
}

void UnwindTables::prepare_start(const std::vector<pid_t>& targets,
                                 const std::vector<std::string>& files, double max_seconds) {
  for (pid_t pid : targets) load_process(pid);
  if (!files.empty()) {
    prepare_common_libraries();
    for (const auto& path : files) prepare(path);
  }
  settle(max_seconds);
}

void UnwindTables::settle(double max_seconds) {
  {
    std::unique_lock lock(mutex_);
    idle_.wait_for(lock, std::chrono::duration<double>(max_seconds),
                   [this] { return queue_.empty() && !busy_; });
  }
  poll();
}

void UnwindTables::poll() {
  // Tables the compiling thread finished: the processes waiting for them are refreshed below.
  std::vector<Compiled> done;
  {
    std::lock_guard lock(mutex_);
    done.swap(done_);
    stats_.compile_cpu_s += worker_cpu_s_;
    worker_cpu_s_ = 0;
  }
  for (auto& d : done) take_compiled(std::move(d));
  // The processes the program sampled without an entry.
  std::vector<std::uint32_t> wanted;
  std::uint32_t key = 0, next = 0;
  const std::uint32_t* prev = nullptr;
  while (bpf_map_get_next_key(maps_.wanted, prev, &next) == 0) {
    wanted.push_back(next);
    key = next;
    prev = &key;
  }
  for (std::uint32_t pid : wanted) {
    load_process(static_cast<pid_t>(pid));
    changed_.erase(static_cast<pid_t>(pid));
    (void)bpf_map_delete_elem(maps_.wanted, &pid);
  }
  for (pid_t pid : changed_) {
    if (!loaded_.contains(pid)) continue;  // loaded when first sampled
    if (::kill(pid, 0) != 0 && errno == ESRCH) {
      const auto k = static_cast<std::uint32_t>(pid);
      (void)bpf_map_delete_elem(maps_.procs, &k);
      loaded_.erase(pid);
      continue;
    }
    load_process(pid);
  }
  changed_.clear();
}

}  // namespace perfscope::bpf
