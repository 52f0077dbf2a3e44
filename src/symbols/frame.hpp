// The values the symbols layer hands out: a file mapping as the process table knows it, and one
// resolved frame. Plain data; profile/ copies what it needs into interned strings.
#pragma once

#include <cstdint>
#include <string>

namespace perfscope::symbols {

// A file mapped into a process, as the process table knows it (from /proc/PID/maps or MMAP2).
struct MappedFile {
  std::string path;       // as the kernel reported it, e.g. /usr/lib/x86_64-linux-gnu/libc.so.6
  std::string open_path;  // where to open it now (/proc/PID/root/..., /proc/PID/map_files/...);
                          // empty = path
  std::string build_id;   // lowercase hex, may be empty (then it is read from the file)
  std::uint64_t start = 0, end = 0, pgoff = 0;  // mapping range in the process, its file offset
};

// One resolved frame. For an address inside inlined code the resolver returns several frames,
// innermost (the inlined callee) first and the real (out-of-line) function last.
struct Frame {
  std::string function;    // demangled, e.g. "ns::Widget::draw(int) const"; unknowns read
                           // "[unknown: no symbols in libfoo.so]"
  std::string module;      // file path, "[kernel.kallsyms]", "[MODULE]" for a kernel module, or
                           // "[jit] /tmp/perf-PID.map"
  std::string file;        // source file when DWARF line info exists, else empty
  std::uint32_t line = 0;  // 0 when unknown
  std::uint32_t start_line = 0;     // where the function is declared (DW_AT_decl_line); 0: unknown
  bool inlined = false;             // true for every frame inlined into the next one
  bool resolved = false;            // false for [unknown: ...] frames
  std::uint64_t module_offset = 0;  // ELF vaddr for user code; the address itself for kernel/JIT
};

}  // namespace perfscope::symbols
