// The user-space half of a sample taken with PERF_SAMPLE_REGS_USER | PERF_SAMPLE_STACK_USER, and
// the interface that turns it into return addresses. sampling/ only carries the material; the
// DWARF unwinder that reads it lives in unwind/ (a layer above), and the Collector calls it
// through this interface once a sample's address space is known.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "sampling/process_table.hpp"

namespace perfscope::sampling {

struct UserStack {
  std::uint32_t pid = 0, tid = 0;
  std::span<const std::uint64_t> regs;  // the sample's user registers, in mask bit order
  std::span<const std::byte> stack;     // the copied stack from the stack pointer up (dyn_size)
  std::uint64_t requested = 0;          // the stack bytes asked for (attr.sample_stack_user)
};

class UserStackUnwinder {
 public:
  virtual ~UserStackUnwinder() = default;
  // Appends the user call stack, innermost first: the sampled instruction pointer, then one return
  // address per caller. Appends nothing when the sample has no user registers.
  virtual void unwind(const AddressSpace& space, AddressSpaceId space_id, const UserStack& stack,
                      std::vector<std::uint64_t>& pcs) = 0;
};

}  // namespace perfscope::sampling
