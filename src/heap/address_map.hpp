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
//
// A slot is 16 bytes (address, size, site), four to a cache line, so the table a reader misses in
// is half what a slot holding every field would make it. What does not fit lives beside it, used
// only when needed:
// - sizes of 4 GiB - 1 and more: the slot says "large", the size is in a side map;
// - a block's sequence number: events apply in sequence order, so a block in the table is always
//   older than the event that looks it up, and its number is not needed... until the analysis
//   applies an event out of order (a gap given up on, a number sent twice). From then on
//   (keep_seqs()) every insert also records its number in a side map, and a block without one
//   reads as seq 0: it was inserted before any event could come out of order, so it is older than
//   every event that can still arrive.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <new>
#include <unordered_map>
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
      large_ = std::move(other.large_);
      seqs_ = std::move(other.seqs_);
      keep_seqs_ = std::exchange(other.keep_seqs_, false);
      other.large_.clear();
      other.seqs_.clear();
      other.allocate(10);
    }
    return *this;
  }

  std::size_t size() const { return size_; }

  // From now on, remember each inserted block's seq (see the top of this file). Idempotent.
  void keep_seqs() { keep_seqs_ = true; }

  // The block at `address` into `out`; false when none is live there.
  bool find(std::uint64_t address, LiveBlockInfo& out) const {
    for (std::size_t i = index(address);; i = (i + 1) & mask()) {
      const Slot& s = slots_[i];
      if (s.address == address) {
        out = info_of(s);
        return true;
      }
      if (s.address == 0) return false;
    }
  }

  // Starts loading the cache line where a lookup of `address` begins.
  void prefetch(std::uint64_t address) const { __builtin_prefetch(&slots_[index(address)]); }

  // Inserts, or overwrites a block live at the same address: then true, with the old block's info
  // in `replaced`.
  bool insert(std::uint64_t address, const LiveBlockInfo& info, LiveBlockInfo& replaced) {
    if ((size_ + 1) * 4 > capacity() * 3) grow();
    for (std::size_t i = index(address);; i = (i + 1) & mask()) {
      Slot& s = slots_[i];
      if (s.address == address) {
        replaced = info_of(s);
        store(s, info);
        return true;
      }
      if (s.address == 0) {
        s.address = address;
        s.size = 0;  // (an erased slot keeps its old size)
        store(s, info);
        ++size_;
        return false;
      }
    }
  }

  void erase(std::uint64_t address) {
    std::size_t i = index(address);
    while (slots_[i].address != address) {
      if (slots_[i].address == 0) return;
      i = (i + 1) & mask();
    }
    if (slots_[i].size == kLarge) large_.erase(address);
    if (keep_seqs_) seqs_.erase(address);
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
      if (slots_[i].address != 0) f(slots_[i].address, info_of(slots_[i]));
    }
  }

 private:
  struct Slot {
    std::uint64_t address = 0;
    std::uint32_t size = 0;  // kLarge: in large_
    std::uint32_t site = 0;
  };
  static_assert(sizeof(Slot) == 16);
  static constexpr std::uint32_t kLarge = ~std::uint32_t{0};

  static constexpr std::size_t kHugePage = std::size_t{2} << 20;

  LiveBlockInfo info_of(const Slot& s) const {
    LiveBlockInfo info;
    info.size = s.size;
    if (s.size == kLarge) info.size = large_.at(s.address);
    info.site = s.site;
    if (keep_seqs_) {
      if (auto it = seqs_.find(s.address); it != seqs_.end()) info.seq = it->second;
    }
    return info;
  }

  // The slot's address is set; the rest of `info` goes into it or beside it.
  void store(Slot& s, const LiveBlockInfo& info) {
    if (s.size == kLarge && info.size < kLarge) large_.erase(s.address);
    if (info.size >= kLarge) {
      s.size = kLarge;
      large_[s.address] = info.size;
    } else {
      s.size = static_cast<std::uint32_t>(info.size);
    }
    s.site = info.site;
    if (keep_seqs_) seqs_[s.address] = info.seq;
  }

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

  // Moves every slot as it is (the side maps are keyed by address and stay valid).
  void grow() {
    Slot* old = slots_;
    const std::size_t old_capacity = capacity();
    const std::size_t old_bytes = bytes_;
    allocate(bits_ + 1);
    for (std::size_t i = 0; i < old_capacity; ++i) {
      if (old[i].address == 0) continue;
      std::size_t j = index(old[i].address);
      while (slots_[j].address != 0) j = (j + 1) & mask();
      slots_[j] = old[i];
    }
    munmap(old, old_bytes);
  }

  Slot* slots_ = nullptr;
  unsigned bits_ = 0;
  std::size_t bytes_ = 0;
  std::size_t size_ = 0;
  std::unordered_map<std::uint64_t, std::uint64_t> large_;  // address -> size, sizes >= kLarge
  std::unordered_map<std::uint64_t, std::uint64_t> seqs_;   // address -> seq, after keep_seqs()
  bool keep_seqs_ = false;
};

}  // namespace perfscope::heap
