// IdIndex: a hash index from keys to small ids, where the keys themselves live elsewhere (in the
// Profile's vectors). It stores only ids and hashes, never pointers, so a Profile that owns one
// stays copyable and movable as a plain value.
#pragma once

#include <cstdint>
#include <vector>

namespace perfscope::profile {

class IdIndex {
 public:
  // The id inserted with this hash for which `same(id)` holds, or -1 when there is none.
  template <typename Same>
  std::int64_t find(std::uint64_t hash, Same&& same) const {
    if (slots_.empty()) return -1;
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
      const Slot& s = slots_[i];
      if (s.id_plus_one == 0) return -1;
      if (s.hash == hash && same(std::uint32_t{s.id_plus_one - 1})) return s.id_plus_one - 1;
    }
  }

  // Adds an id without checking for an equal key: call find() first when that matters.
  void insert(std::uint64_t hash, std::uint32_t id);

  void reserve(std::size_t n);
  std::size_t size() const { return size_; }

 private:
  struct Slot {
    std::uint64_t hash = 0;         // kept whole, so growing never needs the keys again
    std::uint32_t id_plus_one = 0;  // 0: empty
  };
  void place(std::uint64_t hash, std::uint32_t id);
  void rehash(std::size_t capacity);

  std::vector<Slot> slots_;  // linear probing, a power of two in size, at most half full
  std::size_t size_ = 0;
};

// A 64-bit mix of two values (for keys made of several ids).
inline std::uint64_t hash_combine(std::uint64_t seed, std::uint64_t v) {
  std::uint64_t x = seed ^ (v + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2));
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return x;
}

}  // namespace perfscope::profile
