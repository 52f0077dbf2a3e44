#include "recording/location_table.hpp"

#include <algorithm>

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

namespace {

std::size_t slot_hash(std::uint64_t mapping_id, std::uint64_t address, std::uint32_t tag) {
  std::uint64_t h = (address ^ (mapping_id * 0x9e3779b97f4a7c15ULL) ^
                     (std::uint64_t{tag} * 0xc2b2ae3d27d4eb4fULL)) *
                    0xff51afd7ed558ccdULL;
  return static_cast<std::size_t>(h ^ (h >> 29));
}

}  // namespace

const LocationTable::Slot* LocationTable::find_slot(std::uint64_t mapping_id, std::uint64_t address,
                                                    std::uint32_t tag) const {
  if (slots_.empty()) return nullptr;
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = slot_hash(mapping_id, address, tag) & mask;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.id == 0) return nullptr;
    if (s.address == address && s.mapping_id == mapping_id && s.tag == tag) return &s;
  }
}

LocationTable::Slot& LocationTable::slot(std::uint64_t mapping_id, std::uint64_t address,
                                         std::uint32_t tag) {
  if ((used_ + 1) * 4 > slots_.size() * 3) grow();
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = slot_hash(mapping_id, address, tag) & mask;; i = (i + 1) & mask) {
    Slot& s = slots_[i];
    if (s.id == 0 || (s.address == address && s.mapping_id == mapping_id && s.tag == tag)) {
      return s;
    }
  }
}

void LocationTable::grow() {
  std::vector<Slot> old(std::max<std::size_t>(1024, slots_.size() * 2));
  old.swap(slots_);
  for (const Slot& s : old) {
    if (s.id != 0) slot(s.mapping_id, s.address, s.tag) = s;
  }
}

std::optional<std::uint64_t> LocationTable::find(std::uint64_t mapping_id, std::uint64_t address,
                                                 std::uint32_t tag) const {
  if (const Slot* s = find_slot(mapping_id, address, tag)) return s->id;
  return std::nullopt;
}

std::uint64_t LocationTable::add(std::uint64_t mapping_id, std::uint64_t address,
                                 const std::vector<symbols::Frame>& frames, std::uint32_t tag) {
  if (const Slot* s = find_slot(mapping_id, address, tag)) return s->id;
  profile::Location loc;
  loc.mapping_id = mapping_id;
  loc.address = address;
  loc.lines.reserve(frames.size());
  bool unknown = false;
  for (const auto& f : frames) {
    const auto fn = p_.add_function(f.function, f.function, f.file, f.start_line);
    loc.lines.push_back({fn, static_cast<std::int64_t>(f.line), 0});
    if (!f.resolved) unknown = true;
  }
  if (unknown) ++unresolved_;
  const auto id = p_.add_location(std::move(loc));
  Slot& s = slot(mapping_id, address, tag);
  s = Slot{mapping_id, address, id, tag};
  ++used_;
  return id;
}

}  // namespace perfscope::recording
