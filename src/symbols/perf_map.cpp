#include "symbols/perf_map.hpp"

#include <algorithm>
#include <charconv>

#include "core/files.hpp"

namespace perfscope::symbols {
namespace {

// Parses a hex field at the front of `s` and removes it and the following spaces.
bool take_hex(std::string_view& s, std::uint64_t& out) {
  if (s.starts_with("0x") || s.starts_with("0X")) s.remove_prefix(2);
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, 16);
  if (ec != std::errc() || p == s.data()) return false;
  s.remove_prefix(static_cast<std::size_t>(p - s.data()));
  if (s.empty() || (s.front() != ' ' && s.front() != '\t')) return false;
  s.remove_prefix(std::min(s.find_first_not_of(" \t"), s.size()));
  return true;
}

}  // namespace

PerfMap PerfMap::parse(std::string_view text) {
  PerfMap map;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t nl = std::min(text.find('\n', pos), text.size());
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (line.empty()) continue;
    Entry e;
    if (!take_hex(line, e.start) || !take_hex(line, e.size) || line.empty() || e.size == 0) {
      ++map.malformed_;
      continue;
    }
    e.name = std::string(line);
    map.entries_.push_back(std::move(e));
  }
  // Stable, so that among equal starts the file order survives and the last line can win.
  std::stable_sort(map.entries_.begin(), map.entries_.end(),
                   [](const Entry& a, const Entry& b) { return a.start < b.start; });
  std::vector<Entry> unique;
  unique.reserve(map.entries_.size());
  for (auto& e : map.entries_) {
    if (!unique.empty() && unique.back().start == e.start) {
      unique.back() = std::move(e);
    } else {
      unique.push_back(std::move(e));
    }
  }
  map.entries_ = std::move(unique);
  return map;
}

Result<PerfMap> PerfMap::load(const std::string& path) {
  auto text = read_text_file(path);
  if (!text) return text.error();
  return parse(*text);
}

const PerfMap::Entry* PerfMap::find(std::uint64_t address) const {
  auto it = std::upper_bound(entries_.begin(), entries_.end(), address,
                             [](std::uint64_t a, const Entry& e) { return a < e.start; });
  if (it == entries_.begin()) return nullptr;
  --it;
  return address - it->start < it->size ? &*it : nullptr;
}

}  // namespace perfscope::symbols
