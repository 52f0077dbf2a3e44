// RingBuffer: the mmap()ed perf ring of one event fd, read as an explicit protocol.
//
// The first page is struct perf_event_mmap_page; 2^n data pages follow. The kernel advances
// data_head; we read it with acquire ordering, hand out every whole record between data_tail and
// data_head (copying a record into a bounce buffer only when it wraps past the end of the ring),
// then publish data_tail with release ordering so the kernel may reuse the space. One reader per
// ring; not thread-safe.
#pragma once

#include <linux/perf_event.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "core/error.hpp"
#include "core/mapped_region.hpp"

namespace perfscope::sampling {

class RingBuffer {
 public:
  RingBuffer() = default;
  RingBuffer(RingBuffer&&) noexcept = default;
  RingBuffer& operator=(RingBuffer&&) noexcept = default;

  // Maps 1 + data_pages pages of `fd` (data_pages a power of two).
  static Result<RingBuffer> map(int fd, std::size_t data_pages);
  // Wraps memory laid out like a perf ring (metadata page followed by data); for tests and for
  // replaying captured rings. `memory` must outlive the RingBuffer and be 8-byte aligned.
  static RingBuffer over(std::span<std::byte> memory, std::size_t page_size);

  // Calls `consume(record)` for every whole record available, then frees the space. A record
  // whose header claims an impossible size ends the drain with an Error (the rest of the ring is
  // skipped, since record boundaries are lost). Returns the number of records handed out.
  using Consumer = std::function<void(std::span<const std::byte>)>;
  Result<std::size_t> drain(const Consumer& consume);

  // Bytes written by the kernel and not yet consumed.
  std::size_t pending() const;
  std::size_t data_size() const { return data_size_; }

 private:
  MappedRegion region_;
  perf_event_mmap_page* meta_ = nullptr;
  std::byte* data_ = nullptr;
  std::size_t data_size_ = 0;          // a power of two
  std::vector<std::uint64_t> bounce_;  // u64 storage keeps copied records 8-byte aligned
};

// The number of data pages (a power of two, at least 8) per ring for `rings` rings, so that all of
// them fit in `budget_kb` (perf_event_mlock_kb for an unprivileged user), capped at `max_pages`.
std::size_t ring_pages_for(std::size_t rings, long budget_kb, std::size_t page_size,
                           std::size_t max_pages);

}  // namespace perfscope::sampling
