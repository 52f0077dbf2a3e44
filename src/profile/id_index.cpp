#include "profile/id_index.hpp"

#include <bit>

namespace perfscope::profile {

void IdIndex::insert(std::uint64_t hash, std::uint32_t id) {
  if ((size_ + 1) * 2 > slots_.size()) rehash(slots_.empty() ? 16 : slots_.size() * 2);
  place(hash, id);
  ++size_;
}

void IdIndex::reserve(std::size_t n) {
  if (n * 2 > slots_.size()) rehash(std::bit_ceil(n * 2));
}

void IdIndex::place(std::uint64_t hash, std::uint32_t id) {
  const std::size_t mask = slots_.size() - 1;
  std::size_t i = hash & mask;
  while (slots_[i].id_plus_one != 0) i = (i + 1) & mask;
  slots_[i] = {hash, id + 1};
}

void IdIndex::rehash(std::size_t capacity) {
  std::vector<Slot> old(capacity);
  old.swap(slots_);
  for (const Slot& s : old) {
    if (s.id_plus_one != 0) place(s.hash, s.id_plus_one - 1);
  }
}

}  // namespace perfscope::profile
