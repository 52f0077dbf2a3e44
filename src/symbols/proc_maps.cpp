#include "symbols/proc_maps.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <string>

#include "core/files.hpp"

namespace perfscope::symbols {
namespace {

bool take_hex(std::string_view& s, char stop, std::uint64_t& out) {
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, 16);
  if (ec != std::errc() || p == s.data() || p == s.data() + s.size() || *p != stop) return false;
  s.remove_prefix(static_cast<std::size_t>(p - s.data()) + 1);
  return true;
}

std::string_view take_field(std::string_view& s) {
  s.remove_prefix(std::min(s.find_first_not_of(' '), s.size()));
  const auto end = std::min(s.find(' '), s.size());
  const auto field = s.substr(0, end);
  s.remove_prefix(end);
  return field;
}

}  // namespace

std::vector<MappedFile> parse_proc_maps(std::string_view text, int pid, bool other_root) {
  static constexpr std::string_view kDeleted = " (deleted)";
  const std::string proc = "/proc/" + std::to_string(pid);
  std::vector<MappedFile> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t nl = std::min(text.find('\n', pos), text.size());
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    // "START-END PERMS OFFSET DEV INODE    PATH"
    MappedFile m;
    if (!take_hex(line, '-', m.start) || !take_hex(line, ' ', m.end)) continue;
    const auto perms = take_field(line);
    const auto offset = take_field(line);
    take_field(line);  // device
    take_field(line);  // inode
    line.remove_prefix(std::min(line.find_first_not_of(' '), line.size()));
    if (perms.size() < 3 || perms[2] != 'x' || !line.starts_with('/')) continue;
    if (std::from_chars(offset.data(), offset.data() + offset.size(), m.pgoff, 16).ec !=
        std::errc()) {
      continue;
    }
    m.path = std::string(line);
    if (line.ends_with(kDeleted)) {
      m.path.resize(m.path.size() - kDeleted.size());
      char range[64];
      const auto n =
          std::snprintf(range, sizeof range, "%lx-%lx", static_cast<unsigned long>(m.start),
                        static_cast<unsigned long>(m.end));
      m.open_path = proc + "/map_files/" + std::string(range, static_cast<std::size_t>(n));
    } else if (other_root) {
      m.open_path = proc + "/root" + m.path;
    }
    out.push_back(std::move(m));
  }
  return out;
}

Result<std::vector<MappedFile>> read_proc_maps(int pid) {
  const std::string proc = "/proc/" + std::to_string(pid);
  auto text = read_text_file(proc + "/maps");
  if (!text) return text.error();
  struct stat theirs, ours;
  const bool other_root = ::stat((proc + "/root").c_str(), &theirs) == 0 &&
                          ::stat("/", &ours) == 0 &&
                          (theirs.st_dev != ours.st_dev || theirs.st_ino != ours.st_ino);
  return parse_proc_maps(*text, pid, other_root);
}

}  // namespace perfscope::symbols
