// The mark phase of scan_reachable, then memcheck's clique pass over the unreached blocks.
// Beyond the header's outline:
//  - only resident pages of private roots are read (see Residency), so sparse reservations such
//    as sanitizer shadow memory cost nothing;
//  - a thread's stack is scanned from its stack pointer up (less the red zone), read from
//    /proc/PID/task/TID/syscall, so dead frames do not hide leaks; registers are not scanned;
//  - a process that exits during the scan, or whose memory turns out not to be ours to read,
//    ends the scan with an Error rather than a result that would call every block lost.
// The target's memory is read one chunk at a time into one buffer: memory stays bounded.
#include "heap/reachability.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "core/files.hpp"
#include "core/unique_fd.hpp"

namespace perfscope::heap {
namespace {

constexpr std::uint64_t kWord = sizeof(std::uint64_t);
// One read: bounds the memory the scan holds, whatever the size of a root or a block.
constexpr std::uint64_t kChunkBytes = std::uint64_t{1} << 20;
// The x86-64 ABI lets a function keep data up to 128 bytes below its stack pointer.
constexpr std::uint64_t kRedZone = 128;

constexpr const char* kPtraceHint =
    "reading another process's memory needs the same user and ptrace permission (Yama "
    "ptrace_scope, CAP_SYS_PTRACE)";

// PAGEMAP_SCAN (Linux 6.7, include/uapi/linux/fs.h), spelled out because older kernel headers
// lack it; the layout is kernel ABI.
struct PageRegion {
  std::uint64_t start = 0, end = 0, categories = 0;
};
struct PmScanArg {
  std::uint64_t size = sizeof(PmScanArg), flags = 0, start = 0, end = 0, walk_end = 0, vec = 0,
                vec_len = 0, max_pages = 0, category_inverted = 0, category_mask = 0,
                category_anyof_mask = 0, return_mask = 0;
};
static_assert(sizeof(PmScanArg) == 96 && sizeof(PageRegion) == 24);
constexpr unsigned long kPagemapScan = _IOWR('f', 16, PmScanArg);
constexpr std::uint64_t kPageIsPresent = 1u << 3, kPageIsSwapped = 1u << 4;
// /proc/PID/pagemap entry bits.
constexpr std::uint64_t kEntryPresent = std::uint64_t{1} << 63,
                        kEntrySwapped = std::uint64_t{1} << 62;

std::uint64_t round_down(std::uint64_t v, std::uint64_t align) {
  return v - v % align;
}
std::uint64_t round_up(std::uint64_t v, std::uint64_t align) {
  return round_down(v + align - 1, align);
}

// One line of /proc/PID/maps.
struct Mapping {
  std::uint64_t begin = 0, end = 0;
  bool readable = false, writable = false, shared = false;
  std::string_view name;  // path or [special]; empty for anonymous memory
};

std::string_view take_field(std::string_view& s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  const std::size_t n = std::min(s.find(' '), s.size());
  const std::string_view field = s.substr(0, n);
  s.remove_prefix(n);
  return field;
}

bool parse_hex(std::string_view s, std::uint64_t& out) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out, 16);
  return ec == std::errc{} && end == s.data() + s.size();
}

// Views into `text`, in address order (the kernel's order).
std::vector<Mapping> parse_maps(std::string_view text) {
  std::vector<Mapping> maps;
  while (!text.empty()) {
    const std::size_t eol = std::min(text.find('\n'), text.size());
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(std::min(eol + 1, text.size()));
    const std::string_view range = take_field(line);
    const std::string_view perms = take_field(line);
    for (int i = 0; i < 3; ++i) take_field(line);  // offset, device, inode
    const std::size_t dash = range.find('-');
    Mapping m;
    if (dash == std::string_view::npos || perms.size() < 4 ||
        !parse_hex(range.substr(0, dash), m.begin) || !parse_hex(range.substr(dash + 1), m.end) ||
        m.end <= m.begin) {
      continue;
    }
    m.readable = perms[0] == 'r';
    m.writable = perms[1] == 'w';
    m.shared = perms[3] == 's';
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    m.name = line;
    maps.push_back(m);
  }
  return maps;
}

