#include "symbols/kallsyms.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <limits>

#include "core/files.hpp"

namespace perfscope::symbols {
namespace {

constexpr std::uint64_t kPage = 4096;

bool parse_hex(std::string_view s, std::uint64_t& out) {
  if (s.starts_with("0x")) s.remove_prefix(2);
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, 16);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

std::size_t leading_underscores(std::string_view name) {
  const auto n = name.find_first_not_of('_');
  return n == std::string_view::npos ? name.size() : n;
}

// Splits off the next space-separated field of `s`.
std::string_view next_field(std::string_view& s) {
  const auto begin = s.find_first_not_of(' ');
  if (begin == std::string_view::npos) {
    s = {};
    return {};
  }
  s.remove_prefix(begin);
  const auto end = std::min(s.find(' '), s.size());
  const auto field = s.substr(0, end);
  s.remove_prefix(end);
  return field;
}

}  // namespace

KernelSymbols KernelSymbols::parse(std::string_view kallsyms, std::string_view modules) {
  KernelSymbols ks;
  ks.modules_.emplace_back();  // index 0: the kernel image
  ks.names_.reserve(kallsyms.size() / 2);
  ks.symbols_.reserve(kallsyms.size() / 40);
  bool any_symbol = false;
  bool any_nonzero = false;
  std::string_view last_module;
  std::uint16_t last_module_index = 0;

  std::size_t pos = 0;
  while (pos < kallsyms.size()) {
    const std::size_t nl = std::min(kallsyms.find('\n', pos), kallsyms.size());
    std::string_view line = kallsyms.substr(pos, nl - pos);
    pos = nl + 1;

    // "ffffffff81000000 T _stext" or "ffffffffc0201000 t name\t[module]"
    const auto space = line.find(' ');
    std::uint64_t address = 0;
    if (space == std::string_view::npos || space + 3 > line.size() || line[space + 2] != ' ' ||
        !parse_hex(line.substr(0, space), address)) {
      continue;
    }
    const char type = line[space + 1];
    std::string_view name = line.substr(space + 3);
    std::string_view module;
    if (const auto tab = name.find('\t'); tab != std::string_view::npos) {
      module = name.substr(tab + 1);
      name = name.substr(0, tab);
      if (module.size() >= 2 && module.front() == '[' && module.back() == ']') {
        module = module.substr(1, module.size() - 2);
      }
    }
    any_symbol = true;
    any_nonzero = any_nonzero || address != 0;
    // End markers, not functions: an address at or past them belongs to no symbol.
    if (module.empty() && (name == "_etext" || name == "_einittext")) {
      if (name == "_etext") ks.etext_ = address;
      if (name == "_einittext") ks.einittext_ = address;
      continue;
    }
    if (module.empty() && name == "_stext") ks.stext_ = address;
    if (type != 't' && type != 'T' && type != 'w' && type != 'W') continue;
    if (name.empty() || ks.names_.size() > std::numeric_limits<std::uint32_t>::max() - name.size())
      continue;
    name = name.substr(0, std::numeric_limits<std::uint16_t>::max());

    std::uint16_t module_index = 0;
    if (!module.empty()) {
      // kallsyms lists a module's symbols together, so the last lookup almost always matches.
      if (module != last_module) {
        auto it = std::find_if(ks.modules_.begin() + 1, ks.modules_.end(),
                               [&](const Module& m) { return m.name == module; });
        if (it == ks.modules_.end()) {
          if (ks.modules_.size() > std::numeric_limits<std::uint16_t>::max()) continue;
          ks.modules_.push_back(Module{std::string(module)});
          it = ks.modules_.end() - 1;
        }
        last_module = module;
        last_module_index = static_cast<std::uint16_t>(it - ks.modules_.begin());
      }
      module_index = last_module_index;
    }
    ks.symbols_.push_back(Symbol{address, static_cast<std::uint32_t>(ks.names_.size()),
                                 static_cast<std::uint16_t>(name.size()), module_index,
                                 type == 'T' || type == 'W'});
    ks.names_.append(name);
  }
  ks.hidden_ = any_symbol && !any_nonzero;

  // /proc/modules: "name size refcount deps state address [taints]"
  pos = 0;
  while (pos < modules.size()) {
    const std::size_t nl = std::min(modules.find('\n', pos), modules.size());
    std::string_view line = modules.substr(pos, nl - pos);
    pos = nl + 1;
    const auto name = next_field(line);
    const auto size_text = next_field(line);
    next_field(line);
    next_field(line);
    next_field(line);
    const auto address_text = next_field(line);
    std::uint64_t size = 0, address = 0;
    const auto [p, ec] =
        std::from_chars(size_text.data(), size_text.data() + size_text.size(), size);
    if (ec != std::errc() || !parse_hex(address_text, address) || address == 0) continue;
    for (auto& m : ks.modules_) {
      if (m.name == name) {
        m.start = address;
        m.end = address + size;
      }
    }
  }

  // Among aliases at one address, keep one deterministically: global before local, then fewer
  // leading underscores ("_text" before "__pi__text"), then the shorter name, then by name.
  auto name_of = [&ks](const Symbol& s) {
    return std::string_view(ks.names_).substr(s.name_offset, s.name_length);
  };
  std::sort(ks.symbols_.begin(), ks.symbols_.end(), [&](const Symbol& a, const Symbol& b) {
    if (a.start != b.start) return a.start < b.start;
    if (a.global != b.global) return a.global;
    const auto an = name_of(a), bn = name_of(b);
    const auto au = leading_underscores(an), bu = leading_underscores(bn);
    if (au != bu) return au < bu;
    if (an.size() != bn.size()) return an.size() < bn.size();
    return an < bn;
  });
  ks.symbols_.erase(
      std::unique(ks.symbols_.begin(), ks.symbols_.end(),
                  [](const Symbol& a, const Symbol& b) { return a.start == b.start; }),
      ks.symbols_.end());
  ks.symbols_.shrink_to_fit();
  ks.names_.shrink_to_fit();
  return ks;
}

Result<KernelSymbols> KernelSymbols::load(const std::string& kallsyms_path,
                                          const std::string& modules_path) {
  auto text = read_text_file(kallsyms_path);
  if (!text) return text.error();
  auto modules = read_text_file(modules_path);
  return parse(*text, modules ? std::string_view(*modules) : std::string_view());
}

std::optional<KernelSymbols::Hit> KernelSymbols::find(std::uint64_t address) const {
  if (hidden_) return std::nullopt;
  auto it = std::upper_bound(symbols_.begin(), symbols_.end(), address,
                             [](std::uint64_t a, const Symbol& s) { return a < s.start; });
  if (it == symbols_.begin()) return std::nullopt;
  const Symbol& sym = *(it - 1);
  const Module& module = modules_[sym.module];

  // The region's end bounds its last symbol: _etext for the kernel image, the module's extent
  // from /proc/modules. kallsyms has no sizes, so with neither a bound nor a following symbol in
  // the same region, the symbol gets one page.
  std::uint64_t end = 0;
  if (sym.module == 0 && etext_ > sym.start) end = etext_;
  if (sym.module != 0 && module.end > sym.start) end = module.end;
  if (it != symbols_.end() && (it->module == sym.module || end != 0)) {
    end = end == 0 ? it->start : std::min(end, it->start);
  }
  if (end == 0) end = sym.start + kPage;
  if (address >= end) return std::nullopt;
  return Hit{names().substr(sym.name_offset, sym.name_length), module.name, sym.start};
}

std::optional<KernelSymbols::Range> KernelSymbols::text_range(std::string_view module) const {
  if (hidden_) return std::nullopt;
  std::size_t index = 0;
  if (!module.empty()) {
    auto it = std::find_if(modules_.begin() + 1, modules_.end(),
                           [&](const Module& m) { return m.name == module; });
    if (it == modules_.end()) return std::nullopt;
    index = static_cast<std::size_t>(it - modules_.begin());
    if (it->end > it->start) return Range{it->start, it->end};
  }
  std::uint64_t low = 0, high = 0;
  bool any = false;
  for (const Symbol& s : symbols_) {
    if (s.module != index) continue;
    if (!any) low = s.start;
    high = s.start;
    any = true;
  }
  if (!any) return std::nullopt;
  Range r{low, high + kPage};
  if (index == 0) {
    if (stext_ != 0 && stext_ <= low) r.start = stext_;
    // Init text (_sinittext to _einittext) lies past _etext: the range ends after it when the
    // image has symbols there.
    if (etext_ > high) {
      r.end = etext_;
    } else if (etext_ != 0 && einittext_ > high) {
      r.end = einittext_;
    }
  }
  return r;
}

}  // namespace perfscope::symbols

