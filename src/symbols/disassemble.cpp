#include "symbols/disassemble.hpp"

#include <capstone/capstone.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>

#include <fmt/format.h>

#include <memory>
#include <string>
#include <type_traits>

#include "core/unique_fd.hpp"

namespace perfscope::symbols {
namespace {

constexpr std::size_t kMaxInstructions = 4096;

// Capstone, loaded the first time code is disassembled rather than with the binary: loading it
// relocates its tables, which then stay resident (3 MB) in every perfscope process, while only
// disassembly uses it (report --annotate, report's explorer and serve's annotation of code
// without source lines). Resident memory is not only RAM: on a VM with shadow page tables
// each wake-up of a process costs CPU per resident MB (measured for top; docs/benchmarks.md).
struct Capstone {
  decltype(&cs_open) open = nullptr;
  decltype(&cs_disasm) disasm = nullptr;
  decltype(&cs_free) free = nullptr;
  decltype(&cs_close) close = nullptr;
  std::string error;  // why it could not be loaded, or empty
};

const Capstone& capstone() {
  static const Capstone loaded = [] {
    Capstone c;
    const std::string name = "libcapstone.so." + std::to_string(CS_API_MAJOR);
    void* lib = ::dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);  // kept for the process's life
    if (lib == nullptr) {
      const char* why = ::dlerror();
      c.error = why != nullptr ? why : name;
      return c;
    }
    const auto symbol = [&](auto& fn, const char* fn_name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(::dlsym(lib, fn_name));
      if (fn == nullptr && c.error.empty()) c.error = name + " has no " + fn_name;
    };
    symbol(c.open, "cs_open");
    symbol(c.disasm, "cs_disasm");
    symbol(c.free, "cs_free");
    symbol(c.close, "cs_close");
    return c;
  }();
  return loaded;
}

struct ElfCloser {
  void operator()(Elf* e) const { elf_end(e); }
};

// The executable section holding `offset`, or null.
Elf_Scn* code_section(Elf* elf, std::uint64_t offset, GElf_Shdr& shdr) {
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
    if (gelf_getshdr(scn, &shdr) == nullptr) continue;
    if (shdr.sh_type != SHT_PROGBITS || (shdr.sh_flags & SHF_EXECINSTR) == 0) continue;
    if (offset >= shdr.sh_offset && offset < shdr.sh_offset + shdr.sh_size) return scn;
  }
  return nullptr;
}

// The [start, end) of the function symbol holding `vaddr`: .symtab first, then .dynsym.
bool function_range(Elf* elf, std::uint64_t vaddr, std::uint64_t& start, std::uint64_t& end) {
  for (const Elf64_Word type : {SHT_SYMTAB, SHT_DYNSYM}) {
    for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
      GElf_Shdr shdr;
      if (gelf_getshdr(scn, &shdr) == nullptr || shdr.sh_type != type || shdr.sh_entsize == 0) {
        continue;
      }
      Elf_Data* data = elf_getdata(scn, nullptr);
      if (data == nullptr) continue;
      const std::size_t count = shdr.sh_size / shdr.sh_entsize;
      for (std::size_t i = 0; i < count; ++i) {
        GElf_Sym sym;
        if (gelf_getsym(data, static_cast<int>(i), &sym) == nullptr) continue;
        if (GELF_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_size == 0) continue;
        if (vaddr >= sym.st_value && vaddr < sym.st_value + sym.st_size) {
          start = sym.st_value;
          end = sym.st_value + sym.st_size;
          return true;
        }
      }
    }
  }
  return false;
}

}  // namespace

Result<std::vector<Instruction>> disassemble_function(const std::string& path,
                                                      std::uint64_t file_offset) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return errno_error("open(" + path + ")", "  the profile names this file for the code");
  elf_version(EV_CURRENT);
  std::unique_ptr<Elf, ElfCloser> elf(elf_begin(fd.get(), ELF_C_READ_MMAP, nullptr));
  if (!elf || elf_kind(elf.get()) != ELF_K_ELF) {
    return Error{path + " is not an ELF file", 0, {}};
  }
  GElf_Ehdr ehdr;
  if (gelf_getehdr(elf.get(), &ehdr) == nullptr) return Error{path + ": no ELF header", 0, {}};
  cs_arch arch;
  cs_mode mode;
  if (ehdr.e_machine == EM_X86_64) {
    arch = CS_ARCH_X86;
    mode = CS_MODE_64;
  } else if (ehdr.e_machine == EM_AARCH64) {
    arch = CS_ARCH_ARM64;
    mode = CS_MODE_ARM;
  } else {
    return Error{fmt::format("{}: machine {} is not disassembled here", path, ehdr.e_machine), 0,
                 "  perfscope disassembles x86-64 and AArch64 code"};
  }
  GElf_Shdr shdr;
  Elf_Scn* scn = code_section(elf.get(), file_offset, shdr);
  if (scn == nullptr) {
    return Error{fmt::format("{}: no code section holds offset {:#x}", path, file_offset), 0, {}};
  }
  const std::uint64_t vaddr = shdr.sh_addr + (file_offset - shdr.sh_offset);
  std::uint64_t start = 0, end = 0;
  if (!function_range(elf.get(), vaddr, start, end) || start < shdr.sh_addr ||
      end > shdr.sh_addr + shdr.sh_size) {
    return Error{fmt::format("{}: no function symbol covers address {:#x}", path, vaddr), 0,
                 "  the file is stripped; its debug file or symbols would name the function"};
  }
  Elf_Data* data = elf_getdata(scn, nullptr);
  if (data == nullptr || data->d_buf == nullptr || data->d_size < shdr.sh_size) {
    return Error{fmt::format("{}: cannot read the code at {:#x}", path, vaddr), 0, {}};
  }
  const Capstone& cs = capstone();
  if (!cs.error.empty()) {
    return Error{"cannot load Capstone, the disassembler: " + cs.error, 0,
                 fmt::format("  install it: apt-get install libcapstone{} "
                             "(scripts/install-deps.sh does)",
                             CS_API_MAJOR)};
  }
  csh handle = 0;
  if (cs.open(arch, mode, &handle) != CS_ERR_OK) {
    return Error{"capstone: cs_open failed", 0, "  libcapstone lacks this architecture"};
  }
  const auto* bytes = static_cast<const std::uint8_t*>(data->d_buf) + (start - shdr.sh_addr);
  cs_insn* insn = nullptr;
  const std::size_t n = cs.disasm(handle, bytes, end - start, start, kMaxInstructions, &insn);
  std::vector<Instruction> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    std::string text = insn[i].mnemonic;
    if (insn[i].op_str[0] != '\0') text += fmt::format(" {}", insn[i].op_str);
    out.push_back(
        {insn[i].address, shdr.sh_offset + (insn[i].address - shdr.sh_addr), std::move(text)});
  }
  if (insn != nullptr) cs.free(insn, n);
  cs.close(&handle);
  if (out.empty())
    return Error{fmt::format("{}: no instruction decodes at {:#x}", path, start), 0, {}};
  return out;
}

}  // namespace perfscope::symbols
