// ElfModule: one ELF file (executable or shared library) opened once and queried per address:
// function symbols, load segments, and DWARF line and inline information when the file or a
// separate debug file carries it.
//
// Not thread-safe: libdw fills its caches lazily, and so do the per-unit function indexes here.
// Holds no file descriptor: files are mmapped (and read whole when mmap fails), so a recording
// that touches hundreds of libraries does not run out of descriptors.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "symbols/frame.hpp"

struct Elf;  // libelf's handle (a C struct tag)

namespace perfscope::symbols {

struct ElfSymbol {
  std::string_view name;  // mangled, as in the symbol table; valid while the module lives
  std::uint64_t start = 0, size = 0;
};

class ElfModule {
 public:
  // Opens `open_path` (the file as it is reachable now) and looks for its separate debug file in
  // `debug_dirs`: DIR/.build-id/xx/rest.debug, then the .gnu_debuglink name next to the file, in
  // its .debug/ subdirectory and under DIR/<directory of display_path>/. A debug file whose
  // build-id differs from the module's is ignored (without build-ids the debuglink CRC is not
  // checked). Without a full symbol table, .dynsym is joined by MiniDebugInfo's (.gnu_debugdata).
  // `display_path` is the path the process
  // knows; errors name it. When `expected_build_id` is set and the file's differs, the file
  // changed since the process mapped it: then only a debug file with the expected build-id can
  // stand in, else open() fails.
  static Result<std::unique_ptr<ElfModule>> open(const std::string& display_path,
                                                 const std::string& open_path,
                                                 std::string_view expected_build_id,
                                                 const std::vector<std::string>& debug_dirs);
  ~ElfModule();
  ElfModule(const ElfModule&) = delete;
  ElfModule& operator=(const ElfModule&) = delete;

  // Lowercase hex, empty when the file has no build-id note.
  const std::string& build_id() const;
  // The separate debug file in use, or empty.
  const std::string& debug_file() const;
  // Function symbols (.symtab of the file or its debug file, else .dynsym and MiniDebugInfo's
  // .symtab) or DWARF exist. The symbol table itself is read on first use (symbol_at,
  // symbolize, symbol_count): a module whose addresses all come from the symbol cache never
  // reads it; this answers from the first function symbol when it can.
  bool has_symbols() const;
  std::size_t symbol_count() const;

  // The libelf handles, for readers of other sections (unwind/ reads .eh_frame and .debug_frame).
  // file() is null when the file changed on disk and its debug file stands in; debug_file_elf()
  // is null without a separate debug file. Both live as long as the module.
  Elf* file() const;
  Elf* debug_file_elf() const;

  // The ELF virtual address of a file offset, through the PT_LOAD segment holding it.
  std::uint64_t vaddr_for_file_offset(std::uint64_t offset) const;
  // The function symbol covering `vaddr`: the largest start <= vaddr, within its size when the
  // size is non-zero. Of aliases at one address one is kept: sized before sizeless, exported
  // (global or weak) before local, fewer leading underscores, global before weak, shorter, then
  // by name. So libc's getpid/__getpid pair gives "getpid".
  std::optional<ElfSymbol> symbol_at(std::uint64_t vaddr) const;
  // Appends the frames for `vaddr`, innermost first, with function, file, line, inlined, resolved
  // and module_offset set (module is left to the caller). Appends nothing when neither the
  // symbols nor DWARF know the address; but in an executable whose symbols do not cover its
  // entry point (stripped), the function the .eh_frame FDE at e_entry spans is "_start", so that
  // complete stacks of stripped programs still end in a known entry.
  // dwarf_names false: an address no symbol covers is not looked up in DWARF (which is then
  // opened only for inline frames or line numbers).
  void symbolize(std::uint64_t vaddr, bool inline_frames, bool line_numbers,
                 std::vector<Frame>& out, bool dwarf_names = true);

 private:
  struct State;
  explicit ElfModule(std::unique_ptr<State> state);
  std::unique_ptr<State> s_;
};

}  // namespace perfscope::symbols
