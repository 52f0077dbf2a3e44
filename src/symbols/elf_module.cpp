#include "symbols/elf_module.hpp"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <utility>

#include "core/unique_fd.hpp"
#include "symbols/demangle.hpp"

namespace perfscope::symbols {
namespace {

struct ElfEnd {
  void operator()(Elf* e) const { elf_end(e); }
};
using ElfPtr = std::unique_ptr<Elf, ElfEnd>;

struct DwarfEnd {
  void operator()(Dwarf* d) const { dwarf_end(d); }
};
using DwarfPtr = std::unique_ptr<Dwarf, DwarfEnd>;

bool libelf_ready() {
  static const bool ready = elf_version(EV_CURRENT) != EV_NONE;
  return ready;
}

std::string dirname_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// Opens an ELF file and detaches it from its descriptor (see the header: no fd is kept).
Result<ElfPtr> open_elf(const std::string& path, const std::string& display_path) {
  if (!libelf_ready()) return Error{"libelf version mismatch", 0, {}};
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return errno_error("cannot open " + display_path);
  ElfPtr elf(elf_begin(fd.get(), ELF_C_READ_MMAP, nullptr));
  if (!elf) return Error{"cannot read " + display_path + ": " + elf_errmsg(-1), 0, {}};
  if (elf_kind(elf.get()) != ELF_K_ELF) return Error{display_path + " is not an ELF file", 0, {}};
  // Reads the whole file when mmap failed, then forgets the descriptor.
  if (elf_cntl(elf.get(), ELF_C_FDREAD) != 0) {
    return Error{"cannot read " + display_path + ": " + elf_errmsg(-1), 0, {}};
  }
  return elf;
}

std::string build_id_of(Elf* elf) {
  const void* bytes = nullptr;
  const ssize_t n = dwelf_elf_gnu_build_id(elf, &bytes);
  std::string hex;
  if (n <= 0 || bytes == nullptr) return hex;
  static constexpr char digits[] = "0123456789abcdef";
  const auto* p = static_cast<const unsigned char*>(bytes);
  for (ssize_t i = 0; i < n; ++i) {
    hex += digits[p[i] >> 4];
    hex += digits[p[i] & 15];
  }
  return hex;
}

struct Sections {
  bool symtab = false;
  bool dynsym = false;
  bool debug_info = false;
};

Sections scan_sections(Elf* elf) {
  Sections s;
  std::size_t names = 0;
  if (elf_getshdrstrndx(elf, &names) != 0) return s;
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr) continue;
    if (shdr.sh_type == SHT_SYMTAB) s.symtab = true;
    if (shdr.sh_type == SHT_DYNSYM) s.dynsym = true;
    const char* name = elf_strptr(elf, names, shdr.sh_name);
    if (name != nullptr && shdr.sh_type != SHT_NOBITS &&
        (std::strcmp(name, ".debug_info") == 0 || std::strcmp(name, ".zdebug_info") == 0)) {
      s.debug_info = true;
    }
  }
  return s;
}

struct Symbol {
  std::uint64_t start;
  std::uint64_t size;
  std::string_view name;  // into the mapped string table, without a "@@GLIBC_2.2.5" version
  unsigned char bind;
};

// Ranks aliases at one address; smaller is better (see ElfModule::symbol_at).
bool better_alias(const Symbol& a, const Symbol& b) {
  if ((a.size != 0) != (b.size != 0)) return a.size != 0;
  const bool a_exported = a.bind != STB_LOCAL, b_exported = b.bind != STB_LOCAL;
  if (a_exported != b_exported) return a_exported;
  const std::string_view an = a.name, bn = b.name;
  const auto au = std::min(an.find_first_not_of('_'), an.size());
  const auto bu = std::min(bn.find_first_not_of('_'), bn.size());
  if (au != bu) return au < bu;
  if ((a.bind == STB_GLOBAL) != (b.bind == STB_GLOBAL)) return a.bind == STB_GLOBAL;
  if (an.size() != bn.size()) return an.size() < bn.size();
  return an < bn;
}