// Writable memory that may hold pointers the program still uses. [heap] holds malloc's own
// bookkeeping and freed chunks, which would make lost blocks look reachable. Device mappings are
// skipped: reading them can have side effects and they hold no heap pointers.
bool may_be_root(const Mapping& m) {
  if (!m.readable || !m.writable) return false;
  if (m.name == "[heap]" || m.name == "[vsyscall]" || m.name.starts_with("[vvar")) return false;
  if (m.name.starts_with("/dev/") && !m.name.starts_with("/dev/zero") &&
      !m.name.starts_with("/dev/shm/")) {
    return false;
  }
  return true;
}

// The stack pointer of every thread blocked in (or stopped outside) a system call, from
// /proc/PID/task/TID/syscall ("nr args... sp pc", or "-1 sp pc"; "running" tells nothing).
std::vector<std::uint64_t> thread_stack_pointers(int pid) {
  std::vector<std::uint64_t> sps;
  const std::string task_dir = "/proc/" + std::to_string(pid) + "/task/";
  auto tids = list_directory(task_dir);
  if (!tids) return sps;
  for (const std::string& tid : *tids) {
    auto text = read_text_file(task_dir + tid + "/syscall");
    if (!text) continue;
    std::vector<std::string_view> fields;
    std::string_view rest = *text;
    while (!rest.empty() && rest.back() == '\n') rest.remove_suffix(1);
    for (std::string_view f = take_field(rest); !f.empty(); f = take_field(rest)) {
      fields.push_back(f);
    }
    std::uint64_t sp = 0;
    if (fields.size() >= 3 && fields[fields.size() - 2].starts_with("0x") &&
        parse_hex(fields[fields.size() - 2].substr(2), sp) && sp != 0) {
      sps.push_back(sp);
    }
  }
  return sps;
}

struct Range {
  std::uint64_t begin = 0, end = 0;
  bool is_private = true;  // non-resident pages read as zeros or as the unmodified file
};

// `blocks` must be sorted and disjoint. A zero-size block still owns its address, the way
// malloc(0) returns a unique pointer.
class BlockIndex {
 public:
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

  explicit BlockIndex(const std::vector<LiveBlock>& blocks) : blocks_(blocks) {
    low_ = blocks.front().address;
    high_ = end_of(blocks.back());
  }

  static std::uint64_t end_of(const LiveBlock& b) {
    return b.address + std::max<std::uint64_t>(b.size, 1);
  }

  // The index of the block holding `value`, or npos.
  std::size_t find(std::uint64_t value) const {
    if (value < low_ || value >= high_) return npos;
    const auto after =
        std::upper_bound(blocks_.begin(), blocks_.end(), value,
                         [](std::uint64_t v, const LiveBlock& b) { return v < b.address; });
    if (after == blocks_.begin()) return npos;
    const auto& b = *(after - 1);
    return value < end_of(b) ? static_cast<std::size_t>(after - 1 - blocks_.begin()) : npos;
  }

  // Calls visit(block) for every block overlapping [begin, end), in address order.
  template <typename Visit>
  void for_each_overlapping(std::uint64_t begin, std::uint64_t end, Visit&& visit) const {
    auto it = std::partition_point(blocks_.begin(), blocks_.end(),
                                   [&](const LiveBlock& b) { return end_of(b) <= begin; });
    for (; it != blocks_.end() && it->address < end; ++it) visit(*it);
  }

 private:
  const std::vector<LiveBlock>& blocks_;
  std::uint64_t low_ = 0, high_ = 0;
};

// Reads the target's memory with process_vm_readv, or with pread on /proc/PID/mem where that
// system call is filtered out (seccomp answers ENOSYS or EPERM; a real permission problem fails
// the open of /proc/PID/mem too, since both need ptrace access).
class RemoteMemory {
 public:
  explicit RemoteMemory(int pid) : pid_(pid) {}

