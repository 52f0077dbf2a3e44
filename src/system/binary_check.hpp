// What a binary offers a profiler: symbols, DWARF, a build-id, unwind tables, frame pointers.
// Read straight from the ELF file (x86-64 prologues for the frame-pointer check).
#pragma once

#include <string>

#include "core/error.hpp"

namespace perfscope::system {

struct BinaryReport {
  std::string path;
  bool elf64 = false;
  bool symtab = false;      // .symtab with function symbols (not stripped)
  bool dynsym = false;      // .dynsym (exported symbols only)
  bool debug_info = false;  // .debug_info in the file
  std::string debuglink;    // .gnu_debuglink target, when debug info is separate
  std::string build_id;     // hex, from .note.gnu.build-id
  bool eh_frame = false;    // .eh_frame (+ .eh_frame_hdr): what DWARF unwinding uses
  bool eh_frame_hdr = false;
  bool debug_frame = false;
  long entry_offset = -1;      // file offset of the entry point (where a uprobe can sit), or -1
  int functions_sampled = 0;   // function prologues looked at
  int with_frame_pointer = 0;  // of those, how many set up %rbp (push %rbp; mov %rsp,%rbp)
  // A verdict for --call-graph fp: most sampled functions keep a frame pointer.
  bool frame_pointers() const {
    return functions_sampled > 0 && with_frame_pointer * 10 >= functions_sampled * 8;
  }
};

// Up to `max_functions` function prologues are sampled, spread over the symbol table (0: none).
Result<BinaryReport> inspect_binary(const std::string& path, int max_functions = 200);

// "Does this program keep frame pointers?": the one judgement behind record's and mem's
// --call-graph/--unwind auto. `program` is a path, a name looked up on PATH, or /proc/PID/exe;
// `shown` names it in `why`.
struct FramePointerJudgement {
  bool inspected = false;  // false: the binary could not be read (keeps_frame_pointers false)
  bool keeps_frame_pointers = false;
  std::string why;  // "app keeps frame pointers (180 of 200 sampled functions)"
};
FramePointerJudgement judge_frame_pointers(const std::string& program, const std::string& shown);

}  // namespace perfscope::system
