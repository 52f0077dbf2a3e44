#include "heap/analysis.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

#include "heap/address_map.hpp"
#include "preload/heap_wire.hpp"

namespace perfscope::heap {
namespace wire = heap_wire;

namespace {

using Live = LiveBlockInfo;

struct ThreadCursor {
  std::uint64_t last_alloc = 0;  // address of this thread's last event if it was an allocation
  std::uint64_t time_ns = 0;     // of this thread's latest time record
};

constexpr std::uint32_t kNoSite = ~std::uint32_t{0};
// How far a stack id may run ahead of the stack definitions read so far (see on_events).
constexpr std::uint64_t kStackIdSlack = std::uint64_t{1} << 20;

// An allocation, free or skip waiting for the events numbered before it (another thread's packet
// still in flight).
struct HeldEvent {
  enum class Kind : std::uint8_t { alloc, free, skip };
  std::uint64_t seq = 0;
  std::uint64_t address = 0, size = 0;
  std::uint64_t time_ns = 0;
  ThreadCursor* cursor = nullptr;  // the thread's (unordered_map nodes do not move)
  std::uint32_t site = 0;
  Kind kind = Kind::alloc;
};

// The events waiting for their predecessors, in a ring indexed by seq (seqs are dense, so the
// next one to apply is always at next_seq's slot: no search, no comparison). It grows up to
// kMaxHeld slots; an event further ahead than that makes the analysis give up on the missing
// seqs before it (a thread that died with its batch unsent). The preload sends any batch that falls
// 65,536 events behind, so a healthy stream stays far below this.
constexpr std::size_t kMaxHeld = std::size_t{1} << 19;

// The timeline records a turn of the heap (a high followed by a drop, or a low followed by a
// rise) larger than the peak so far / kTurnFraction, up to kMaxTurnsPerSlice per clock tick.
constexpr std::uint64_t kTurnFraction = 128;
constexpr std::uint64_t kMinTurnBytes = 4096;
constexpr int kMaxTurnsPerSlice = 32;

struct ImageState {
  ProcessImage out;
  std::vector<std::uint32_t> wire_to_site;  // by the preload's stack id; kNoSite: not defined
  std::uint64_t stack_records = 0;          // stack definitions read
  std::unordered_map<std::string, std::uint32_t> site_by_frames;
  AddressMap live;
  std::unordered_map<std::uint64_t, std::vector<std::uint64_t>> early_frees;  // address -> seqs
  std::unordered_map<int, ThreadCursor> threads;
  std::map<std::uint32_t, std::string> maps_in_progress;
  std::set<std::string> maps_lines;
  std::uint64_t now_ns = 0;
  // Events apply in seq order: next_seq is the next to apply, `held` those that came early.
  std::uint64_t next_seq = 0;
  std::vector<HeldEvent> ring;    // empty slots have cursor == nullptr
  std::size_t held = 0;           // events in `ring`
  std::uint64_t forced_gaps = 0;  // seqs given up on
  // The timeline: points of the current clock tick ("slice") are stamped with its time.
  std::uint64_t slice_time_ns = 0, slice_max = 0, slice_pushed_max = 0;
  int slice_turns = 0;
  bool rising = true;         // the heap's direction since the last turn
  std::uint64_t extreme = 0;  // the highest (rising) or lowest (falling) heap since that turn
  bool peak_pending = false;
};

std::uint32_t site_for(ImageState& s, const std::uint64_t* frames, std::uint32_t count) {
  std::string key(reinterpret_cast<const char*>(frames), count * sizeof(std::uint64_t));
  auto [it, inserted] = s.site_by_frames.try_emplace(std::move(key), 0);
  if (inserted) {
    it->second = static_cast<std::uint32_t>(s.out.stacks.size());
    s.out.stacks.emplace_back(frames, frames + count);
    s.out.sites.emplace_back();
  }
  return it->second;
}

std::int64_t since_start(const ImageState& s, std::uint64_t t) {
  return t > s.out.start_ns ? static_cast<std::int64_t>(t - s.out.start_ns) : 0;
}

void push_point(ImageState& s, std::uint64_t bytes) {
  auto& points = s.out.timeline;
  const std::int64_t t = since_start(s, s.slice_time_ns);
  const auto b = static_cast<std::int64_t>(bytes);
  if (!points.empty() && points.back().bytes == b) return;  // no change to show
  points.push_back({t, b});
  s.slice_pushed_max = std::max(s.slice_pushed_max, bytes);
}

// Ends the current slice: its highest heap (unless a turn already showed it), then the heap at
// its end, which holds until the next point.
void close_slice(ImageState& s) {
  if (s.slice_max > s.slice_pushed_max) push_point(s, s.slice_max);
  push_point(s, s.out.current_bytes);
}

void advance_time(ImageState& s, std::uint64_t t) {
  if (t <= s.now_ns) return;
  s.now_ns = t;
  if (s.slice_time_ns != 0) close_slice(s);
  s.slice_time_ns = t;
  s.slice_max = s.slice_pushed_max = s.out.current_bytes;
  s.slice_turns = 0;
}

// After every change of the heap: notes the slice's high and the turns large enough to draw, so
// a drop and a later spike inside one clock tick both show.
void follow_heap(ImageState& s) {
  const std::uint64_t now = s.out.current_bytes;
  s.slice_max = std::max(s.slice_max, now);
  const std::uint64_t turn = std::max(s.out.peak_bytes / kTurnFraction, kMinTurnBytes);
  const bool turned = s.rising ? now + turn < s.extreme : now > s.extreme + turn;
  if (turned) {
    if (s.slice_turns < kMaxTurnsPerSlice && s.slice_time_ns != 0) {
      ++s.slice_turns;
      push_point(s, s.extreme);
    }
    s.rising = !s.rising;
    s.extreme = now;
  } else if (s.rising ? now > s.extreme : now < s.extreme) {
    s.extreme = now;
  }
}

// The live heap is about to shrink from a new high: record which sites hold it. Skipped when the
// new high is within 0.5% of the last snapshot, so a heap creeping up one block at a time does not
// cost a pass over every site per block (the peak value itself stays exact).
void snapshot_peak(ImageState& s) {
  s.peak_pending = false;
  const std::uint64_t last = s.out.peak_snapshot_bytes;
  if (last != 0 && s.out.peak_bytes < last + last / 200) return;
  for (auto& site : s.out.sites) {
    site.peak_count = site.live_count;
    site.peak_bytes = site.live_bytes;
  }
  s.out.peak_snapshot_bytes = s.out.current_bytes;
}

void add_live(ImageState& s, std::uint64_t address, std::uint64_t size, std::uint32_t site,
              std::uint64_t seq) {
  Live replaced;
  if (s.live.insert(address, Live{size, seq, site}, replaced)) {
    // The old block's free never reached us (freed untracked, e.g. from a signal handler while
    // inside a hook): it is gone now that the allocator handed the address out again.
    SiteStats& old = s.out.sites[replaced.site];
    old.live_count -= 1;
    old.live_bytes -= replaced.size;
    s.out.current_bytes -= replaced.size;
    s.out.current_blocks -= 1;
  }
  SiteStats& st = s.out.sites[site];
  st.live_count += 1;
  st.live_bytes += size;
  s.out.current_bytes += size;
  s.out.current_blocks += 1;
  if (s.out.current_bytes > s.out.peak_bytes) {
    s.out.peak_bytes = s.out.current_bytes;
    s.out.peak_time_ns = since_start(s, s.now_ns);
    s.peak_pending = true;
  }
  follow_heap(s);
}

void apply_alloc(ImageState& s, ThreadCursor& cursor, std::uint64_t address, std::uint64_t size,
                 std::uint32_t site, std::uint64_t seq) {
  cursor.last_alloc = address;
  // A free of this block applied first: only when kMaxHeld gave up waiting for this allocation.
  if (auto it = s.early_frees.find(address); it != s.early_frees.end()) {
    auto& seqs = it->second;
    auto later = std::find_if(seqs.begin(), seqs.end(), [&](std::uint64_t f) { return f > seq; });
    if (later != seqs.end()) {
      seqs.erase(later);
      if (seqs.empty()) s.early_frees.erase(it);
      s.out.frees += 1;
      return;
    }
  }
  add_live(s, address, size, site, seq);
}

// A free of a block not live now is held as an early free: a block the image did not allocate
// (counted as unknown at the end), or one whose allocation is still to come.
void apply_free(ImageState& s, ThreadCursor& cursor, std::uint64_t address, std::uint64_t seq) {
  const bool right_after = cursor.last_alloc == address;
  cursor.last_alloc = 0;
  Live block;
  if (!s.live.find(address, block) || block.seq > seq) {
    s.early_frees[address].push_back(seq);
    return;
  }
  if (s.peak_pending) snapshot_peak(s);
  s.live.erase(address);
  SiteStats& st = s.out.sites[block.site];
  st.live_count -= 1;
  st.live_bytes -= block.size;
  s.out.current_bytes -= block.size;
  s.out.current_blocks -= 1;
  s.out.frees += 1;
  if (right_after) {
    st.temporary_count += 1;
    st.temporary_bytes += block.size;
    s.out.temporary += 1;
  }
  follow_heap(s);
}

void apply(ImageState& s, const HeldEvent& e) {
  advance_time(s, e.time_ns);
  switch (e.kind) {
    case HeldEvent::Kind::alloc:
      apply_alloc(s, *e.cursor, e.address, e.size, e.site, e.seq);
      break;
    case HeldEvent::Kind::free:
      apply_free(s, *e.cursor, e.address, e.seq);
      break;
    case HeldEvent::Kind::skip:
      break;
  }
}

HeldEvent& slot_of(ImageState& s, std::uint64_t seq) {
  return s.ring[seq & (s.ring.size() - 1)];
}

// How far ahead of the event being applied its block's slot is prefetched (see prefetch_blocks).
constexpr std::uint64_t kPrefetchAhead = 16;

// Applies the held events that are next in order.
void apply_ready(ImageState& s) {
  while (s.held > 0) {
    HeldEvent& slot = slot_of(s, s.next_seq);
    if (slot.cursor == nullptr) return;
    // Events of several threads wait here for each other, long after their packet's prefetch:
    // the slot an event a little further on will need is asked for now.
    const HeldEvent& ahead = slot_of(s, s.next_seq + kPrefetchAhead);
    if (ahead.cursor != nullptr) s.live.prefetch(ahead.address);
    const HeldEvent e = slot;
    slot.cursor = nullptr;
    --s.held;
    ++s.next_seq;
    apply(s, e);
  }
}

// Gives up on the missing seq at next_seq (and any after it) up to the first held event.
void skip_gap(ImageState& s) {
  if (s.held > 0 && slot_of(s, s.next_seq).cursor == nullptr) s.live.keep_seqs();
  while (s.held > 0 && slot_of(s, s.next_seq).cursor == nullptr) {
    ++s.next_seq;
    ++s.forced_gaps;
  }
  apply_ready(s);
}

// Everything still held, in order, the missing seqs given up on (the stream ended, or the
// process is being scanned at exit).
void apply_all(ImageState& s) {
  while (s.held > 0) skip_gap(s);
}

void grow_ring(ImageState& s) {
  std::vector<HeldEvent> bigger(std::max<std::size_t>(s.ring.size() * 2, 4096));
  for (const HeldEvent& e : s.ring) {
    if (e.cursor != nullptr) bigger[e.seq & (bigger.size() - 1)] = e;
  }
  s.ring = std::move(bigger);
}

// Events of different threads arrive a packet at a time; each is applied once every event
// numbered before it has been, so the heap, its peak and the timeline follow the program's order.
void deliver(ImageState& s, const HeldEvent& e) {
  if (e.seq < s.next_seq) {  // after a gap given up on
    s.live.keep_seqs();
    apply(s, e);
    return;
  }
  if (e.seq == s.next_seq && s.held == 0) {  // in order: one thread, or packets that line up
    ++s.next_seq;
    apply(s, e);
    return;
  }
  if (e.seq - s.next_seq >= kMaxHeld) {  // further ahead than any batch in flight can be
    s.live.keep_seqs();
    apply_all(s);
    s.forced_gaps += e.seq - s.next_seq;
    s.next_seq = e.seq + 1;
    apply(s, e);
    return;
  }
  while (e.seq - s.next_seq >= s.ring.size()) grow_ring(s);
  HeldEvent& slot = slot_of(s, e.seq);
  if (slot.cursor != nullptr) {  // a seq sent twice: not the preload's doing; keep both events
    s.live.keep_seqs();
    apply(s, e);
    return;
  }
  slot = e;
  ++s.held;
  apply_ready(s);
}

void on_alloc(ImageState& s, ThreadCursor& cursor, const wire::AllocRecord& r) {
  std::uint32_t site = r.stack_id < s.wire_to_site.size() ? s.wire_to_site[r.stack_id] : kNoSite;
  if (site == kNoSite) site = site_for(s, nullptr, 0);  // never defined: an empty stack
  SiteStats& st = s.out.sites[site];
  st.alloc_count += 1;
  st.alloc_bytes += r.size;
  s.out.allocations += 1;
  s.out.bytes_allocated += r.size;
  deliver(s, {.seq = r.word0 >> 16,
              .address = r.address,
              .size = r.size,
              .time_ns = cursor.time_ns,
              .cursor = &cursor,
              .site = site,
              .kind = HeldEvent::Kind::alloc});
}

void on_free(ImageState& s, ThreadCursor& cursor, std::uint64_t word0, std::uint64_t address,
             HeldEvent::Kind kind) {
  deliver(s, {.seq = word0 >> 16,
              .address = address,
              .time_ns = cursor.time_ns,
              .cursor = &cursor,
              .kind = kind});
}

}  // namespace

struct HeapAnalysis::Impl {
  std::string pending;
  std::vector<ImageState> images;
  std::unordered_map<int, std::size_t> current;  // pid -> its latest image
  int command_pid = 0;
  Scanner scanner;