  // Bytes read from the start of [address, address + len) (> 0; a short count stops at the first
  // page that cannot be read), or -errno.
  long read_some(std::uint64_t address, std::byte* out, std::size_t len) {
    if (!mem_) {
      iovec local{out, len};
      iovec remote{reinterpret_cast<void*>(address), len};
      const ssize_t n = ::process_vm_readv(pid_, &local, 1, &remote, 1, 0);
      if (n > 0) return n;
      if (n == 0) return -EFAULT;
      if (errno != ENOSYS && errno != EPERM) return -errno;
      const std::string path = "/proc/" + std::to_string(pid_) + "/mem";
      const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return errno == ENOENT ? -ESRCH : -errno;  // EACCES when not permitted
      mem_.reset(fd);
    }
    for (;;) {
      const ssize_t n = ::pread(mem_.get(), out, len, static_cast<off_t>(address));
      if (n > 0) return n;
      if (n == 0) return -ESRCH;  // the address space is gone: the process exited
      if (errno != EINTR) return -errno;
    }
  }

 private:
  int pid_;
  UniqueFd mem_;  // open once process_vm_readv has been refused
};

// Which pages of a private mapping hold data: present or swapped. Any other private page reads
// as zeros (anonymous memory) or as the unmodified file, so holds no pointer into the heap;
// skipping it keeps the scan from faulting in page tables across sparse reservations (sanitizer
// shadow memory spans terabytes). PAGEMAP_SCAN (Linux 6.7) answers in runs and skips unpopulated
// page tables; older kernels give one pagemap entry per page.
class Residency {
 public:
  Residency(int pid, std::uint64_t page_size)
      : page_size_(page_size),
        pagemap_(
            ::open(("/proc/" + std::to_string(pid) + "/pagemap").c_str(), O_RDONLY | O_CLOEXEC)) {}

  // Calls visit(begin, end) for the resident runs of [begin, end) in address order, or once for
  // the whole range when residency cannot be told. Stops early when visit returns false.
  template <typename Visit>
  void for_each_run(std::uint64_t begin, std::uint64_t end, Visit&& visit) {
    if (!pagemap_) {
      visit(begin, end);
      return;
    }
    std::uint64_t at = round_down(begin, page_size_);
    const std::uint64_t page_end = round_up(end, page_size_);
    auto clipped = [&](std::uint64_t b, std::uint64_t e) {
      b = std::max(b, begin);
      e = std::min(e, end);
      return b >= e || visit(b, e);
    };
    if (scan_ioctl_ && !scan_runs(at, page_end, clipped)) return;
    if (at < page_end) read_entries(at, page_end, clipped);
  }

 private:
  // Runs from PAGEMAP_SCAN; advances `at` past what it covered. False when visit stopped.
  template <typename Visit>
  bool scan_runs(std::uint64_t& at, std::uint64_t end, Visit& visit) {
    PageRegion regions[64];
    while (at < end) {
      PmScanArg arg;
      arg.start = at;
      arg.end = end;
      arg.vec = reinterpret_cast<std::uint64_t>(&regions[0]);
      arg.vec_len = std::size(regions);
      arg.category_anyof_mask = kPageIsPresent | kPageIsSwapped;
      arg.return_mask = kPageIsPresent | kPageIsSwapped;
      const int n = ::ioctl(pagemap_.get(), kPagemapScan, &arg);
      if (n < 0) {
        if (errno == EINTR) continue;
        scan_ioctl_ = false;  // older kernel (EINVAL, ENOTTY): read entries from here on
        return true;
      }
      for (int i = 0; i < n; ++i) {
        if (!visit(regions[i].start, regions[i].end)) return false;
      }
      if (arg.walk_end <= at) {  // no progress: let the entry reader finish
        scan_ioctl_ = false;
        return true;
      }
      at = arg.walk_end;
    }
    return true;
  }

