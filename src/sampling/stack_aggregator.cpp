#include "sampling/stack_aggregator.hpp"

#include <algorithm>
#include <cstring>

namespace perfscope::sampling {
namespace {

std::uint64_t mix(std::uint64_t h, std::uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  return h * 0xff51afd7ed558ccdULL;
}

std::uint64_t hash_of(const StackKey& key, std::span<const std::uint64_t> stack) {
  std::uint64_t h = mix(0, (std::uint64_t{key.pid} << 32) | key.tid);
  h = mix(h, (std::uint64_t{key.cpu} << 32) | key.space);
  if (key.state != 0) h = mix(h, key.state);
  if (key.bucket != kNoBucket) h = mix(h, key.bucket);
  for (auto a : stack) h = mix(h, a);
  return h ^ (h >> 29);
}

}  // namespace

void StackAggregator::add(const StackKey& key, std::span<const std::uint64_t> stack,
                          std::uint64_t count, std::uint64_t period) {
  total_ += count;
  if (slots_.empty() || (entries_.size() + 1) * 10 > slots_.size() * 7) grow();
  const std::uint64_t h = hash_of(key, stack);
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = h & mask;; i = (i + 1) & mask) {
    const std::uint32_t slot = slots_[i];
    if (slot == 0) {
      Entry e;
      e.key = key;
      e.offset = static_cast<std::uint32_t>(arena_.size());
      e.length = static_cast<std::uint32_t>(stack.size());
      e.count = count;
      e.period = period;
      e.hash = h;
      arena_.insert(arena_.end(), stack.begin(), stack.end());
      entries_.push_back(e);
      slots_[i] = static_cast<std::uint32_t>(entries_.size());
      return;
    }
    Entry& e = entries_[slot - 1];
    if (e.hash == h && e.key == key && e.length == stack.size() &&
        (stack.empty() ||
         std::memcmp(arena_.data() + e.offset, stack.data(), stack.size_bytes()) == 0)) {
      e.count += count;
      e.period += period;
      return;
    }
  }
}

void StackAggregator::clear() {
  entries_.clear();
  arena_.clear();
  std::fill(slots_.begin(), slots_.end(), 0);
}

void StackAggregator::grow() {
  const std::size_t capacity = slots_.empty() ? 1024 : slots_.size() * 2;
  slots_.assign(capacity, 0);
  const std::size_t mask = capacity - 1;
  for (std::size_t n = 0; n < entries_.size(); ++n) {
    std::size_t i = entries_[n].hash & mask;
    while (slots_[i] != 0) i = (i + 1) & mask;
    slots_[i] = static_cast<std::uint32_t>(n + 1);
  }
}

}  // namespace perfscope::sampling
