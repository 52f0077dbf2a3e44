// AddressMap: live heap blocks by address, the structure every allocation and free of a traced
// program goes through. Open addressing with linear probing and backward-shift deletion (no
// tombstones), so a map that sees billions of inserts and erases stays as fast as a fresh one.
// Address 0 marks an empty slot (malloc never returns it).
#pragma once

#include <cstdint>
#include <vector>

namespace perfscope::heap {

struct LiveBlockInfo {
  std::uint64_t size = 0;
  std::uint64_t seq = 0;
  std::uint32_t site = 0;
};

class AddressMap {
 public:
  AddressMap() { slots_.resize(1024); }

  std::size_t size() const { return size_; }

  LiveBlockInfo* find(std::uint64_t address) {
    for (std::size_t i = index(address);; i = (i + 1) & mask()) {
      Slot& s = slots_[i];
      if (s.address == address) return &s.info;
      if (s.address == 0) return nullptr;
    }
  }

  // Inserts or overwrites; returns the block's info and whether the address was new.
  std::pair<LiveBlockInfo*, bool> insert(std::uint64_t address, const LiveBlockInfo& info) {
    if ((size_ + 1) * 4 > slots_.size() * 3) grow();
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
    for (const Slot& s : slots_) {
      if (s.address != 0) f(s.address, s.info);
    }
  }

 private:
  struct Slot {
    std::uint64_t address = 0;
    LiveBlockInfo info;
  };

  std::size_t mask() const { return slots_.size() - 1; }
  std::size_t index(std::uint64_t address) const {
    return static_cast<std::size_t>((address * 0x9e3779b97f4a7c15u) >> 20) & mask();
  }
  void grow() {
    std::vector<Slot> old(slots_.size() * 2);
    old.swap(slots_);
    size_ = 0;
    for (const Slot& s : old) {
      if (s.address != 0) insert(s.address, s.info);
    }
  }

  std::vector<Slot> slots_;
  std::size_t size_ = 0;
};

}  // namespace perfscope::heap
