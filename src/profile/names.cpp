#include "profile/names.hpp"

#include <fmt/format.h>

#include <array>

namespace perfscope::profile {

std::string printable(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return out;
}

std::string_view basename(std::string_view path) {
  const auto slash = path.rfind('/');
  // "[kernel.kallsyms]" and the like are names, not paths; keep a trailing-slash path whole.
  if (slash == std::string_view::npos || slash + 1 == path.size()) return path;
  return path.substr(slash + 1);
}

std::string function_name(const Profile& p, const Function& f) {
  if (!p.string(f.name).empty()) return printable(p.string(f.name));
  if (!p.string(f.system_name).empty()) return printable(p.string(f.system_name));
  return "[unknown]";
}

std::string unsymbolized_name(const Profile& p, const Location& l) {
  if (l.mapping_id != 0 && l.mapping_id <= p.mappings().size()) {
    const Mapping& m = p.mapping(l.mapping_id);
    const std::string_view file = basename(p.string(m.filename));
    if (!file.empty() && l.address >= m.start) {
      return fmt::format("{}+{:#x}", printable(file), l.address - m.start + m.offset);
    }
  }
  if (l.address != 0) return fmt::format("{:#x}", l.address);
  return "[unknown]";
}

std::string module_name(const Profile& p, std::uint64_t mapping_id) {
  if (mapping_id == 0 || mapping_id > p.mappings().size()) return "[unknown]";
  const std::string_view file = basename(p.string(p.mapping(mapping_id).filename));
  return file.empty() ? std::string("[unknown]") : printable(file);
}

bool is_kernel_mapping(const Profile& p, std::uint64_t mapping_id) {
  if (mapping_id == 0 || mapping_id > p.mappings().size()) return false;
  return is_kernel_mapping_name(p.string(p.mapping(mapping_id).filename));
}

bool is_kernel_mapping_name(std::string_view file) {
  if (file.size() < 3 || file.front() != '[' || file.back() != ']') return false;
  // Bracketed names /proc/PID/maps gives to user space areas ([vvar_vclock], [anon:name], ...).
  static constexpr std::array<std::string_view, 9> kUserAreas{
      "[vdso", "[vsyscall", "[vvar", "[stack", "[heap", "[anon", "[uprobes", "[unknown", "[jit"};
  for (auto area : kUserAreas) {
    if (file.starts_with(area)) return false;
  }
  return true;
}

bool is_jit_mapping_name(std::string_view file) {
  const std::string_view base = basename(file);
  return file.starts_with("[jit") || (base.starts_with("perf-") && base.ends_with(".map")) ||
         base.starts_with("jitted-");
}

}  // namespace perfscope::profile
