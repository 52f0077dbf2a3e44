#include "core/cpu_set.hpp"

#include <algorithm>
#include <charconv>

#include "core/files.hpp"

namespace perfscope {
namespace {

// Largest CPU number accepted; Linux's NR_CPUS tops out at 8192.
constexpr int kMaxCpu = 8191;

Result<int> parse_cpu_number(std::string_view s, std::string_view whole) {
  int v = -1;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v < 0 || v > kMaxCpu) {
    return Error{"invalid CPU list '" + std::string(whole) + "'", 0,
                 "expected CPU numbers and ranges such as 0-3,7 (CPUs 0 to " +
                     std::to_string(kMaxCpu) + ")"};
  }
  return v;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

CpuSet::CpuSet(std::vector<int> cpus) : cpus_(std::move(cpus)) {
  std::sort(cpus_.begin(), cpus_.end());
  cpus_.erase(std::unique(cpus_.begin(), cpus_.end()), cpus_.end());
}

Result<CpuSet> CpuSet::parse(std::string_view text) {
  const std::string_view whole = trim(text);
  if (whole.empty()) {
    return Error{"empty CPU list", 0, "expected CPU numbers and ranges such as 0-3,7"};
  }
  std::vector<int> cpus;
  std::string_view rest = whole;
  for (bool more = true; more;) {
    const auto comma = rest.find(',');
    const std::string_view item = trim(rest.substr(0, comma));
    more = comma != std::string_view::npos;  // "0-3," has an empty last item: an error
    rest = more ? rest.substr(comma + 1) : std::string_view{};
    const auto dash = item.find('-');
    auto first = parse_cpu_number(item.substr(0, dash), whole);
    if (!first) return first.error();
    int last = *first;
    if (dash != std::string_view::npos) {
      auto l = parse_cpu_number(item.substr(dash + 1), whole);
      if (!l) return l.error();
      last = *l;
      if (last < *first) {
        return Error{"invalid CPU list '" + std::string(whole) + "'", 0,
                     "range " + std::string(item) + " ends before it starts"};
      }
    }
    for (int c = *first; c <= last; ++c) cpus.push_back(c);
  }
  return CpuSet(std::move(cpus));
}

Result<CpuSet> CpuSet::online(const std::string& path) {
  auto text = read_text_file(path);
  if (!text) return text.error();
  return parse(*text);
}

bool CpuSet::contains(int cpu) const {
  return std::binary_search(cpus_.begin(), cpus_.end(), cpu);
}

bool CpuSet::subset_of(const CpuSet& other) const {
  return std::includes(other.cpus_.begin(), other.cpus_.end(), cpus_.begin(), cpus_.end());
}

std::string CpuSet::to_string() const {
  std::string out;
  for (std::size_t i = 0; i < cpus_.size();) {
    std::size_t j = i;
    while (j + 1 < cpus_.size() && cpus_[j + 1] == cpus_[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(cpus_[i]);
    if (j > i) out += '-' + std::to_string(cpus_[j]);
    i = j + 1;
  }
  return out;
}

}  // namespace perfscope
