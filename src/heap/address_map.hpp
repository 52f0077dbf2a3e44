// AddressMap: live heap blocks by address, the structure every allocation and free of a traced
// program goes through. Open addressing with linear probing and backward-shift deletion (no
// tombstones), so a map that sees billions of inserts and erases stays as fast as a fresh one.
// Address 0 marks an empty slot (malloc never returns it).
//
// The table of a busy program holds millions of blocks (tens of MiB), and every event lands on a
// random slot of it, so the cost per event is a cache miss and, with 4 KiB pages, a TLB miss too.
// The slots therefore live in anonymous memory asked to be backed by transparent huge pages
// (madvise; Debian's default THP mode), which the kernel hands out already zeroed: growing costs
// no memset, and a lookup's page walk is one level shorter. The slot index comes from the top bits
// of a multiplicative hash (Fibonacci hashing), which spreads a 16-byte-granular allocator's
// neighbouring addresses over the whole table.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <new>
#include <utility>

namespace perfscope::heap {

struct LiveBlockInfo {
  std::uint64_t size = 0;
  std::uint64_t seq = 0;
  std::uint32_t site = 0;
};

class AddressMap {
 public:
  AddressMap() { allocate(10); }
  ~AddressMap() { release(); }
  AddressMap(const AddressMap&) = delete;
  AddressMap& operator=(const AddressMap&) = delete;
  AddressMap(AddressMap&& other) noexcept { *this = std::move(other); }
  AddressMap& operator=(AddressMap&& other) noexcept {
    if (this != &other) {
      release();
      slots_ = std::exchange(other.slots_, nullptr);
      bits_ = std::exchange(other.bits_, 0);
      bytes_ = std::exchange(other.bytes_, 0);
      size_ = std::exchange(other.size_, 0);
      other.allocate(10);
    }
    return *this;
  }

  std::size_t size() const { return size_; }

  LiveBlockInfo* find(std::uint64_t address) {
    for (std::size_t i = index(address);; i = (i + 1) & mask()) {
      Slot& s = slots_[i];
      if (s.address == address) return &s.info;
      if (s.address == 0) return nullptr;
    }
  }

  // Starts loading the cache line where a lookup of `address` begins.
  void prefetch(std::uint64_t address) const { __builtin_prefetch(&slots_[index(address)]); }

  // Inserts or overwrites; returns the block's info and whether the address was new.
  std::pair<LiveBlockInfo*, bool> insert(std::uint64_t address, const LiveBlockInfo& info) {
    if ((size_ + 1) * 4 > capacity() * 3) grow();
    for (std::size_t i = index(address);; i = (i + 1) & mask()) {
      Slot& s = slots_[i];
      if (s.address == address) return {&s.info, false};
      if (s.address == 0) {
        s.address = address;
        s.info = info;
        ++size_;
        return {&s.info, true};
      }
    }
  }

  void erase(std::uint64_t address) {
    std::size_t i = index(address);
    while (slots_[i].address != address) {
      if (slots_[i].address == 0) return;
      i = (i + 1) & mask();
    }
    // Shift later members of the probe chain back into the hole.
    for (std::size_t j = (i + 1) & mask();; j = (j + 1) & mask()) {
      if (slots_[j].address == 0) break;
      const std::size_t home = index(slots_[j].address);
      // Move j to i unless its home lies cyclically in (i, j].
      const bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
      if (stays) continue;
      slots_[i] = slots_[j];
      i = j;
    }
    slots_[i].address = 0;
    --size_;
  }

  template <typename F>
  void for_each(F&& f) const {
    for (std::size_t i = 0; i < capacity(); ++i) {
      if (slots_[i].address != 0) f(slots_[i].address, slots_[i].info);
    }
  }

 private:
  struct Slot {
    std::uint64_t address = 0;
    LiveBlockInfo info;
  };

  static constexpr std::size_t kHugePage = std::size_t{2} << 20;

  std::size_t capacity() const { return std::size_t{1} << bits_; }
  std::size_t mask() const { return capacity() - 1; }
  std::size_t index(std::uint64_t address) const {
    return static_cast<std::size_t>((address * 0x9e3779b97f4a7c15u) >> (64 - bits_));
  }

  // 2^bits zeroed slots. Tables of 2 MiB and more are rounded up to whole huge pages.
  void allocate(unsigned bits) {
    std::size_t bytes = (std::size_t{1} << bits) * sizeof(Slot);
    if (bytes >= kHugePage) bytes = (bytes + kHugePage - 1) / kHugePage * kHugePage;
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    // Advice only: without THP the table works the same on small pages.
    if (bytes >= kHugePage) madvise(p, bytes, MADV_HUGEPAGE);
    slots_ = static_cast<Slot*>(p);
    bits_ = bits;
    bytes_ = bytes;
  }
  void release() {
    if (slots_ != nullptr) munmap(slots_, bytes_);
    slots_ = nullptr;
  }

  void grow() {
    Slot* old = slots_;
    const std::size_t old_capacity = capacity();
    const std::size_t old_bytes = bytes_;
    allocate(bits_ + 1);
    size_ = 0;
    for (std::size_t i = 0; i < old_capacity; ++i) {
      if (old[i].address != 0) insert(old[i].address, old[i].info);
    }
    munmap(old, old_bytes);
  }

  Slot* slots_ = nullptr;
  unsigned bits_ = 0;
  std::size_t bytes_ = 0;
  std::size_t size_ = 0;
};

}  // namespace perfscope::heap