// Appends the function symbols of the first section of `type` (only the first one with
// `first_only`); false when there is none.
bool read_symbols(Elf* elf, Elf64_Word type, std::vector<Symbol>& out, bool first_only = false) {
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr || shdr.sh_type != type || shdr.sh_entsize == 0) {
      continue;
    }
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (data == nullptr) return false;
    const std::size_t count = shdr.sh_size / shdr.sh_entsize;
    if (!first_only) out.reserve(out.size() + count);
    for (std::size_t i = 1; i < count; ++i) {
      GElf_Sym sym;
      if (gelf_getsym(data, static_cast<int>(i), &sym) == nullptr) break;
      const int sym_type = GELF_ST_TYPE(sym.st_info);
      if ((sym_type != STT_FUNC && sym_type != STT_GNU_IFUNC) || sym.st_shndx == SHN_UNDEF ||
          sym.st_value == 0) {
        continue;
      }
      const char* text = elf_strptr(elf, shdr.sh_link, sym.st_name);
      if (text == nullptr) continue;
      // Symbol tables of debug files carry versions ("fopen@@GLIBC_2.2.5"); mangled names never
      // contain '@'.
      std::string_view name = text;
      name = name.substr(0, name.find('@'));
      if (name.empty()) continue;
      out.push_back(Symbol{sym.st_value, sym.st_size, name,
                           static_cast<unsigned char>(GELF_ST_BIND(sym.st_info))});
      if (first_only) break;
    }
    return true;
  }
  return false;
}

struct Segment {
  std::uint64_t offset, vaddr, filesz;
  bool exec;
};

std::vector<Segment> load_segments(Elf* elf) {
  std::vector<Segment> segments;
  std::size_t count = 0;
  if (elf_getphdrnum(elf, &count) != 0) return segments;
  for (std::size_t i = 0; i < count; ++i) {
    GElf_Phdr ph;
    if (gelf_getphdr(elf, static_cast<int>(i), &ph) == nullptr || ph.p_type != PT_LOAD) continue;
    segments.push_back(Segment{ph.p_offset, ph.p_vaddr, ph.p_filesz, (ph.p_flags & PF_X) != 0});
  }
  return segments;
}

// A candidate debug file is used when it is ELF, carries DWARF or a symbol table, and its
// build-id matches the module's (when both are known).
ElfPtr open_debug_candidate(const std::string& path, std::string_view build_id) {
  if (::access(path.c_str(), R_OK) != 0) return nullptr;
  auto elf = open_elf(path, path);
  if (!elf) return nullptr;
  if (!build_id.empty()) {
    const std::string id = build_id_of(elf->get());
    if (!id.empty() && id != build_id) return nullptr;
  }
  const Sections s = scan_sections(elf->get());
  if (!s.debug_info && !s.symtab) return nullptr;
  return std::move(*elf);
}

std::string die_function_name(Dwarf_Die* die) {
  Dwarf_Attribute attr;
  for (const int at : {DW_AT_linkage_name, DW_AT_MIPS_linkage_name}) {
    if (dwarf_attr_integrate(die, at, &attr) != nullptr) {
      if (const char* s = dwarf_formstring(&attr)) return demangle(s);
    }
  }
  if (dwarf_attr_integrate(die, DW_AT_name, &attr) != nullptr) {
    if (const char* s = dwarf_formstring(&attr)) return s;
  }
  return {};
}

bool has_pc_attributes(Dwarf_Die* die) {
  return dwarf_hasattr(die, DW_AT_low_pc) != 0 || dwarf_hasattr(die, DW_AT_ranges) != 0;
}

// Walks down from `parent` through the scopes containing `pc`, appending each inlined subroutine
// met (outermost first). True when some scope below `parent` contained pc.
bool descend_scopes(Dwarf_Die* parent, Dwarf_Addr pc, std::vector<Dwarf_Die>& chain, int depth) {
  Dwarf_Die child;
  if (depth > 64 || dwarf_child(parent, &child) != 0) return false;
  do {
    const int tag = dwarf_tag(&child);
    if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_lexical_block &&
        tag != DW_TAG_try_block && tag != DW_TAG_catch_block) {
      continue;
    }
    if (dwarf_haspc(&child, pc) == 1) {
      if (tag == DW_TAG_inlined_subroutine) chain.push_back(child);
      descend_scopes(&child, pc, chain, depth + 1);
      return true;
    }
    // A block with no address range of its own may still hold children that have one.
    if (tag != DW_TAG_inlined_subroutine && !has_pc_attributes(&child) &&
        descend_scopes(&child, pc, chain, depth + 1)) {
      return true;
    }
  } while (dwarf_siblingof(&child, &child) == 0);
  return false;
}

