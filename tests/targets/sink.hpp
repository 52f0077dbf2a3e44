// What the C++ test targets share: the CPU clock they run for, and sink(), the callee every hot
// loop ends with.
#pragma once

#include <time.h>

namespace perfscope_targets {

// CPU time of the whole process so far, in ns: how long the targets run is measured in it.
inline long long cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<long long>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

// Non-leaf on purpose: gcc 12 drops the frame pointer of leaf functions even with
// -mno-omit-leaf-frame-pointer, which would hide the hot function's caller from frame-pointer
// unwinding; calling this keeps the hot function non-leaf.
__attribute__((noinline)) inline void sink(unsigned long x) {
  asm volatile("" : : "r"(x) : "memory");
}

}  // namespace perfscope_targets