  // Runs from pagemap entries, one window (the size of a read chunk) at a time.
  template <typename Visit>
  void read_entries(std::uint64_t at, std::uint64_t end, Visit& visit) {
    constexpr std::size_t kEntries = 256;
    std::uint64_t entries[kEntries];
    constexpr std::uint64_t kNoRun = ~std::uint64_t{0};
    std::uint64_t run_begin = kNoRun;  // start of the resident run being collected
    while (at < end) {
      const std::size_t want =
          static_cast<std::size_t>(std::min<std::uint64_t>(kEntries, (end - at) / page_size_));
      const ssize_t n = ::pread(pagemap_.get(), entries, want * sizeof entries[0],
                                static_cast<off_t>(at / page_size_ * sizeof entries[0]));
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        visit(std::min(run_begin, at), end);  // cannot tell: read the rest
        return;
      }
      const std::size_t got = static_cast<std::size_t>(n) / sizeof entries[0];
      for (std::size_t i = 0; i < got; ++i, at += page_size_) {
        const bool resident = (entries[i] & (kEntryPresent | kEntrySwapped)) != 0;
        if (resident && run_begin == kNoRun) run_begin = at;
        if (!resident && run_begin != kNoRun) {
          if (!visit(run_begin, at)) return;
          run_begin = kNoRun;
        }
      }
    }
    if (run_begin != kNoRun) visit(run_begin, end);
  }

  std::uint64_t page_size_;
  UniqueFd pagemap_;
  bool scan_ioctl_ = true;
};