  ImageState* image_of(int pid) {
    auto it = current.find(pid);
    return it == current.end() ? nullptr : &images[it->second];
  }

  void on_hello(const wire::PacketHeader& h, const wire::HelloBody& b) {
    ImageState fresh;
    ProcessImage& img = fresh.out;
    img.pid = h.pid;
    img.parent_pid = b.parent_pid;
    img.exe.assign(b.exe, strnlen(b.exe, sizeof(b.exe)));
    img.start_ns = b.start_ns;
    fresh.next_seq = b.first_seq;
    ImageState* previous = image_of(h.pid);
    if (b.origin == static_cast<std::uint32_t>(wire::Origin::forked)) {
      img.origin = ImageOrigin::forked;
      // The child's stack ids are its parent's (it inherited the preload's caches).
      if (ImageState* parent = image_of(b.parent_pid); parent != nullptr) {
        fresh.wire_to_site = parent->wire_to_site;
        fresh.site_by_frames = parent->site_by_frames;
        img.stacks = parent->out.stacks;
        img.sites.assign(img.stacks.size(), SiteStats{});
        fresh.maps_lines = parent->maps_lines;
      }
    } else if (b.origin == static_cast<std::uint32_t>(wire::Origin::attached)) {
      img.origin = ImageOrigin::attached;
    } else if (previous != nullptr) {
      img.origin = ImageOrigin::execed;
      if (previous->out.end == ImageEnd::running) previous->out.end = ImageEnd::exec;
    } else if (h.pid == command_pid) {
      img.origin = ImageOrigin::command;
    } else {
      img.origin = ImageOrigin::spawned;
    }
    current[h.pid] = images.size();
    images.push_back(std::move(fresh));
  }

