#include "sampling/ring_buffer.hpp"

#include <linux/perf_event.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

namespace perfscope::sampling {

Result<RingBuffer> RingBuffer::map(int fd, std::size_t data_pages) {
  const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  auto region = MappedRegion::map(fd, (data_pages + 1) * page, PROT_READ | PROT_WRITE, MAP_SHARED,
                                  0, "mmap perf ring buffer");
  if (!region) return std::move(region).take_error();
  RingBuffer ring;
  ring.region_ = std::move(*region);
  auto* base = static_cast<std::byte*>(ring.region_.data());
  ring.meta_ = reinterpret_cast<perf_event_mmap_page*>(base);
  // data_offset/data_size are filled by kernels since 4.1; fall back to the classic layout.
  const std::size_t offset = ring.meta_->data_offset != 0 ? ring.meta_->data_offset : page;
  ring.data_ = base + offset;
  ring.data_size_ = ring.meta_->data_size != 0 ? ring.meta_->data_size : data_pages * page;
  return ring;
}

RingBuffer RingBuffer::over(std::span<std::byte> memory, std::size_t page_size) {
  RingBuffer ring;
  ring.meta_ = reinterpret_cast<perf_event_mmap_page*>(memory.data());
  ring.data_ = memory.data() + page_size;
  ring.data_size_ = memory.size() - page_size;
  return ring;
}

std::size_t RingBuffer::pending() const {
  if (meta_ == nullptr) return 0;
  const auto head = __atomic_load_n(&meta_->data_head, __ATOMIC_ACQUIRE);
  return static_cast<std::size_t>(head - meta_->data_tail);
}

Result<std::size_t> RingBuffer::drain(const Consumer& consume) {
  if (meta_ == nullptr) return std::size_t{0};
  const std::uint64_t head = __atomic_load_n(&meta_->data_head, __ATOMIC_ACQUIRE);
  std::uint64_t tail = meta_->data_tail;  // only we write it
  const std::uint64_t mask = data_size_ - 1;
  std::size_t count = 0;
  Status status;
  while (tail < head) {
    const std::size_t offset = static_cast<std::size_t>(tail & mask);
    perf_event_header h{};
    // Records are 8-byte aligned and the ring size is a power of two >= 8, so a header never wraps.
    std::memcpy(&h, data_ + offset, sizeof h);
    if (h.size < sizeof h || h.size % 8 != 0 || h.size > head - tail) {
      status = Error{"read perf ring buffer", 0,
                     "a record with an impossible size: the rest of this ring was skipped"};
      tail = head;
      break;
    }
    if (offset + h.size <= data_size_) {
      consume({data_ + offset, h.size});
    } else {
      // The record wraps: copy both parts into the bounce buffer.
      bounce_.resize((h.size + 7) / 8);
      auto* out = reinterpret_cast<std::byte*>(bounce_.data());
      const std::size_t first = data_size_ - offset;
      std::memcpy(out, data_ + offset, first);
      std::memcpy(out + first, data_, h.size - first);
      consume({out, h.size});
    }
    tail += h.size;
    ++count;
  }
  __atomic_store_n(&meta_->data_tail, tail, __ATOMIC_RELEASE);
  if (!status) return std::move(status).take_error();
  return count;
}

std::size_t ring_pages_for(std::size_t rings, long budget_kb, std::size_t page_size,
                           std::size_t max_pages) {
  std::size_t pages = max_pages;
  if (budget_kb > 0 && rings > 0) {
    const std::size_t budget = static_cast<std::size_t>(budget_kb) * 1024;
    // Each ring also costs its metadata page.
    while (pages > 8 && rings * (pages + 1) * page_size > budget) pages /= 2;
  }
  return pages < 8 ? 8 : pages;
}

}  // namespace perfscope::sampling