struct AddressRange {
  std::uint64_t low, high;  // [low, high)
  std::uint32_t index;
};

// The range containing pc in a vector sorted by low, or nullptr.
const AddressRange* find_range(const std::vector<AddressRange>& ranges, std::uint64_t pc) {
  auto it = std::upper_bound(ranges.begin(), ranges.end(), pc,
                             [](std::uint64_t a, const AddressRange& r) { return a < r.low; });
  // Ranges rarely overlap (a function's cold part inside another unit); look back a little.
  for (int step = 0; step < 4 && it != ranges.begin(); ++step) {
    --it;
    if (pc < it->high) return &*it;
  }
  return nullptr;
}

void append_ranges(Dwarf_Die* die, std::uint32_t index, std::vector<AddressRange>& out) {
  Dwarf_Addr base = 0, low = 0, high = 0;
  ptrdiff_t offset = 0;
  while ((offset = dwarf_ranges(die, offset, &base, &low, &high)) > 0) {
    if (low < high) out.push_back(AddressRange{low, high, index});
  }
}

// The symbol covering `vaddr` in a table sorted by start (see ElfModule::symbol_at), or null.
const Symbol* symbol_covering(const std::vector<Symbol>& symbols, std::uint64_t vaddr) {
  auto it = std::upper_bound(symbols.begin(), symbols.end(), vaddr,
                             [](std::uint64_t a, const Symbol& sym) { return a < sym.start; });
  if (it == symbols.begin()) return nullptr;
  --it;
  if (it->size != 0 && vaddr - it->start >= it->size) return nullptr;
  return &*it;
}

// MiniDebugInfo (Fedora, CentOS and others): an xz-compressed ELF in .gnu_debugdata whose
// .symtab holds the functions .dynsym lacks. libdw's dwelf_elf_begin inflates it (xz, in memory,
// without a new link dependency) from a descriptor, so the section's bytes go through a memfd.
ElfPtr open_mini_debuginfo(Elf* elf) {
  std::size_t names = 0;
  if (elf == nullptr || elf_getshdrstrndx(elf, &names) != 0) return nullptr;
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr || shdr.sh_type != SHT_PROGBITS) continue;
    const char* name = elf_strptr(elf, names, shdr.sh_name);
    if (name == nullptr || std::strcmp(name, ".gnu_debugdata") != 0) continue;
    Elf_Data* data = elf_rawdata(scn, nullptr);
    if (data == nullptr || data->d_buf == nullptr || data->d_size == 0) return nullptr;
    UniqueFd fd(::memfd_create("perfscope-gnu_debugdata", MFD_CLOEXEC));
    if (!fd) return nullptr;
    const auto* bytes = static_cast<const char*>(data->d_buf);
    for (std::size_t done = 0; done < data->d_size;) {
      const ssize_t n = ::write(fd.get(), bytes + done, data->d_size - done);
      if (n <= 0) return nullptr;
      done += static_cast<std::size_t>(n);
    }
    if (::lseek(fd.get(), 0, SEEK_SET) != 0) return nullptr;
    // The inflated image lives in memory owned by the Elf; the descriptor may close.
    ElfPtr mini(dwelf_elf_begin(fd.get()));
    if (!mini || elf_kind(mini.get()) != ELF_K_ELF) return nullptr;
    return mini;
  }
  return nullptr;
}