  // The live-block table is far larger than the caches, so each allocation or free costs a miss
  // to memory. Asking for all of a packet's slots first lets those misses overlap instead of
  // being paid one after the other (a packet holds up to ~250 events).
  static void prefetch_blocks(const ImageState& s, const unsigned char* p,
                              const unsigned char* end) {
    while (p + 8 <= end) {
      std::uint64_t word0;
      std::memcpy(&word0, p, 8);
      std::size_t bytes = 0;
      switch (static_cast<wire::RecordType>(word0 & 0xff)) {
        case wire::RecordType::alloc:
          bytes = sizeof(wire::AllocRecord);
          break;
        case wire::RecordType::free:
          bytes = sizeof(wire::FreeRecord);
          break;
        case wire::RecordType::skip:
          bytes = sizeof(wire::SkipRecord);
          break;
        case wire::RecordType::time:
          bytes = sizeof(wire::TimeRecord);
          break;
        case wire::RecordType::stack:
          bytes = sizeof(wire::StackRecordHead) + ((word0 >> 16) & 0xffff) * 8;
          break;
        default:
          return;
      }
      if (bytes > static_cast<std::size_t>(end - p)) return;
      const auto type = static_cast<wire::RecordType>(word0 & 0xff);
      if (type == wire::RecordType::alloc || type == wire::RecordType::free) {
        std::uint64_t address;
        std::memcpy(&address, p + 8, 8);
        s.live.prefetch(address);
      }
      p += bytes;
    }
  }

