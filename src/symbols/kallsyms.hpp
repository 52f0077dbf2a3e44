// KernelSymbols: the kernel's text symbols from /proc/kallsyms (and module extents from
// /proc/modules), sorted once for binary search.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace perfscope::symbols {

class KernelSymbols {
 public:
  struct Hit {
    std::string_view name;    // as in kallsyms (C names; not demangled)
    std::string_view module;  // "" for the kernel image, else the module name without brackets
    std::uint64_t start = 0;
  };

  // Parses kallsyms text ("ADDR TYPE NAME[\t[MODULE]]" per line) keeping text symbols (t T w W),
  // and /proc/modules text ("NAME SIZE REFS DEPS STATE ADDR ...") for module extents; `modules`
  // may be empty. Malformed lines are skipped.
  static KernelSymbols parse(std::string_view kallsyms, std::string_view modules = {});
  // Reads and parses both files. A missing or unreadable modules file is not an error (kernels
  // without module support have none); a missing kallsyms is.
  static Result<KernelSymbols> load(const std::string& kallsyms_path,
                                    const std::string& modules_path);

  // True when every address read as zero: kptr_restrict or perf_event_paranoid hides them from
  // this process, and nothing can be resolved.
  bool addresses_hidden() const { return hidden_; }
  std::size_t size() const { return symbols_.size(); }

  // The symbol containing `address`: the one with the largest start <= address, unless the address
  // lies past the end of the kernel text (_etext) or of the symbol's module. The last symbol of a
  // region with no known end covers at most one page.
  std::optional<Hit> find(std::uint64_t address) const;

  // Where a region's text lies, [start, end): for the kernel image ("") _stext (else its lowest
  // symbol) to _etext, or to _einittext when symbols lie in the init text past _etext (else a
  // page past its highest symbol); for a module (its name without brackets) its extent in
  // /proc/modules, else its lowest symbol to a page past its highest. Empty when the addresses
  // are hidden or the region has no symbols.
  struct Range {
    std::uint64_t start = 0, end = 0;
  };
  std::optional<Range> text_range(std::string_view module) const;

  // The parsed table as bytes (for the kallsyms cache, kallsyms_cache.hpp), and back. from_bytes()
  // checks everything find() and text_range() rely on (starts strictly increasing, names and
  // module indexes in bounds, the kernel image first) and gives nothing for any input that fails,
  // whatever its bytes. Both use this machine's byte order.
  std::string to_bytes() const;
  // With `owner` (what keeps `bytes` alive: the mapped cache file), the names are read where
  // they lie instead of copied: the table keeps `owner`.
  static std::optional<KernelSymbols> from_bytes(std::string_view bytes,
                                                 std::shared_ptr<const void> owner = {});
  bool operator==(const KernelSymbols& o) const {
    return names() == o.names() && symbols_ == o.symbols_ && modules_ == o.modules_ &&
           etext_ == o.etext_ && stext_ == o.stext_ && einittext_ == o.einittext_ &&
           hidden_ == o.hidden_;
  }

 private:
  struct Symbol {
    std::uint64_t start;
    std::uint32_t name_offset;  // into names_
    std::uint16_t name_length;
    std::uint16_t module;  // index into modules_; 0 = the kernel image
    bool global;           // T or W
    bool operator==(const Symbol&) const = default;
  };
  struct Module {
    std::string name;
    std::uint64_t start = 0, end = 0;  // from /proc/modules; 0/0 when unknown
    bool operator==(const Module&) const = default;
  };

  std::string names_;  // every kept name, back to back (one allocation instead of one per line)
  // from_bytes() with an owner: the names where they lie, kept alive by names_owner_.
  std::shared_ptr<const void> names_owner_;
  std::string_view names_in_place_;
  std::string_view names() const { return names_owner_ ? names_in_place_ : names_; }
  std::vector<Symbol> symbols_;
  std::vector<Module> modules_;
  std::uint64_t etext_ = 0;      // end of the kernel image's text; 0 when kallsyms lacks _etext
  std::uint64_t stext_ = 0;      // start of the kernel image's text; 0 when kallsyms lacks it
  std::uint64_t einittext_ = 0;  // end of the image's init text; 0 when kallsyms lacks it
  bool hidden_ = false;
};

}  // namespace perfscope::symbols