// The mark phase: reads roots and reachable blocks a chunk at a time and marks every block an
// aligned word points into.
class Marker {
 public:
  Marker(int pid, const std::vector<LiveBlock>& blocks, const std::vector<Mapping>& maps,
         ReachabilityResult& result)
      : pid_(pid),
        blocks_(blocks),
        index_(blocks),
        maps_(maps),
        result_(result),
        memory_(pid),
        page_size_(static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE))),
        residency_(pid, page_size_),
        buffer_(kChunkBytes / kWord) {}

  void scan_root(const Range& root) {
    source_ = Source::root;
    if (!root.is_private) {
      scan_range(root.begin, root.end);
      return;
    }
    residency_.for_each_run(root.begin, root.end, [&](std::uint64_t b, std::uint64_t e) {
      scan_range(b, e);
      return !fatal_;
    });
  }

  // Scans every block marked so far, and those they mark, until none is left. A block marked
  // possibly lost and later found through a start pointer is scanned again, as still reachable:
  // each block is scanned at most twice.
  void drain() {
    while (!worklist_.empty() && !fatal_) {
      const std::size_t i = worklist_.back();
      worklist_.pop_back();
      source_ = state_[i] == State::reachable ? Source::definite : Source::possible;
      scan_block(i);
    }
  }

  // memcheck's clique pass: each block nothing reached, in address order, leads a clique of the
  // unreached blocks it leads to (start or interior pointers), which are indirectly lost; a leader
  // reached from a later one joins that one's clique. The leaders left are definitely lost.
  void find_cliques() {
    source_ = Source::clique;
    for (std::size_t leader = 0; leader < blocks_.size() && !fatal_; ++leader) {
      if (state_[leader] != State::unreached) continue;
      leader_ = leader;
      scan_block(leader);
      while (!worklist_.empty() && !fatal_) {
        const std::size_t i = worklist_.back();
        worklist_.pop_back();
        scan_block(i);
      }
    }
  }

  void fill(ReachabilityResult& result) const {
    result.kind.resize(state_.size());
    for (std::size_t i = 0; i < state_.size(); ++i) {
      switch (state_[i]) {
        case State::reachable:
          result.kind[i] = LeakKind::still_reachable;
          break;
        case State::possible:
          result.kind[i] = LeakKind::possibly_lost;
          break;
        case State::indirect:
          result.kind[i] = LeakKind::indirectly_lost;
          break;
        case State::unreached:
          result.kind[i] = LeakKind::definitely_lost;
          break;
      }
    }
  }

  // The error that ends the scan: the process is gone or its memory is not ours to read, or not
  // one byte of it could be read.
  std::optional<Error> error() {
    if (!fatal_ && result_.bytes_scanned == 0) {
      if (!attempted_) probe();
      if (!fatal_) fatal_ = last_errno_;
    }
    if (!fatal_) return std::nullopt;
    const int err = *fatal_;
    std::string hint;
    if (err == EPERM || err == EACCES) {
      hint = kPtraceHint;
    } else if (err == ESRCH) {
      hint = "the process exited before its memory could be scanned";
    } else {
      hint = "none of its writable memory could be read";
    }
    return Error{"read memory of process " + std::to_string(pid_), err, std::move(hint)};
  }

 private:
  enum class State : std::uint8_t { unreached, possible, reachable, indirect };
  // What the words being scanned are: a root's, a still reachable block's, a possibly lost
  // block's, or a lost block's (the clique pass).
  enum class Source : std::uint8_t { root, definite, possible, clique };

  void scan_block(std::size_t i) {
    const LiveBlock& b = blocks_[i];
    const std::uint64_t end = b.address + b.size;
    if (b.size >= kChunkBytes && in_private_mapping(b.address)) {
      residency_.for_each_run(b.address, end, [&](std::uint64_t rb, std::uint64_t re) {
        scan_range(rb, re);
        return !fatal_;
      });
    } else {
      scan_range(b.address, end);
    }
  }

  // Reads [begin, end) a chunk at a time and marks what its aligned words point into. Pages that
  // cannot be read are skipped (counted for roots); an error that will not go away
  // (ESRCH, EPERM) ends the scan.
  void scan_range(std::uint64_t begin, std::uint64_t end) {
    const bool root = source_ == Source::root;
    begin = round_up(begin, kWord);
    end = round_down(end, kWord);
    auto* bytes = reinterpret_cast<std::byte*>(buffer_.data());
    for (std::uint64_t chunk = begin; chunk < end && !fatal_;) {
      const std::uint64_t chunk_end = std::min(end, chunk + kChunkBytes);
      std::uint64_t done = 0;
      const std::uint64_t want = chunk_end - chunk;
      while (done < want) {
        attempted_ = true;
        const long n =
            memory_.read_some(chunk + done, bytes + done, static_cast<std::size_t>(want - done));
        if (n > 0) {
          done += static_cast<std::uint64_t>(n);
          result_.bytes_scanned += static_cast<std::uint64_t>(n);
          continue;
        }
        if (n == -ESRCH || n == -EPERM || n == -EACCES) {
          fatal_ = static_cast<int>(-n);
          return;
        }
        last_errno_ = static_cast<int>(-n);
        // Skip to the next page; zeros point nowhere.
        const std::uint64_t skip =
            std::min(round_down(chunk + done, page_size_) + page_size_, chunk_end) - (chunk + done);
        std::fill(bytes + done, bytes + done + skip, std::byte{0});
        if (root) result_.unreadable_bytes += skip;
        done += skip;
      }
      mark_words(static_cast<std::size_t>(want / kWord));
      chunk = chunk_end;
    }
  }

  void mark_words(std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) {
      const std::size_t block = index_.find(buffer_[i]);
      if (block == BlockIndex::npos) continue;
      State& state = state_[block];
      if (source_ == Source::clique) {
        if (block != leader_ && state == State::unreached) {
          state = State::indirect;
          worklist_.push_back(block);
        }
        continue;
      }
      const bool start = buffer_[i] == blocks_[block].address;
      if (!start && is_next_chunk_header(buffer_[i], blocks_[block])) continue;
      if (start && source_ != Source::possible) {
        if (state == State::reachable) continue;
        state = State::reachable;
      } else if (state == State::unreached) {
        state = State::possible;
      } else {
        continue;
      }
      worklist_.push_back(block);
    }
  }

  // glibc's malloc keeps pointers to chunk headers in its arena, in libc's own data: the top
  // chunk, the last remainder, the bins. A chunk's header is 16 bytes before the block malloc
  // returned, and the 8 bytes before a header are the previous block's last ones, so the pointer
  // to the chunk after a live block points into that block, at block + chunk size - 16. Those
  // are the allocator's pointers, not the program's (memcheck never sees them: valgrind
  // replaces malloc), and they would make a lost block "possibly lost". glibc's chunk size for a
  // request of n bytes on x86-64 is n + 8 rounded up to 16, at least 32.
  static bool is_next_chunk_header(std::uint64_t value, const LiveBlock& b) {
    const std::uint64_t chunk = std::max<std::uint64_t>(32, (b.size + 8 + 15) & ~std::uint64_t{15});
    return value == b.address + chunk - 16;
  }

  bool in_private_mapping(std::uint64_t address) const {
    const auto after =
        std::upper_bound(maps_.begin(), maps_.end(), address,
                         [](std::uint64_t a, const Mapping& m) { return a < m.begin; });
    return after != maps_.begin() && address < (after - 1)->end && !(after - 1)->shared;
  }

  // Nothing was there to read: one word of a block tells whether the process can be read at all.
  void probe() {
    attempted_ = true;
    std::uint64_t word = 0;
    const long n = memory_.read_some(blocks_.front().address, reinterpret_cast<std::byte*>(&word),
                                     sizeof word);
    if (n > 0) {
      last_errno_.reset();
    } else if (n == -ESRCH || n == -EPERM || n == -EACCES) {
      fatal_ = static_cast<int>(-n);
    } else {
      last_errno_ = static_cast<int>(-n);
    }
  }

  int pid_;
  const std::vector<LiveBlock>& blocks_;
  BlockIndex index_;
  const std::vector<Mapping>& maps_;
  ReachabilityResult& result_;
  RemoteMemory memory_;
  std::uint64_t page_size_;
  Residency residency_;
  std::vector<std::uint64_t> buffer_;  // one chunk, as words
  std::vector<State> state_ = std::vector<State>(blocks_.size(), State::unreached);
  std::vector<std::size_t> worklist_;  // marked blocks not yet scanned
  Source source_ = Source::root;
  std::size_t leader_ = 0;  // the clique being found
  std::optional<int> fatal_;
  std::optional<int> last_errno_;  // the last page that could not be read
  bool attempted_ = false;
};