  void on_events(ImageState& s, const wire::PacketHeader& h, const unsigned char* p,
                 const unsigned char* end) {
    prefetch_blocks(s, p, end);
    ThreadCursor& cursor = s.threads[h.tid];
    while (p + 8 <= end) {
      std::uint64_t word0;
      std::memcpy(&word0, p, 8);
      const auto type = static_cast<wire::RecordType>(word0 & 0xff);
      if (type == wire::RecordType::alloc && p + sizeof(wire::AllocRecord) <= end) {
        wire::AllocRecord r;
        std::memcpy(&r, p, sizeof r);
        on_alloc(s, cursor, r);
        p += sizeof r;
      } else if (type == wire::RecordType::free && p + sizeof(wire::FreeRecord) <= end) {
        wire::FreeRecord r;
        std::memcpy(&r, p, sizeof r);
        on_free(s, cursor, r.word0, r.address, HeldEvent::Kind::free);
        p += sizeof r;
      } else if (type == wire::RecordType::skip) {
        on_free(s, cursor, word0, 0, HeldEvent::Kind::skip);
        p += sizeof(wire::SkipRecord);
      } else if (type == wire::RecordType::time && p + sizeof(wire::TimeRecord) <= end) {
        wire::TimeRecord r;
        std::memcpy(&r, p, sizeof r);
        cursor.time_ns = std::max(cursor.time_ns, r.time_ns);
        p += sizeof r;
      } else if (type == wire::RecordType::stack && p + sizeof(wire::StackRecordHead) <= end) {
        wire::StackRecordHead r;
        std::memcpy(&r, p, sizeof r);
        const auto count = static_cast<std::uint32_t>((r.word0 >> 16) & 0xffff);
        const unsigned char* frames = p + sizeof r;
        if (count > wire::kMaxFrames || frames + count * 8 > end) break;
        // The preload numbers stacks 1, 2, 3... as it defines them, so an id never runs far ahead
        // of the definitions seen (threads' batches arrive out of order, by less than the
        // slack). A far larger id is a corrupt or hostile stream: sizing the table by it would
        // take gigabytes for a 16-byte record.
        ++s.stack_records;
        if (r.id > s.stack_records + kStackIdSlack) {
          ++s.out.bad_stack_ids;
          p = frames + count * 8;
          continue;
        }
        std::vector<std::uint64_t> pcs(count);
        if (count > 0)
          std::memcpy(pcs.data(), frames, count * 8);  // (an empty vector's data may be null)
        if (r.id >= s.wire_to_site.size()) {
          s.wire_to_site.resize(std::max<std::size_t>(r.id + 1, s.wire_to_site.size() * 2),
                                kNoSite);
        }
        s.wire_to_site[r.id] = site_for(s, pcs.data(), count);
        p = frames + count * 8;
      } else {
        break;  // zero padding or a record we do not know: the rest of the packet is skipped
      }
    }
  }