// The range of the function holding the ELF entry point (e_entry), from the .eh_frame FDE that
// covers it, for an executable whose symbols do not name it (stripped). Nothing for shared
// libraries (e_entry 0) or when no FDE covers it.
std::optional<std::pair<std::uint64_t, std::uint64_t>> entry_function(Elf* elf) {
  GElf_Ehdr ehdr;
  if (elf == nullptr || gelf_getehdr(elf, &ehdr) == nullptr || ehdr.e_entry == 0) {
    return std::nullopt;
  }
  Dwarf_CFI* cfi = dwarf_getcfi_elf(elf);
  if (cfi == nullptr) return std::nullopt;
  std::optional<std::pair<std::uint64_t, std::uint64_t>> range;
  Dwarf_Frame* frame = nullptr;
  if (dwarf_cfi_addrframe(cfi, ehdr.e_entry, &frame) == 0) {
    Dwarf_Addr start = 0, end = 0;
    if (dwarf_frame_info(frame, &start, &end, nullptr) >= 0 && start == ehdr.e_entry &&
        end > start) {
      range.emplace(start, end);
    }
    std::free(frame);
  }
  dwarf_cfi_end(cfi);
  return range;
}

}  // namespace

struct ElfModule::State {
  // Member order matters: the Dwarf reads from debug_elf or elf, so it is declared (and thus
  // destroyed) after them.
  ElfPtr elf;        // the module itself; null when it changed on disk and debug_elf stands in
  ElfPtr debug_elf;  // separate debug file, may be null
  std::string build_id;
  std::string debug_path;
  ElfPtr mini_debuginfo;  // the inflated .gnu_debugdata, may be null; symbols point into it
  std::vector<Segment> segments;
  // The symbol table is read on first use (symbols()): a Symbolizer whose addresses all come
  // from its cache never needs it. Which sections it comes from is decided at open.
  Sections main_sections, debug_sections;
  bool symbols_read = false;
  std::vector<Symbol> symbol_table;  // sorted by start, one per address
  // A stripped executable's entry function [start, end) from its FDE, named _start.
  std::optional<std::pair<std::uint64_t, std::uint64_t>> entry;

  // Symbols: the full table of the file, else that of its debug file, else the dynamic one
  // joined by MiniDebugInfo's table of the functions it lacks.
  const std::vector<Symbol>& symbols() {
    if (symbols_read) return symbol_table;
    symbols_read = true;
    if (!(main_sections.symtab && read_symbols(elf.get(), SHT_SYMTAB, symbol_table)) &&
        !(debug_sections.symtab && read_symbols(debug_elf.get(), SHT_SYMTAB, symbol_table))) {
      if (main_sections.dynsym) read_symbols(elf.get(), SHT_DYNSYM, symbol_table);
      if ((mini_debuginfo = open_mini_debuginfo(elf.get()))) {
        read_symbols(mini_debuginfo.get(), SHT_SYMTAB, symbol_table);
      }
    }
    std::sort(symbol_table.begin(), symbol_table.end(), [](const Symbol& a, const Symbol& b) {
      return a.start != b.start ? a.start < b.start : better_alias(a, b);
    });
    symbol_table.erase(
        std::unique(symbol_table.begin(), symbol_table.end(),
                    [](const Symbol& a, const Symbol& b) { return a.start == b.start; }),
        symbol_table.end());
    if (dwarf_source == nullptr) {
      auto e = entry_function(elf ? elf.get() : debug_elf.get());
      if (e && symbol_covering(symbol_table, e->first) == nullptr) entry = e;
    }
    return symbol_table;
  }

  // Whether symbols() is non-empty, without building it when the answer is plain: the first
  // function symbol of the section it would read says yes.
  bool has_function_symbols() {
    if (symbols_read) return !symbol_table.empty();
    std::vector<Symbol> one;
    if (main_sections.symtab) {
      if (read_symbols(elf.get(), SHT_SYMTAB, one, true)) return !one.empty();
    } else if (debug_sections.symtab) {
      if (read_symbols(debug_elf.get(), SHT_SYMTAB, one, true)) return !one.empty();
    } else if (main_sections.dynsym && read_symbols(elf.get(), SHT_DYNSYM, one, true) &&
               !one.empty()) {
      return true;  // MiniDebugInfo's symbols would only join these
    }
    return !symbols().empty();
  }

