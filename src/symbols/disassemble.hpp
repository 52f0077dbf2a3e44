// The machine code of one function of an ELF file, disassembled with Capstone (Debian's
// libcapstone): what `perfscope report --annotate` shows when a function has no source lines.
// Reads the file only; x86-64 and AArch64.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace perfscope::symbols {

struct Instruction {
  std::uint64_t address = 0;      // ELF virtual address
  std::uint64_t file_offset = 0;  // where its bytes are in the file
  std::string text;               // "mov rax, qword ptr [rbx + 8]" (Intel syntax on x86-64)
};

// Every instruction of the function (a symtab or dynsym STT_FUNC symbol) whose code holds
// `file_offset`, at most 4096. Errors: the file does not open or is not ELF, no executable
// section holds the offset, no symbol covers it, an architecture Capstone is not set up for here.
Result<std::vector<Instruction>> disassemble_function(const std::string& path,
                                                      std::uint64_t file_offset);

}  // namespace perfscope::symbols