  void on_maps(ImageState& s, const wire::MapsBody& b, const char* text, std::size_t room) {
    std::string& chunk = s.maps_in_progress[b.snapshot];
    chunk.append(text, std::min<std::size_t>(b.length, room));
    if (b.last == 0) return;
    std::size_t at = 0;
    while (at < chunk.size()) {
      std::size_t nl = chunk.find('\n', at);
      if (nl == std::string::npos) nl = chunk.size();
      if (nl > at) s.maps_lines.insert(chunk.substr(at, nl - at));
      at = nl + 1;
    }
    s.maps_in_progress.erase(b.snapshot);
  }

  void on_scan(ImageState& s, const wire::PacketHeader& h, const wire::ScanBody& b) {
    apply_all(s);  // the process has sent everything it will: the live set must be complete
    std::vector<LiveBlock> blocks;
    std::vector<std::uint32_t> sites;
    blocks.reserve(s.live.size());
    std::vector<std::pair<std::uint64_t, Live>> sorted;
    sorted.reserve(s.live.size());
    s.live.for_each(
        [&](std::uint64_t address, const Live& block) { sorted.emplace_back(address, block); });
    std::sort(sorted.begin(), sorted.end(),
              [](const auto& a, const auto& b2) { return a.first < b2.first; });
    for (const auto& [address, block] : sorted) {
      blocks.push_back({address, std::max<std::uint64_t>(block.size, 1)});
      sites.push_back(block.site);
    }
    std::vector<AddressRange> exclude{{b.exclude_begin, b.exclude_end}};
    if (b.dead_stack_end > b.dead_stack_begin)
      exclude.push_back({b.dead_stack_begin, b.dead_stack_end});
    auto result = scanner(h.pid, blocks, exclude);
    if (result) {
      for (std::size_t i = 0; i < blocks.size(); ++i) {
        SiteStats& st = s.out.sites[sites[i]];
        const auto kind = static_cast<std::size_t>(result->kind[i]);
        st.leak_count[kind] += 1;
        st.leak_bytes[kind] += sorted[i].second.size;
      }
      s.out.reachability = Reachability::classified;
      s.out.reachability_note = fmt::format("scanned {} bytes of memory", result->bytes_scanned);
    } else {
      s.out.reachability_note = result.error().message();
    }
    // Let the process finish exiting, whatever happened: one byte into the pipe it waits on.
    // The packet names the process and the descriptor, so a program could name another
    // process's file; perfscope (maybe root) writes only into a pipe of one of its own
    // descendants (the traced command's family).
    if (!descends_from_us(h.pid)) return;
    const std::string path = fmt::format("/proc/{}/fd/{}", h.pid, b.reply_fd);
    const int fd = ::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return;
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode)) {
      const char byte = 1;
      [[maybe_unused]] const auto n = ::write(fd, &byte, 1);
    }
    ::close(fd);
  }

  // Whether `pid` is a child, grandchild... of this process (the parent chain in /proc).
  static bool descends_from_us(std::int64_t pid) {
    const pid_t self = ::getpid();
    for (int depth = 0; depth < 64 && pid > 1; ++depth) {
      std::ifstream in(fmt::format("/proc/{}/stat", pid));
      std::string line;
      if (!std::getline(in, line)) return false;
      // "pid (comm) state ppid ...": comm may hold spaces and parentheses; ppid follows the last
      // ')'.
      const auto close = line.rfind(')');
      if (close == std::string::npos) return false;
      char state = 0;
      long long ppid = 0;
      if (std::sscanf(line.c_str() + close + 1, " %c %lld", &state, &ppid) != 2) return false;
      if (ppid == self) return true;
      pid = ppid;
    }
    return false;
  }

  void on_bye(ImageState& s, const wire::PacketHeader& h, const wire::ByeBody& b) {
    switch (static_cast<wire::ByeReason>(b.reason)) {
      case wire::ByeReason::exit:
        s.out.end = ImageEnd::exit;
        break;
      case wire::ByeReason::quick_exit:
        s.out.end = ImageEnd::quick_exit;
        break;
      case wire::ByeReason::signal:
        s.out.end = ImageEnd::signal;
        break;
      case wire::ByeReason::exec:
        s.out.end = ImageEnd::exec;
        break;
      case wire::ByeReason::detached:
        s.out.end = ImageEnd::detached;
        break;
    }
    s.out.end_detail = b.detail;
    s.out.end_ns = h.time_ns;
    s.out.threads = b.threads;
  }

  Status packet(const unsigned char* p, std::size_t bytes) {
    wire::PacketHeader h;
    std::memcpy(&h, p, sizeof h);
    const auto kind = static_cast<wire::PacketKind>(h.kind);
    const unsigned char* body = p + sizeof h;
    const std::size_t room = bytes - sizeof h;
    if (kind == wire::PacketKind::hello) {
      wire::HelloBody b{};
      std::memcpy(&b, body, std::min(room, sizeof b));
      on_hello(h, b);
      return {};
    }
    ImageState* s = image_of(h.pid);
    if (s == nullptr) return {};  // no hello: a process we cannot place (ignored)
    if (h.time_ns > s->out.end_ns && s->out.end == ImageEnd::running) s->out.end_ns = h.time_ns;
    switch (kind) {
      case wire::PacketKind::events:
        on_events(*s, h, body, p + bytes);
        break;
      case wire::PacketKind::maps:
        if (room >= sizeof(wire::MapsBody)) {
          wire::MapsBody b;
          std::memcpy(&b, body, sizeof b);
          on_maps(*s, b, reinterpret_cast<const char*>(body + sizeof b), room - sizeof b);
        }
        break;
      case wire::PacketKind::scan_request:
        if (room >= sizeof(wire::ScanBody)) {
          wire::ScanBody b;
          std::memcpy(&b, body, sizeof b);
          on_scan(*s, h, b);
        }
        break;
      case wire::PacketKind::bye:
        if (room >= sizeof(wire::ByeBody)) {
          wire::ByeBody b;
          std::memcpy(&b, body, sizeof b);
          on_bye(*s, h, b);
        }
        break;
      default:
        break;
    }
    return {};
  }
};