  Elf* dwarf_source = nullptr;  // the Elf with .debug_info, or null
  bool dwarf_tried = false;
  DwarfPtr dwarf;
  struct Unit {
    Dwarf_Die die;
    bool functions_indexed = false;
    std::vector<AddressRange> function_ranges;  // index into functions
    std::vector<Dwarf_Die> functions;
    bool comp_dir_read = false;
    std::string comp_dir = {};  // DW_AT_comp_dir, when absolute
  };
  std::vector<Unit> units;
  std::vector<AddressRange> unit_ranges;  // index into units

  Dwarf* open_dwarf() {
    if (dwarf_tried) return dwarf.get();
    dwarf_tried = true;
    if (dwarf_source == nullptr) return nullptr;
    dwarf.reset(dwarf_begin_elf(dwarf_source, DWARF_C_READ, nullptr));
    if (!dwarf) return nullptr;
    Dwarf_CU* cu = nullptr;
    Dwarf_CU* next = nullptr;
    Dwarf_Half version = 0;
    std::uint8_t unit_type = 0;
    Dwarf_Die cudie{}, subdie{};
    while (dwarf_get_units(dwarf.get(), cu, &next, &version, &unit_type, &cudie, &subdie) == 0) {
      cu = next;
      if (unit_type != DW_UT_compile) continue;  // partial and type units hold no code of their own
      const auto index = static_cast<std::uint32_t>(units.size());
      units.push_back(Unit{cudie, false, {}, {}});
      append_ranges(&units.back().die, index, unit_ranges);
    }
    std::sort(unit_ranges.begin(), unit_ranges.end(),
              [](const AddressRange& a, const AddressRange& b) { return a.low < b.low; });
    return dwarf.get();
  }

  Unit* unit_for(std::uint64_t pc) {
    if (open_dwarf() == nullptr) return nullptr;
    const AddressRange* r = find_range(unit_ranges, pc);
    return r == nullptr ? nullptr : &units[r->index];
  }

  // Out-of-line functions sit at the top of a unit or inside namespaces (gcc places definitions
  // there); nested functions are reached by the scope walk instead.
  static void collect_functions(Dwarf_Die* parent, Unit& unit, int depth) {
    Dwarf_Die child;
    if (depth > 32 || dwarf_child(parent, &child) != 0) return;
    do {
      const int tag = dwarf_tag(&child);
      if (tag == DW_TAG_subprogram) {
        const auto index = static_cast<std::uint32_t>(unit.functions.size());
        const auto before = unit.function_ranges.size();
        append_ranges(&child, index, unit.function_ranges);
        if (unit.function_ranges.size() != before) unit.functions.push_back(child);
      } else if (tag == DW_TAG_namespace || tag == DW_TAG_module) {
        collect_functions(&child, unit, depth + 1);
      }
    } while (dwarf_siblingof(&child, &child) == 0);
  }

  Dwarf_Die* function_for(Unit& unit, std::uint64_t pc) {
    if (!unit.functions_indexed) {
      unit.functions_indexed = true;
      collect_functions(&unit.die, unit, 0);
      std::sort(unit.function_ranges.begin(), unit.function_ranges.end(),
                [](const AddressRange& a, const AddressRange& b) { return a.low < b.low; });
    }
    const AddressRange* r = find_range(unit.function_ranges, pc);
    return r == nullptr ? nullptr : &unit.functions[r->index];
  }

  // A source file's name, absolute. libdw gives a line table's name as the table spells it, and
  // one whose directory is relative stays relative (gcc -g ../src/x.c run in /a/build gives
  // "../src/x.c"), which a reader would then look for from wherever perfscope runs. Like
  // addr2line, join it to the unit's compilation directory (DW_AT_comp_dir): "/a/src/x.c".
  static std::string source_name(Unit& unit, const char* name) {
    if (name[0] == '/' || name[0] == '\0') return name;
    if (!unit.comp_dir_read) {
      unit.comp_dir_read = true;
      Dwarf_Attribute attr;
      const char* dir = dwarf_formstring(dwarf_attr(&unit.die, DW_AT_comp_dir, &attr));
      if (dir != nullptr && dir[0] == '/') unit.comp_dir = dir;
    }
    if (unit.comp_dir.empty()) return name;
    return (std::filesystem::path(unit.comp_dir) / name).lexically_normal().string();
  }

