// The DWARF expressions CFI uses to find the CFA and saved registers, evaluated over a frame's
// registers and the copied stack: the stack-machine subset call frame information may contain
// (DWARF 5, 6.4.2), with DW_OP_call_frame_cfa. What needs more (DW_OP_call*, TLS, entry values)
// is reported as unsupported rather than guessed.
#pragma once

#include <elfutils/libdw.h>

#include <cstdint>
#include <functional>
#include <span>

#include "unwind/registers.hpp"

namespace perfscope::unwind {

enum class EvalStatus : std::uint8_t {
  ok,
  unknown_register,  // the expression reads a register this frame does not know
  bad_memory,        // a DW_OP_deref outside what can be read
  unsupported,       // an operation CFI should not contain, or a malformed expression
};

// Reads the 8-byte word at an address; false when it is not readable.
using ReadWord = std::function<bool(std::uint64_t address, std::uint64_t& value)>;

// Evaluates `ops` with an empty initial stack (`cfa` answers DW_OP_call_frame_cfa; pass
// has_cfa = false while computing the CFA itself). The result is the top of the stack: an address
// (a location) or, when the expression ends in DW_OP_stack_value, the value itself;
// `is_value` tells which.
EvalStatus evaluate(std::span<const Dwarf_Op> ops, const Registers& regs, bool has_cfa,
                    std::uint64_t cfa, const ReadWord& read, std::uint64_t& result, bool& is_value);

// Whether `ops` is just CFA + N, in the shapes libdw hands out for DW_CFA_offset and friends
// (N two's-complement in `offset`: CFA - 8 is 2^64 - 8).
bool cfa_plus(const Dwarf_Op* ops, std::size_t n, std::uint64_t& offset);

}  // namespace perfscope::unwind