HeapAnalysis::HeapAnalysis() : impl_(std::make_unique<Impl>()) {
  impl_->scanner = [](int pid, const std::vector<LiveBlock>& blocks,
                      const std::vector<AddressRange>& exclude) {
    return scan_reachable(pid, blocks, exclude);
  };
}
HeapAnalysis::~HeapAnalysis() = default;
HeapAnalysis::HeapAnalysis(HeapAnalysis&&) noexcept = default;
HeapAnalysis& HeapAnalysis::operator=(HeapAnalysis&&) noexcept = default;

void HeapAnalysis::set_command_pid(int pid) {
  impl_->command_pid = pid;
}
void HeapAnalysis::set_scanner(Scanner scanner) {
  impl_->scanner = std::move(scanner);
}

Status HeapAnalysis::feed(std::string_view bytes) {
  Impl& m = *impl_;
  m.pending.append(bytes);
  std::size_t at = 0;
  while (m.pending.size() - at >= sizeof(wire::PacketHeader)) {
    const auto* p = reinterpret_cast<const unsigned char*>(m.pending.data() + at);
    wire::PacketHeader h;
    std::memcpy(&h, p, sizeof h);
    if (h.magic != wire::kMagic || h.bytes < sizeof h || h.bytes > wire::kMaxPacketBytes ||
        h.bytes % 8 != 0) {
      return Error{fmt::format("reading the heap event stream: a packet with magic {:#x} and "
                               "size {} at byte {} is not from perfscope's heap preload",
                               h.magic, h.bytes, at),
                   0, "the preload and perfscope must come from the same build"};
    }
    if (m.pending.size() - at < h.bytes) break;
    if (auto st = m.packet(p, h.bytes); !st) return st;
    at += h.bytes;
  }
  m.pending.erase(0, at);
  return {};
}