  static void line_at(Unit& unit, std::uint64_t pc, Frame& f) {
    Dwarf_Line* line = dwarf_getsrc_die(&unit.die, pc);
    if (line == nullptr) return;
    if (const char* file = dwarf_linesrc(line, nullptr, nullptr)) f.file = source_name(unit, file);
    int number = 0;
    if (dwarf_lineno(line, &number) == 0 && number > 0) f.line = static_cast<std::uint32_t>(number);
  }

  // The place in its caller where an inlined subroutine was inlined.
  static void call_site(Unit& unit, Dwarf_Die* inlined, Frame& f) {
    Dwarf_Attribute attr;
    Dwarf_Word file = 0, line = 0;
    if (dwarf_formudata(dwarf_attr(inlined, DW_AT_call_line, &attr), &line) == 0) {
      f.line = static_cast<std::uint32_t>(line);
    }
    Dwarf_Files* files = nullptr;
    std::size_t count = 0;
    if (dwarf_formudata(dwarf_attr(inlined, DW_AT_call_file, &attr), &file) == 0 &&
        dwarf_getsrcfiles(&unit.die, &files, &count) == 0 && file < count) {
      if (const char* name = dwarf_filesrc(files, file, nullptr, nullptr)) {
        f.file = source_name(unit, name);
      }
    }
  }
};

ElfModule::ElfModule(std::unique_ptr<State> state) : s_(std::move(state)) {}
ElfModule::~ElfModule() = default;

Result<std::unique_ptr<ElfModule>> ElfModule::open(const std::string& display_path,
                                                   const std::string& open_path,
                                                   std::string_view expected_build_id,
                                                   const std::vector<std::string>& debug_dirs) {
  auto elf = open_elf(open_path, display_path);
  if (!elf) return elf.error();
  auto s = std::make_unique<State>();
  s->elf = std::move(*elf);
  s->build_id = build_id_of(s->elf.get());
  const bool changed =
      !expected_build_id.empty() && !s->build_id.empty() && s->build_id != expected_build_id;
  const std::string wanted_id = changed ? std::string(expected_build_id) : s->build_id;

  // Separate debug info: by build-id first (exact), then by .gnu_debuglink name.
  if (wanted_id.size() > 2) {
    for (const auto& dir : debug_dirs) {
      const std::string path =
          dir + "/.build-id/" + wanted_id.substr(0, 2) + "/" + wanted_id.substr(2) + ".debug";
      if ((s->debug_elf = open_debug_candidate(path, wanted_id))) {
        s->debug_path = path;
        break;
      }
    }
  }
  if (!s->debug_elf && !changed) {
    GElf_Word crc = 0;
    if (const char* link = dwelf_elf_gnu_debuglink(s->elf.get(), &crc)) {
      const std::string open_dir = dirname_of(open_path);
      std::vector<std::string> candidates = {open_dir + "/" + link, open_dir + "/.debug/" + link};
      for (const auto& dir : debug_dirs) {
        candidates.push_back(dir + dirname_of(display_path) + "/" + link);
      }
      for (const auto& path : candidates) {
        if (path == open_path) continue;
        if ((s->debug_elf = open_debug_candidate(path, s->build_id))) {
          s->debug_path = path;
          break;
        }
      }
    }
  }
  if (changed) {
    if (!s->debug_elf) {
      return Error{display_path + " changed on disk since it was mapped (build-id " + s->build_id +
                       ", expected " + std::string(expected_build_id) + ")",
                   0,
                   {}};
    }
    s->elf.reset();
    s->build_id = wanted_id;
  }

  Elf* main = s->elf ? s->elf.get() : s->debug_elf.get();
  s->segments = load_segments(main);
  s->main_sections = s->elf ? scan_sections(s->elf.get()) : Sections{};
  s->debug_sections = s->debug_elf ? scan_sections(s->debug_elf.get()) : Sections{};
  if (s->debug_sections.debug_info) {
    s->dwarf_source = s->debug_elf.get();
  } else if (s->main_sections.debug_info) {
    s->dwarf_source = s->elf.get();
  }
  return std::unique_ptr<ElfModule>(new ElfModule(std::move(s)));
}

