#include "recording/location_table.hpp"

namespace perfscope::recording {

std::uint64_t LocationTable::file_mapping(const std::string& path, const std::string& build_id,
                                          std::uint64_t start, std::uint64_t end,
                                          std::uint64_t pgoff) {
  auto [it, inserted] = file_mappings_.try_emplace({path, start, end, pgoff}, 0);
  if (inserted) {
    profile::Mapping m;
    m.start = start;
    m.limit = end;
    m.offset = pgoff;
    m.filename = p_.intern(path);
    m.build_id = p_.intern(build_id);
    m.has_functions = m.has_filenames = m.has_line_numbers = m.has_inline_frames = true;
    it->second = p_.add_mapping(m);
  }
  return it->second;
}

std::uint64_t LocationTable::kernel_mapping(const std::string& module, std::uint64_t start,
                                            std::uint64_t limit) {
  auto [it, inserted] = kernel_mappings_.try_emplace(module, 0);
  if (inserted) {
    profile::Mapping m;
    m.start = start;
    m.limit = limit;
    m.filename = p_.intern(module);
    m.has_functions = true;
    it->second = p_.add_mapping(m);
  }
  return it->second;
}

std::optional<std::uint64_t> LocationTable::find(std::uint64_t mapping_id, std::uint64_t address,
                                                 std::uint32_t tag) const {
  if (auto it = locations_.find({mapping_id, address, tag}); it != locations_.end()) {
    return it->second;
  }
  return std::nullopt;
}

std::uint64_t LocationTable::add(std::uint64_t mapping_id, std::uint64_t address,
                                 const std::vector<symbols::Frame>& frames, std::uint32_t tag) {
  const Key key{mapping_id, address, tag};
  if (auto it = locations_.find(key); it != locations_.end()) return it->second;
  profile::Location loc;
  loc.mapping_id = mapping_id;
  loc.address = address;
  bool unknown = false;
  for (const auto& f : frames) {
    const auto fn = p_.add_function(f.function, f.function, f.file, f.start_line);
    loc.lines.push_back({fn, static_cast<std::int64_t>(f.line), 0});
    if (!f.resolved) unknown = true;
  }
  if (unknown) ++unresolved_;
  const auto id = p_.add_location(std::move(loc));
  locations_.emplace(key, id);
  return id;
}

}  // namespace perfscope::recording
