// Symbolizer: turns kernel, user and JIT addresses into frames (function, inline chain,
// file:line, module), each unique address once, at the end of a recording.
//
// Not thread-safe; one per recording. Never throws across its API and never prints: what cannot
// be resolved becomes an "[unknown: REASON]" frame, counted in stats().
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "symbols/demangle.hpp"
#include "symbols/frame.hpp"

namespace perfscope::symbols {

struct SymbolizerOptions {
  std::string kallsyms_path = "/proc/kallsyms";
  std::string modules_path = "/proc/modules";
  // The kallsyms cache's directory (kallsyms_cache.hpp); empty: kallsyms is read every time.
  std::string kallsyms_cache_dir = {};
  // The symbol cache's directory (symbol_cache.hpp): the frames of each module's addresses, by
  // build-id, read when the module is opened and written back, with this run's new addresses,
  // when the Symbolizer is destroyed. Empty: every address is looked up in the module's files.
  std::string symbol_cache_dir = {};
  // Separate debug info: DIR/.build-id/xx/rest.debug and DIR/<module dir>/<debuglink>.
  std::vector<std::string> debug_dirs = {"/usr/lib/debug"};
  // Where JIT maps live: DIR/perf-PID.map.
  std::string perf_map_dir = "/tmp";
  bool inline_frames = true;
  bool line_numbers = true;
  // Name an address no ELF symbol covers from its DWARF (the unit's DW_TAG_subprogram). Off, such
  // an address stays unknown ("module+0xoffset") and, without inline frames or line numbers,
  // DWARF is never opened: opening it decompresses every compressed .debug_* section of the file
  // (tens of MB for libc6-dbg's), which a live view pays in the middle of a refresh.
  bool dwarf_names = true;
};

class Symbolizer {
 public:
  explicit Symbolizer(SymbolizerOptions options = {});
  // Writes the symbol cache files of the modules that gained addresses (symbol_cache_dir).
  ~Symbolizer();
  // A moved-from Symbolizer may only be destroyed or assigned to.
  Symbolizer(Symbolizer&&) noexcept;
  Symbolizer& operator=(Symbolizer&&) noexcept;
  // Writes the symbol cache files now, as the destructor would, for a caller that never destroys
  // the Symbolizer (a command about to exit). Lookups should be over: each module's cached
  // frames not yet served move into its file, and are looked up again if asked for after.
  void save_symbol_caches();

  // The returned references point into caches and stay valid for the Symbolizer's lifetime.

  // A kernel address. kallsyms is read on the first call. Unknown reasons: "kernel addresses
  // hidden (kptr_restrict / perf_event_paranoid)" when kallsyms shows zeros, "not in kallsyms",
  // "cannot read /proc/kallsyms: ...". Module is "[kernel.kallsyms]" or "[MODULE]".
  const std::vector<Frame>& resolve_kernel(std::uint64_t address);

  // Starts reading kallsyms on a thread of its own, for a caller with other work to do first
  // (the kernel builds /proc/kallsyms' text on every read: tens of milliseconds). The first
  // kernel lookup waits for it; without this call, it reads kallsyms itself.
  void prefetch_kernel();

  // The addresses a kernel frame module ("[kernel.kallsyms]" or "[MODULE]", as resolve_kernel
  // names it) spans, [first, second): KernelSymbols::text_range(). Empty when kallsyms cannot be
  // read, hides its addresses, or does not know the module. Reads kallsyms if not yet read.
  std::optional<std::pair<std::uint64_t, std::uint64_t>> kernel_text_range(std::string_view module);

  // A user address (process virtual address) inside a file mapping. The file is opened once per
  // build-id (or per path when none is known; a file's own build-id then joins it to an already
  // loaded copy), a file that failed is remembered as failed, and each (module, address) is
  // resolved once. Frames carry module = the path the module was first loaded under.
  const std::vector<Frame>& resolve_user(const MappedFile& mapping, std::uint64_t address);

  // An address in an anonymous (JIT) region of `pid`, looked up in perf_map_dir/perf-PID.map,
  // which is read once per pid. Module is "[jit] PATH".
  const std::vector<Frame>& resolve_jit(int pid, std::uint64_t address);

  // A frame that says why an address cannot be resolved: unknown("process gone") gives function
  // "[unknown: process gone]", resolved = false.
  static Frame unknown(std::string_view reason, std::string_view module = {});

  // What a profile names a user address no symbol covers (an unknown frame of resolve_user), as
  // perf users know it: "gzip+0x4a3c", the module's basename and the frame's module_offset, the
  // address's ELF virtual address (for a file that could not be read, its file offset). That is
  // the number `perf report` shows for such a frame in a PIE or shared library, and the one nm,
  // objdump -d and addr2line -e take; each address of a stripped binary stays its own frame.
  // `looked_back` is how far before the address the frame was looked up (1 for a return
  // address, whose call is resolved); the name gives the address itself, as perf does.
  // resolved stays false; module is kept, module_offset is the named address.
  static Frame by_address(const Frame& unknown, std::uint64_t looked_back = 0);

  // Diagnostics for the record summary. Addresses count unique addresses (cache misses) of all
  // three kinds; a module counts once however many paths or processes map it.
  struct Stats {
    std::size_t modules_loaded = 0;           // ELF files opened successfully
    std::size_t modules_without_symbols = 0;  // of those, with no symbol table and no DWARF
    std::size_t modules_failed = 0;           // could not be opened or read
    std::size_t addresses_resolved = 0;
    std::size_t addresses_unknown = 0;
  };
  Stats stats() const;

 private:
  void load_kernel();  // kallsyms and /proc/modules, read once
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace perfscope::symbols