std::vector<ProcessImage> HeapAnalysis::finish() {
  std::vector<ProcessImage> out;
  for (auto& s : impl_->images) {
    apply_all(s);
    if (s.peak_pending) snapshot_peak(s);
    if (s.slice_time_ns != 0) close_slice(s);
    const std::uint64_t end = std::max(s.out.end_ns, s.now_ns);
    s.out.timeline.push_back({since_start(s, end), static_cast<std::int64_t>(s.out.current_bytes)});
    if (s.out.end_ns == 0) s.out.end_ns = end;
    for (const auto& [address, seqs] : s.early_frees) s.out.unknown_frees += seqs.size();
    s.out.missing_events = s.forced_gaps;
    if (s.out.reachability == Reachability::unknown && s.out.reachability_note.empty()) {
      switch (s.out.end) {
        case ImageEnd::running:
          s.out.reachability_note = "the process ended without exit handlers (killed?)";
          break;
        case ImageEnd::quick_exit:
          s.out.reachability_note = "the process called _exit()";
          break;
        case ImageEnd::signal:
          s.out.reachability_note = fmt::format("the process died of signal {}", s.out.end_detail);
          break;
        case ImageEnd::exec:
          s.out.reachability_note = "the program was replaced by exec";
          break;
        case ImageEnd::exit:
          s.out.reachability_note =
              s.out.origin == ImageOrigin::attached
                  ? "attached to a running process: blocks from before are unknown"
                  : "the process is not dumpable (no scan was asked for)";
          break;
        case ImageEnd::detached:
          s.out.reachability_note = "detached from the process: it is still running";
          break;
      }
    }
    std::string maps;
    for (const auto& line : s.maps_lines) {
      maps += line;
      maps += '\n';
    }
    s.out.maps = std::move(maps);
    out.push_back(std::move(s.out));
  }
  impl_->images.clear();
  impl_->current.clear();
  return out;
}

}  // namespace perfscope::heap
