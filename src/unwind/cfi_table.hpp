// CfiTable: the CFI of one ELF file compiled into the flat rows the in-kernel unwinder
// (bpf/profile.bpf.c) binary-searches, in the format of bpf/unwind_abi.h. "Compile the DWARF
// away": libdw evaluates every FDE row once here, in user space; the BPF program only looks a pc
// up and applies one of a few fixed rules (x86-64 only: rsp, rbp, the PLT expression, sigreturn,
// the outermost frame).
//
// A file is compiled once (libc: about 8 ms of CPU) and its rows are shared by every process
// that maps it; a mapping (start, pgoff) turns into ELF virtual addresses through `segments`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "unwind_abi.h"

namespace perfscope::unwind {

// One PT_LOAD program header: file bytes [offset, offset + filesz) are mapped at ELF virtual
// address vaddr (memsz bytes, the rest zero-filled).
struct LoadSegment {
  std::uint64_t offset = 0, vaddr = 0, filesz = 0, memsz = 0;
  bool executable = false;
};

struct CfiTable {
  // Sorted by pc, strictly increasing, adjacent rows with identical rules merged. A row holds from
  // its pc up to the next row's pc; gaps between FDEs and the end of the last FDE are
  // PS_CFA_NONE rows, so only a pc below the first row has no row.
  std::vector<ps_unwind_row> rows;
  // Where the FDEs came from: ".eh_frame", ".debug_frame", or ".eh_frame and .debug_frame" when
  // .debug_frame filled code .eh_frame leaves out; a separate debug file's path follows in
  // parentheses when its .debug_frame was read.
  std::string source;
  std::vector<LoadSegment> segments;  // the file's PT_LOAD headers, in file order
  std::uint64_t fdes = 0;             // FDEs read (with a non-empty address range)
  // Rows (as libdw delivers them, before merging) that became PS_CFA_UNSUPPORTED, and why:
  // "CFA expression", "CFA register r12", "rbp rule expression", "return address not at CFA-8"...
  std::uint64_t unsupported_rows = 0;
  std::map<std::string, std::uint64_t> unsupported_why;

  std::size_t bytes() const { return rows.size() * sizeof(ps_unwind_row); }
};

// Compiles the CFI of the ELF file at `path`: its .eh_frame, and for the code no .eh_frame FDE
// covers, the .debug_frame of its separate debug file (found under `debug_dirs` by build-id or
// .gnu_debuglink, as symbols::ElfModule finds it) or of the file itself. Errors: the file cannot be
// read or is not ELF, it has no CFI, or its code lies above 4 GiB (a row's pc is 32 bits). Rules an
// x86-64 row cannot express become PS_CFA_UNSUPPORTED rows, counted in unsupported_rows /
// unsupported_why; an unreadable FDE does too ("unreadable CFI").
Result<CfiTable> compile_cfi_table(const std::string& path,
                                   const std::vector<std::string>& debug_dirs = {"/usr/lib/debug"});

// The row that holds `vaddr` (the last row with pc <= vaddr), or nullptr when vaddr is below the
// first row (or `rows` is empty). The same search the BPF program does.
const ps_unwind_row* find_row(std::span<const ps_unwind_row> rows, std::uint64_t vaddr);

// The name of a ps_cfa_kind ("rsp", "rbp", "plt", "signal", "end", "unsupported", "none").
const char* cfa_kind_name(int kind);

}  // namespace perfscope::unwind
