#pragma once

#include <cstdint>
#include <limits>

namespace perfscope::profile {

// Sample values are counts, bytes or nanoseconds, never negative once read (the pprof and
// speedscope readers reject negative values). Their sums, though, can pass INT64_MAX in a hostile
// or absurd file, and signed overflow is undefined behaviour. Every sum of sample values (pprof
// merging, totals, stack-tree counts, folded and speedscope writing) goes through this: it
// saturates at INT64_MAX (and INT64_MIN, for differences) instead of wrapping.
constexpr std::int64_t saturating_add(std::int64_t a, std::int64_t b) {
  std::int64_t sum = 0;
  if (!__builtin_add_overflow(a, b, &sum)) return sum;
  return b > 0 ? std::numeric_limits<std::int64_t>::max()
               : std::numeric_limits<std::int64_t>::min();
}

// `into += add`, saturating.
constexpr void add_saturating(std::int64_t& into, std::int64_t add) {
  into = saturating_add(into, add);
}

}  // namespace perfscope::profile
