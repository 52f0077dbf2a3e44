#include "system/binary_check.hpp"

#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "core/files.hpp"
#include "core/mapped_region.hpp"
#include "core/unique_fd.hpp"

namespace perfscope::system {
namespace {

struct Image {
  const unsigned char* data;
  std::size_t size;
  template <typename T>
  bool read(std::size_t off, T& out) const {
    if (off > size || size - off < sizeof(T)) return false;
    std::memcpy(&out, data + off, sizeof(T));
    return true;
  }
};

// True when the bytes at a function's start set up a frame pointer, optionally after endbr64.
// push %rbp first, then mov %rsp,%rbp within the next few instructions: gcc -O2 schedules other
// instructions between the two ("push %rbp; mov %edx,%ecx; mov %rsp,%rbp").
bool has_frame_setup(const unsigned char* p, std::size_t n) {
  static constexpr unsigned char endbr64[] = {0xf3, 0x0f, 0x1e, 0xfa};
  if (n >= 4 && std::memcmp(p, endbr64, 4) == 0) p += 4, n -= 4;
  if (n < 4 || p[0] != 0x55) return false;
  static constexpr unsigned char mov_rsp_rbp[] = {0x48, 0x89, 0xe5};
  const std::size_t window = std::min<std::size_t>(n, 24);
  for (std::size_t i = 1; i + sizeof mov_rsp_rbp <= window; ++i) {
    if (std::memcmp(p + i, mov_rsp_rbp, sizeof mov_rsp_rbp) == 0) return true;
  }
  return false;
}

// A part of a function that gcc moved out of line (name.cold, name.cold.3): it runs in its
// parent's frame and never sets one up.
bool cold_part(std::string_view name) {
  const auto at = name.find(".cold");
  return at != std::string_view::npos && (at + 5 == name.size() || name[at + 5] == '.');
}

// Start-up code the C runtime links into every program; it never keeps a frame pointer, whatever
// the program itself was built with.
bool runtime_startup_symbol(std::string_view name) {
  static constexpr std::string_view names[] = {"_start",
                                               "_init",
                                               "_fini",
                                               "deregister_tm_clones",
                                               "register_tm_clones",
                                               "__do_global_dtors_aux",
                                               "frame_dummy",
                                               "_dl_relocate_static_pie",
                                               "__libc_csu_init",
                                               "__libc_csu_fini",
                                               "atexit",
                                               "at_quick_exit"};
  return std::find(std::begin(names), std::end(names), name) != std::end(names);
}

}  // namespace

Result<BinaryReport> inspect_binary(const std::string& path, int max_functions) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return errno_error("open " + path, "  check the path (perfscope doctor --binary PATH)");
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return errno_error("stat " + path);
  if (st.st_size < static_cast<off_t>(sizeof(Elf64_Ehdr))) {
    return Error{path + " is not an ELF file", 0,
                 "  --binary takes an executable or shared library"};
  }
  auto map = MappedRegion::map(fd.get(), static_cast<std::size_t>(st.st_size), PROT_READ,
                               MAP_PRIVATE, 0, path.c_str());
  if (!map) return map.error();
  const Image img{static_cast<const unsigned char*>(map->data()), map->size()};
  Elf64_Ehdr eh;
  img.read(0, eh);
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) {
    return Error{path + " is not an ELF file", 0,
                 "  --binary takes an executable or shared library"};
  }
  BinaryReport r;
  r.path = path;
  r.elf64 = eh.e_ident[EI_CLASS] == ELFCLASS64;
  if (!r.elf64)
    return Error{path + " is a 32-bit ELF file", 0, "  only 64-bit binaries are inspected"};

  for (std::size_t i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    if (!img.read(eh.e_phoff + i * eh.e_phentsize, ph)) break;
    if (ph.p_type == PT_LOAD && eh.e_entry >= ph.p_vaddr && eh.e_entry < ph.p_vaddr + ph.p_filesz) {
      r.entry_offset = static_cast<long>(eh.e_entry - ph.p_vaddr + ph.p_offset);
    }
  }

  std::vector<Elf64_Shdr> sections(eh.e_shnum);
  for (std::size_t i = 0; i < sections.size(); ++i) {
    if (!img.read(eh.e_shoff + i * eh.e_shentsize, sections[i])) {
      return Error{path + " has a truncated section table", 0, {}};
    }
  }
  auto name_of = [&](const Elf64_Shdr& s) -> std::string_view {
    if (eh.e_shstrndx >= sections.size()) return {};
    const auto& strtab = sections[eh.e_shstrndx];
    const std::size_t off = strtab.sh_offset + s.sh_name;
    if (off >= img.size) return {};
    return std::string_view(reinterpret_cast<const char*>(img.data + off),
                            strnlen(reinterpret_cast<const char*>(img.data + off), img.size - off));
  };

  const Elf64_Shdr* symtab = nullptr;
  const Elf64_Shdr* dynsym = nullptr;
  for (const auto& s : sections) {
    const auto n = name_of(s);
    if (s.sh_type == SHT_SYMTAB) symtab = &s;
    if (s.sh_type == SHT_DYNSYM) dynsym = &s;
    if (n == ".debug_info") r.debug_info = true;
    if (n == ".eh_frame") r.eh_frame = true;
    if (n == ".eh_frame_hdr") r.eh_frame_hdr = true;
    if (n == ".debug_frame") r.debug_frame = true;
    if (n == ".gnu_debuglink" && s.sh_offset < img.size) {
      r.debuglink = std::string(
          reinterpret_cast<const char*>(img.data + s.sh_offset),
          strnlen(reinterpret_cast<const char*>(img.data + s.sh_offset), img.size - s.sh_offset));
    }
    if (s.sh_type == SHT_NOTE && n == ".note.gnu.build-id") {
      Elf64_Nhdr nh;
      if (img.read(s.sh_offset, nh) && nh.n_type == NT_GNU_BUILD_ID) {
        const std::size_t desc = s.sh_offset + sizeof nh + ((nh.n_namesz + 3) & ~3U);
        static constexpr char hex[] = "0123456789abcdef";
        for (std::size_t i = 0; i < nh.n_descsz && desc + i < img.size; ++i) {
          r.build_id += hex[img.data[desc + i] >> 4];
          r.build_id += hex[img.data[desc + i] & 15];
        }
      }
    }
  }
  r.dynsym = dynsym != nullptr;

  // Function symbols with a body, from .symtab if present, else .dynsym.
  const Elf64_Shdr* table = symtab != nullptr ? symtab : dynsym;
  // The program's own functions are judged: weak definitions are inline and template code from
  // library headers (libstdc++'s), which may differ, and are taken only when there is nothing else.
  std::vector<Elf64_Sym> functions, weak;
  if (table != nullptr && table->sh_entsize == sizeof(Elf64_Sym)) {
    for (std::size_t off = table->sh_offset;
         off + sizeof(Elf64_Sym) <= table->sh_offset + table->sh_size; off += sizeof(Elf64_Sym)) {
      Elf64_Sym sym;
      if (!img.read(off, sym)) break;
      // Under 16 bytes a function is a stub or a leaf such as `mov %rdi,%rax; ret`, which gcc
      // leaves frameless even with -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer; calling
      // nothing, it cannot break a frame-pointer walk through its callers.
      if (ELF64_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_size < 16 || sym.st_shndx == SHN_UNDEF ||
          sym.st_shndx >= sections.size()) {
        continue;
      }
      const auto& strings = sections[table->sh_link < sections.size() ? table->sh_link : 0];
      const std::size_t name_off = strings.sh_offset + sym.st_name;
      if (name_off < img.size) {
        const std::string_view name(
            reinterpret_cast<const char*>(img.data + name_off),
            strnlen(reinterpret_cast<const char*>(img.data + name_off), img.size - name_off));
        if (runtime_startup_symbol(name) || cold_part(name)) continue;
      }
      (ELF64_ST_BIND(sym.st_info) == STB_WEAK ? weak : functions).push_back(sym);
    }
  }
  if (functions.empty()) functions = std::move(weak);
  r.symtab = symtab != nullptr && !functions.empty();
  // Prologue patterns are x86-64's; elsewhere the frame-pointer check is not made (0 sampled).
  if (eh.e_machine != EM_X86_64 || max_functions <= 0) functions.clear();
  const std::size_t step = functions.size() > static_cast<std::size_t>(max_functions)
                               ? functions.size() / static_cast<std::size_t>(max_functions)
                               : 1;
  for (std::size_t i = 0; i < functions.size() && r.functions_sampled < max_functions; i += step) {
    const auto& sym = functions[i];
    const auto& sec = sections[sym.st_shndx];
    if (sec.sh_type != SHT_PROGBITS || sym.st_value < sec.sh_addr) continue;
    const std::size_t off = sec.sh_offset + (sym.st_value - sec.sh_addr);
    if (off + 8 > img.size) continue;
    ++r.functions_sampled;
    if (has_frame_setup(img.data + off, std::min<std::size_t>(sym.st_size, img.size - off)))
      ++r.with_frame_pointer;
  }
  return r;
}