const std::string& ElfModule::build_id() const {
  return s_->build_id;
}
const std::string& ElfModule::debug_file() const {
  return s_->debug_path;
}
bool ElfModule::has_symbols() const {
  return s_->dwarf_source != nullptr || s_->has_function_symbols();
}
Elf* ElfModule::file() const {
  return s_->elf.get();
}
Elf* ElfModule::debug_file_elf() const {
  return s_->debug_elf.get();
}
std::size_t ElfModule::symbol_count() const {
  return s_->symbols().size();
}

std::uint64_t ElfModule::vaddr_for_file_offset(std::uint64_t offset) const {
  for (const auto& seg : s_->segments) {
    if (offset >= seg.offset && offset - seg.offset < seg.filesz) {
      return offset - seg.offset + seg.vaddr;
    }
  }
  // Outside every segment's file bytes (e.g. a mapping of zero-fill): assume the first executable
  // segment's displacement, which is the right one for code.
  for (const auto& seg : s_->segments) {
    if (seg.exec) return offset - seg.offset + seg.vaddr;
  }
  return offset;
}

std::optional<ElfSymbol> ElfModule::symbol_at(std::uint64_t vaddr) const {
  const Symbol* sym = symbol_covering(s_->symbols(), vaddr);
  if (sym == nullptr) return std::nullopt;
  return ElfSymbol{sym->name, sym->start, sym->size};
}

void ElfModule::symbolize(std::uint64_t vaddr, bool inline_frames, bool line_numbers,
                          std::vector<Frame>& out, bool dwarf_names) {
  const auto symbol = symbol_at(vaddr);
  // chain[0] is the out-of-line function, then the inlined subroutines, outermost first.
  std::vector<Dwarf_Die> chain;
  State::Unit* unit = nullptr;
  if (inline_frames || line_numbers || (!symbol && dwarf_names)) unit = s_->unit_for(vaddr);
  if (unit != nullptr) {
    if (Dwarf_Die* function = s_->function_for(*unit, vaddr)) {
      chain.push_back(*function);
      descend_scopes(&chain[0], vaddr, chain, 0);
    }
  }

  std::string outer = symbol ? demangle(symbol->name) : std::string();
  if (outer.empty() && !chain.empty()) outer = die_function_name(&chain[0]);
  if (outer.empty() && s_->entry && vaddr >= s_->entry->first && vaddr < s_->entry->second) {
    outer = "_start";  // the linker's default entry symbol, what every crt1 calls it
  }
  if (outer.empty()) return;

  // The function's own line (DW_AT_decl_line, through its abstract origin or specification),
  // with line numbers only, as the file and line of the frame come with them.
  auto start_line = [line_numbers](Dwarf_Die* die) -> std::uint32_t {
    int line = 0;
    if (!line_numbers || dwarf_decl_line(die, &line) != 0 || line <= 0) return 0;
    return static_cast<std::uint32_t>(line);
  };
  auto frame = [vaddr](std::string function, bool inlined) {
    Frame f;
    f.function = std::move(function);
    f.inlined = inlined;
    f.resolved = true;
    f.module_offset = vaddr;
    return f;
  };
  if (!inline_frames || chain.size() <= 1) {
    // One frame; its line is in the outer function itself: where the first inlined call sits,
    // else the line table's row for the address.
    Frame f = frame(std::move(outer), false);
    if (!chain.empty()) f.start_line = start_line(&chain[0]);
    if (line_numbers && unit != nullptr) {
      if (chain.size() > 1) {
        State::call_site(*unit, &chain[1], f);
      } else {
        State::line_at(*unit, vaddr, f);
      }
    }
    out.push_back(std::move(f));
    return;
  }
  for (std::size_t i = chain.size(); i-- > 0;) {
    std::string name = i == 0 ? outer : die_function_name(&chain[i]);
    if (name.empty()) name = "[unknown: unnamed inlined function]";
    Frame f = frame(std::move(name), i > 0);
    f.start_line = start_line(&chain[i]);
    if (line_numbers) {
      if (i + 1 == chain.size()) {
        State::line_at(*unit, vaddr, f);
      } else {
        State::call_site(*unit, &chain[i + 1], f);
      }
    }
    out.push_back(std::move(f));
  }
}

}  // namespace perfscope::symbols