// [begin, end) without the excluded ranges (sorted by begin).
void subtract(Range r, const std::vector<AddressRange>& exclude, std::vector<Range>& out) {
  for (const AddressRange& x : exclude) {
    if (x.end <= r.begin) continue;
    if (x.begin >= r.end) break;
    if (x.begin > r.begin) out.push_back({r.begin, x.begin, r.is_private});
    r.begin = std::max(r.begin, x.end);
    if (r.begin >= r.end) return;
  }
  out.push_back(r);
}

// The main thread's [stack], or a mapping right above a guard page (how pthread stacks are
// made). Only these are cut at a stack pointer: a thread on an alternate signal stack or a
// coroutine stack must not cut away memory that belongs to other data.
bool is_thread_stack(const std::vector<Mapping>& maps, std::size_t i) {
  if (maps[i].name == "[stack]") return true;
  if (!maps[i].name.empty() || i == 0) return false;
  const Mapping& below = maps[i - 1];
  return below.end == maps[i].begin && !below.readable && !below.writable;
}

// A heap of one of glibc's other arenas (threads' malloc): like [heap], it holds freed chunks
// whose stale pointers would make lost blocks look reachable. glibc maps these 64 MiB long
// (HEAP_MAX_SIZE on 64-bit), aligned to 64 MiB, and makes their tail PROT_NONE until it is
// needed.
bool is_arena_heap(const std::vector<Mapping>& maps, std::size_t i) {
  constexpr std::uint64_t kHeapMax = std::uint64_t{64} << 20;
  const Mapping& m = maps[i];
  if (!m.name.empty() || m.begin % kHeapMax != 0) return false;
  if (m.end - m.begin == kHeapMax) return true;
  if (i + 1 >= maps.size()) return false;
  const Mapping& tail = maps[i + 1];
  return tail.begin == m.end && !tail.readable && !tail.writable && tail.name.empty() &&
         tail.end == m.begin + kHeapMax;
}