FramePointerJudgement judge_frame_pointers(const std::string& program, const std::string& shown) {
  FramePointerJudgement j;
  const std::string path = program.find('/') != std::string::npos ? program : find_on_path(program);
  auto report = path.empty() ? Result<BinaryReport>(Error{"not found on PATH", ENOENT, {}})
                             : inspect_binary(path);
  if (!report) {
    j.why = fmt::format("{} could not be inspected", shown);
    return j;
  }
  j.inspected = true;
  j.keeps_frame_pointers = report->frame_pointers();
  if (report->functions_sampled == 0) {
    // A stripped program (Debian's own): no symbol says where a function starts, so no prologue
    // can be checked, and a build that kept frame pointers cannot be assumed.
    j.why = fmt::format("{} has no function symbols to check for frame pointers (stripped)", shown);
    return j;
  }
  j.why = fmt::format("{} {} frame pointers ({} of {} sampled functions set them up)", shown,
                      j.keeps_frame_pointers ? "keeps" : "lacks", report->with_frame_pointer,
                      report->functions_sampled);
  if (j.keeps_frame_pointers && report->with_frame_pointer < report->functions_sampled) {
    j.why += "; a frame-pointer walk through one of the others skips its caller";
  }
  return j;
}

}  // namespace perfscope::system