namespace perfscope::symbols {
namespace {

// to_bytes() layout: u32 version, u64 etext, stext, einittext, u8 hidden; u32 module count, each
// u16 name length, name, u64 start, end; u32 symbol count, each u64 start, u32 name offset,
// u16 name length, u16 module, u8 global; u32 names length, names.
constexpr std::uint32_t kBytesVersion = 1;

// Maps the whole pages of [p, p + n) in one call (MADV_POPULATE_WRITE, Linux 5.14) rather than
// with one page fault each as they are first written: the table read from the kallsyms cache is
// 5 MB of fresh memory, and on a VM every fault is an exit to the hypervisor. A kernel that does
// not know the advice refuses it, and the pages fault in as before.
void prefault(void* p, std::size_t n) {
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto at = reinterpret_cast<std::uintptr_t>(p);
  const std::uintptr_t begin = (at + page - 1) & ~(page - 1), end = (at + n) & ~(page - 1);
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_POPULATE_WRITE);
}

template <typename T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

// Reads fixed-size fields off the front of a byte string; any read past its end fails them all.
class ByteReader {
 public:
  explicit ByteReader(std::string_view bytes) : rest_(bytes) {}
  template <typename T>
  bool get(T& v) {
    if (rest_.size() < sizeof v) return ok_ = false;
    std::memcpy(&v, rest_.data(), sizeof v);
    rest_.remove_prefix(sizeof v);
    return ok_;
  }
  bool get_bytes(std::size_t n, std::string_view& out) {
    if (rest_.size() < n) return ok_ = false;
    out = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return ok_;
  }
  std::size_t left() const { return rest_.size(); }

