// The byte stream perfscope's heap preload (libperfscope-heap.so) writes to `perfscope mem`: what
// a traced process allocated and freed, the stacks that did it, and its memory map.
//
// Transport: one unix stream socket (a command perfscope started) or named pipe (a process it
// attached to) shared by every traced process (fork children and exec'd programs inherit it). Each
// send/write is one packet, so packets of different threads and processes never interleave: on a
// pipe at most kPacketBytes = PIPE_BUF bytes (atomic by POSIX), on the socket at most
// kMaxPacketBytes (Linux queues a unix stream send of up to half the send buffer as one buffer,
// whole). Within a packet, records are 8-byte aligned.
// A thread's packets arrive in the order it wrote them; across threads, `seq` (one counter per
// process, incremented per event) says which event happened first. Every seq a process takes is
// sent exactly once (an alloc, a free or a skip record), from HelloBody::first_seq on, so the
// reader knows when it holds every event up to a given one. A free takes its seq before the
// block goes back to the allocator and an allocation after the allocator handed it out, so an
// address reused by another thread is always freed before it is allocated again in seq order.
//
// This header is shared by the preload (C++ without the C++ library) and src/heap/: plain
// fixed-size structs, no std library types beyond <cstdint>.
#pragma once

#include <cstdint>

namespace perfscope::heap_wire {

constexpr std::uint32_t kMagic = 0x31485350;  // "PSH1"
constexpr std::uint32_t kPacketBytes = 4096;  // PIPE_BUF on Linux: one write() is atomic
// An events packet sent over the unix stream socket of a started command may be this large (one
// send() of it is queued whole; fewer, larger sends cost the program fewer system calls).
constexpr std::uint32_t kMaxPacketBytes = 16384;
constexpr std::uint32_t kMaxFrames = 64;  // stack frames kept per allocation

// Environment the preload reads (set by `perfscope mem`).
constexpr const char* kEnvFd = "PERFSCOPE_HEAP_FD";          // "FD:INODE" of the socket's write end
constexpr const char* kEnvUnwind = "PERFSCOPE_HEAP_UNWIND";  // "fp" or "dwarf"
// Attaching (mem -p): perfscope dlopen()s the library into the running process and calls
//   int perfscope_heap_attach(const char* fifo_path, unsigned unwind)   (Unwind; 0 or an errno)
// and, to let it go, int perfscope_heap_detach(void), both through ptrace.
constexpr const char* kAttachFunction = "perfscope_heap_attach";
constexpr const char* kDetachFunction = "perfscope_heap_detach";

enum class PacketKind : std::uint16_t {
  hello = 1,         // a process image starts: HelloBody
  events = 2,        // records (see RecordType)
  maps = 3,          // a chunk of /proc/self/maps: MapsBody, then text
  scan_request = 4,  // the process is exiting and waits for a reachability scan: ScanBody
  bye = 5,           // the process image ends: ByeBody
};

struct PacketHeader {
  std::uint32_t magic;
  std::uint16_t kind;   // PacketKind
  std::uint16_t flags;  // 0
  std::uint32_t bytes;  // the whole packet, header included; a multiple of 8
  std::int32_t pid;
  std::int32_t tid;
  std::uint32_t reserved;
  std::uint64_t time_ns;  // CLOCK_MONOTONIC when the packet was written
};
static_assert(sizeof(PacketHeader) == 32);

enum class Unwind : std::uint32_t { frame_pointers = 1, dwarf = 2 };

enum class Origin : std::uint32_t {
  started = 1,   // the first image of the command perfscope started
  forked = 2,    // a fork child (parent_pid says whose); heap inherited at fork is not counted
  attached = 3,  // a running process perfscope attached to (mem -p): blocks from before are unknown
};               // an exec'd image says `started`: perfscope knows it by a pid it has seen before

struct HelloBody {
  std::int32_t parent_pid;
  std::uint32_t origin;  // Origin
  std::uint32_t unwind;  // Unwind
  std::uint32_t reserved;
  std::uint64_t start_ns;   // CLOCK_MONOTONIC at the image's first allocation
  std::uint64_t first_seq;  // the seq of this image's first event
  char exe[256];            // /proc/self/exe, NUL-terminated, possibly cut
};

// Records in an events packet. The first 8 bytes of each: type in the low byte, the rest depends.
enum class RecordType : std::uint8_t {
  alloc = 1,  // AllocRecord
  free = 2,   // FreeRecord
  stack = 3,  // StackRecord: high bits of the first word = frame count; then id, frames
  time = 4,   // TimeRecord: the coarse clock moved; following events happened at or after it
  skip = 5,   // SkipRecord: a seq taken for an event that did not happen (a failed realloc)
};

// Which function allocated. Sent with every allocation; the analysis does not use it yet (it
// could tell malloc/delete mismatches).
enum class AllocFn : std::uint8_t {
  malloc = 1,
  calloc,
  realloc,
  memalign,
  posix_memalign,
  aligned_alloc,
  valloc,
  pvalloc,
  new_scalar,
  new_array,
};

// word0: type | fn << 8 | seq << 16 (seq: 48 bits)
struct AllocRecord {
  std::uint64_t word0;
  std::uint64_t address;
  std::uint64_t size;      // bytes requested
  std::uint32_t stack_id;  // defined by an earlier StackRecord of the same process
  std::uint32_t reserved;
};
static_assert(sizeof(AllocRecord) == 32);

// word0: type | seq << 16
struct FreeRecord {
  std::uint64_t word0;
  std::uint64_t address;
};
static_assert(sizeof(FreeRecord) == 16);

// word0: type | seq << 16
struct SkipRecord {
  std::uint64_t word0;
};
static_assert(sizeof(SkipRecord) == 8);

// word0: type | frame count << 16; followed by `count` return addresses, innermost first (the
// caller of the allocation function first).
struct StackRecordHead {
  std::uint64_t word0;
  std::uint32_t id;
  std::uint32_t reserved;
};
static_assert(sizeof(StackRecordHead) == 16);

struct TimeRecord {
  std::uint64_t word0;    // type
  std::uint64_t time_ns;  // CLOCK_MONOTONIC_COARSE
};

struct MapsBody {
  std::uint32_t snapshot;  // counts snapshots of this image from 1
  std::uint32_t offset;    // of this chunk in the snapshot's text
  std::uint32_t length;    // of this chunk
  std::uint32_t last;      // 1 on the snapshot's last chunk
};

struct ScanBody {
  std::int32_t reply_fd;  // write one byte to /proc/PID/fd/reply_fd when done
  std::uint32_t reserved;
  std::uint64_t exclude_begin, exclude_end;        // the preload's own buffers
  std::uint64_t dead_stack_begin, dead_stack_end;  // below the exiting thread's stack pointer:
                                                   // stale frames, not roots
};

enum class ByeReason : std::uint32_t {
  exit = 1,        // exit() or return from main: destructors ran
  quick_exit = 2,  // _exit() / _Exit(): no destructors ran
  signal = 3,      // a fatal signal (`detail` = its number)
  exec = 4,        // the image is being replaced by execve()
  detached = 5,    // perfscope detached (mem -p): the process runs on untracked
};

struct ByeBody {
  std::uint32_t reason;  // ByeReason
  std::int32_t detail;
  std::uint64_t threads;  // threads that allocated in this image
};

constexpr std::uint64_t record_word(RecordType type, std::uint64_t high16) {
  return static_cast<std::uint64_t>(type) | (high16 << 16);
}

}  // namespace perfscope::heap_wire