std::vector<Range> roots(int pid, const std::vector<Mapping>& maps, const BlockIndex& index,
                         std::vector<AddressRange> exclude) {
  std::sort(exclude.begin(), exclude.end(),
            [](const AddressRange& a, const AddressRange& b) { return a.begin < b.begin; });
  const std::vector<std::uint64_t> sps = thread_stack_pointers(pid);
  std::vector<Range> out;
  for (std::size_t i = 0; i < maps.size(); ++i) {
    const Mapping& m = maps[i];
    if (!may_be_root(m) || is_arena_heap(maps, i)) continue;
    Range r{m.begin, m.end, !m.shared};
    if (is_thread_stack(maps, i)) {
      // Below the lowest stack pointer (and its red zone) there are only dead frames, whose
      // stale pointers would hide leaks.
      std::uint64_t lowest = m.end;
      for (const std::uint64_t sp : sps) {
        if (sp >= m.begin && sp < m.end) lowest = std::min(lowest, sp);
      }
      if (lowest < m.end) r.begin = std::max(m.begin + kRedZone, lowest) - kRedZone;
    }
    // A live block inside (a block malloc mmapped on its own, which the kernel may merge with
    // a neighbouring anonymous mapping such as Python's object arenas) is not a root: it is
    // scanned only once something reaches it. The rest of the mapping is.
    std::vector<AddressRange> cut = exclude;
    index.for_each_overlapping(r.begin, r.end, [&](const LiveBlock& b) {
      cut.push_back({b.address, BlockIndex::end_of(b)});
    });
    std::sort(cut.begin(), cut.end(),
              [](const AddressRange& a, const AddressRange& b) { return a.begin < b.begin; });
    subtract(r, cut, out);
  }
  return out;
}

}  // namespace

const char* leak_kind_name(LeakKind kind) {
  switch (kind) {
    case LeakKind::still_reachable:
      return "still reachable";
    case LeakKind::possibly_lost:
      return "possibly lost";
    case LeakKind::indirectly_lost:
      return "indirectly lost";
    case LeakKind::definitely_lost:
      return "definitely lost";
  }
  return "?";
}

Result<ReachabilityResult> scan_reachable(int pid, const std::vector<LiveBlock>& blocks,
                                          const std::vector<AddressRange>& exclude) {
  ReachabilityResult result;
  if (blocks.empty()) return result;
  for (std::size_t i = 1; i < blocks.size(); ++i) {
    if (blocks[i].address < BlockIndex::end_of(blocks[i - 1])) {
      return Error{"scan_reachable", EINVAL,
                   "live blocks must be sorted by address and must not overlap"};
    }
  }
  const std::string maps_path = "/proc/" + std::to_string(pid) + "/maps";
  auto text = read_text_file(maps_path);
  if (!text) {
    const int err = text.error().errnum;
    std::string hint = err == ENOENT ? "process " + std::to_string(pid) + " does not exist"
                       : (err == EACCES || err == EPERM) ? std::string(kPtraceHint)
                                                         : std::string();
    return Error{"read " + maps_path, err, std::move(hint)};
  }
  const std::vector<Mapping> maps = parse_maps(*text);
  Marker marker(pid, blocks, maps, result);
  for (const Range& root : roots(pid, maps, BlockIndex(blocks), exclude)) {
    marker.scan_root(root);
    marker.drain();
  }
  marker.find_cliques();
  if (auto error = marker.error()) return std::move(*error);
  marker.fill(result);
  return result;
}

}  // namespace perfscope::heap