 private:
  std::string_view rest_;
  bool ok_ = true;
};

}  // namespace

std::string KernelSymbols::to_bytes() const {
  std::string out;
  out.reserve(32 + modules_.size() * 32 + symbols_.size() * 17 + names().size());
  put(out, kBytesVersion);
  put(out, etext_);
  put(out, stext_);
  put(out, einittext_);
  put(out, static_cast<std::uint8_t>(hidden_));
  put(out, static_cast<std::uint32_t>(modules_.size()));
  for (const Module& m : modules_) {
    put(out, static_cast<std::uint16_t>(m.name.size()));
    out.append(m.name);
    put(out, m.start);
    put(out, m.end);
  }
  put(out, static_cast<std::uint32_t>(symbols_.size()));
  for (const Symbol& s : symbols_) {
    put(out, s.start);
    put(out, s.name_offset);
    put(out, s.name_length);
    put(out, s.module);
    put(out, static_cast<std::uint8_t>(s.global));
  }
  put(out, static_cast<std::uint32_t>(names().size()));
  out.append(names());
  return out;
}

std::optional<KernelSymbols> KernelSymbols::from_bytes(std::string_view bytes,
                                                       std::shared_ptr<const void> owner) {
  ByteReader in(bytes);
  KernelSymbols ks;
  std::uint32_t version = 0, nmodules = 0, nsymbols = 0, nnames = 0;
  std::uint8_t hidden = 0;
  if (!in.get(version) || version != kBytesVersion || !in.get(ks.etext_) || !in.get(ks.stext_) ||
      !in.get(ks.einittext_) || !in.get(hidden) || hidden > 1 || !in.get(nmodules)) {
    return std::nullopt;
  }
  ks.hidden_ = hidden != 0;
  // Each module takes at least 18 bytes: a count beyond what is left is a lie, not a reserve.
  if (nmodules == 0 || nmodules > in.left() / 18 ||
      nmodules > std::uint32_t{std::numeric_limits<std::uint16_t>::max()} + 1) {
    return std::nullopt;
  }
  ks.modules_.resize(nmodules);
  for (Module& m : ks.modules_) {
    std::uint16_t length = 0;
    std::string_view name;
    if (!in.get(length) || !in.get_bytes(length, name) || !in.get(m.start) || !in.get(m.end)) {
      return std::nullopt;
    }
    m.name = std::string(name);
  }
  if (!ks.modules_[0].name.empty()) return std::nullopt;  // index 0 is the kernel image
  std::string_view packed;
  if (!in.get(nsymbols) || nsymbols > in.left() / 17 || !in.get_bytes(nsymbols * 17, packed)) {
    return std::nullopt;
  }
  ks.symbols_.reserve(nsymbols);
  prefault(ks.symbols_.data(), std::size_t{nsymbols} * sizeof(Symbol));
  for (std::size_t at = 0; at < packed.size(); at += 17) {
    Symbol s{};
    const char* p = packed.data() + at;
    std::memcpy(&s.start, p, 8);
    std::memcpy(&s.name_offset, p + 8, 4);
    std::memcpy(&s.name_length, p + 12, 2);
    std::memcpy(&s.module, p + 14, 2);
    if (static_cast<unsigned char>(p[16]) > 1) return std::nullopt;
    s.global = p[16] != 0;
    ks.symbols_.push_back(s);
  }
  std::string_view names;
  if (!in.get(nnames) || !in.get_bytes(nnames, names) || in.left() != 0) return std::nullopt;
  if (owner) {
    ks.names_owner_ = std::move(owner);
    ks.names_in_place_ = names;
  } else {
    ks.names_.reserve(names.size());
    prefault(ks.names_.data(), names.size());
    ks.names_.assign(names);
  }
  for (std::size_t i = 0; i < ks.symbols_.size(); ++i) {
    const Symbol& s = ks.symbols_[i];
    if (s.module >= ks.modules_.size() ||
        std::uint64_t{s.name_offset} + s.name_length > names.size() ||
        (i > 0 && s.start <= ks.symbols_[i - 1].start)) {
      return std::nullopt;
    }
  }
  return ks;
}

}  // namespace perfscope::symbols
