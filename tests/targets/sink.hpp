// The callee every hot loop of the C++ test targets ends with. Non-leaf on purpose: gcc 12 drops
// the frame pointer of leaf functions even with -mno-omit-leaf-frame-pointer, which would hide the
// hot function's caller from frame-pointer unwinding; calling this keeps the hot function non-leaf.
#pragma once

namespace perfscope_targets {

__attribute__((noinline)) inline void sink(unsigned long x) {
  asm volatile("" : : "r"(x) : "memory");
}

}  // namespace perfscope_targets
