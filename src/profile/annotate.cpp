#include "profile/annotate.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <regex>

#include "core/files.hpp"
#include "profile/checked_math.hpp"
#include "profile/names.hpp"

namespace perfscope::profile {
namespace {

constexpr std::size_t kMaxLines = 400;

// The leaf's out-of-line function: the code the sample's instruction belongs to.
std::string leaf_function(const Profile& p, const Location& l) {
  return l.lines.empty() ? unsymbolized_name(p, l)
                         : function_name(p, p.function(l.lines.back().function_id));
}

// A demangled name without its scope, template arguments, parameters and return type: "spin" for
// "ns::spin(unsigned long)", "(anonymous namespace)::spin(int)" and "void spin<int>(int)";
// "push_back" for "std::vector<int>::push_back(int const&)".
std::string_view bare_name(std::string_view name) {
  // The parameter list is the last top-level parenthesis; the scope ends at the last top-level
  // "::" before it; a return type ends at the last top-level space.
  int angle = 0, paren = 0;
  std::size_t params = name.size();
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (c == '<') ++angle;
    if (c == '>' && angle > 0) --angle;
    if (angle > 0) continue;
    if (c == '(' && paren++ == 0) params = i;
    if (c == ')' && paren > 0) --paren;
  }
  std::size_t start = 0;
  angle = paren = 0;
  for (std::size_t i = 0; i < params; ++i) {
    const char c = name[i];
    if (c == '<') ++angle;
    if (c == '>' && angle > 0) --angle;
    if (c == '(') ++paren;
    if (c == ')' && paren > 0) --paren;
    if (angle > 0 || paren > 0) continue;
    if (c == ':' && i + 1 < params && name[i + 1] == ':') start = i + 2;
    if (c == ' ') start = i + 1;
  }
  std::string_view out = name.substr(start, params - start);
  if (const auto lt = out.find('<'); lt != std::string_view::npos && lt > 0)
    out = out.substr(0, lt);
  return out;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at < text.size()) {
    const auto nl = text.find('\n', at);
    out.push_back(text.substr(at, nl == std::string::npos ? std::string::npos : nl - at));
    if (nl == std::string::npos) break;
    at = nl + 1;
  }
  return out;
}

// Sampled lines of one file, with the lines between them (weight 0) and their text, when the file
// reads and the span is short enough.
void add_file_lines(const std::string& file, const std::map<std::int64_t, std::int64_t>& sampled,
                    std::size_t budget, Annotation& a) {
  std::vector<std::string> text;
  if (auto content = read_text_file(file)) text = split_lines(*content);
  const std::int64_t first = sampled.begin()->first, last = sampled.rbegin()->first;
  const bool whole = !text.empty() && static_cast<std::size_t>(last - first + 1) <= budget &&
                     last <= static_cast<std::int64_t>(text.size());
  if (!text.empty()) a.has_source = true;
  auto line_text = [&](std::int64_t n) {
    return n >= 1 && n <= static_cast<std::int64_t>(text.size())
               ? text[static_cast<std::size_t>(n - 1)]
               : std::string();
  };
  if (whole) {
    for (std::int64_t n = first; n <= last; ++n) {
      const auto it = sampled.find(n);
      a.lines.push_back({file, n, it == sampled.end() ? 0 : it->second, line_text(n)});
    }
    return;
  }
  for (const auto& [n, w] : sampled) a.lines.push_back({file, n, w, line_text(n)});
}

}  // namespace

Result<Annotation> annotate(const Profile& p, const std::string& name, std::size_t value_index,
                            const SampleFilter& filter) {
  if (value_index >= p.sample_types.size()) {
    return Error{fmt::format("the profile has no sample value {} (it has {})", value_index,
                             p.sample_types.size()),
                 0,
                 {}};
  }
  const SampleMatcher match(p, filter);
  auto weight = [&](const Sample& s) {
    return value_index < s.values.size() ? s.values[value_index] : std::int64_t{0};
  };
  // Leaf functions and their weight.
  std::map<std::string, std::int64_t> leaves;
  for (const Sample& s : p.samples()) {
    if (!match(s) || s.location_ids.empty()) continue;
    add_saturating(leaves[leaf_function(p, p.location(s.location_ids[0]))], weight(s));
  }
  std::string chosen;
  if (leaves.contains(name)) {
    chosen = name;
  } else {
    std::regex re;
    try {
      re = std::regex(name, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      return Error{
          fmt::format("cannot use '{}' as a regular expression: {}", printable(name), e.what()), 0,
          "  give a function's name, or an ECMAScript regex matching one"};
    }
    std::vector<std::string> found;
    for (const auto& [leaf, w] : leaves) {
      if (std::regex_search(leaf, re)) found.push_back(leaf);
    }
    if (found.empty()) {
      return Error{fmt::format("no samples ran in a function matching '{}'", printable(name)), 0,
                   "  the functions that ran are the Self rows of `perfscope report`"};
    }
    if (found.size() > 1) {
      // "spin" names ns::spin(unsigned long) rather than _raw_spin_lock when only one function
      // that ran is called exactly that.
      std::vector<std::string> exact;
      for (const auto& f : found) {
        if (bare_name(f) == name) exact.push_back(f);
      }
      if (exact.size() == 1) found = std::move(exact);
    }
    if (found.size() > 1) {
      if (found.size() > 10) found.resize(10);
      return Error{fmt::format("'{}' matches several functions that ran", printable(name)), 0,
                   fmt::format("  name one of them exactly: {}{}", fmt::join(found, ", "),
                               found.size() == 10 ? ", ..." : "")};
    }
    chosen = found.front();
  }

  Annotation a{.function = chosen};
  std::map<std::string, std::map<std::int64_t, std::int64_t>> by_file;
  std::map<std::uint64_t, std::int64_t> by_offset;
  std::map<std::uint64_t, std::int64_t> by_mapping;  // which file holds most of its samples
  for (const Sample& s : p.samples()) {
    if (!match(s) || s.location_ids.empty()) continue;
    const Location& l = p.location(s.location_ids[0]);
    if (leaf_function(p, l) != chosen) continue;
    const std::int64_t w = weight(s);
    add_saturating(a.total, w);
    if (!l.lines.empty()) {
      const Line& line = l.lines.front();
      const std::string_view file = p.string(p.function(line.function_id).filename);
      if (!file.empty() && line.line > 0) add_saturating(by_file[std::string(file)][line.line], w);
    }
    if (l.mapping_id != 0) add_saturating(by_mapping[l.mapping_id], w);
  }
  // Instructions of the mapping most samples ran in (one function, one file).
  std::uint64_t mapping_id = 0;
  std::int64_t most = -1;
  for (const auto& [id, w] : by_mapping) {
    if (w > most) {
      most = w;
      mapping_id = id;
    }
  }
  if (mapping_id != 0) {
    const Mapping& m = p.mapping(mapping_id);
    a.module_path = std::string(p.string(m.filename));
    a.build_id = std::string(p.string(m.build_id));
    for (const Sample& s : p.samples()) {
      if (!match(s) || s.location_ids.empty()) continue;
      const Location& l = p.location(s.location_ids[0]);
      if (l.mapping_id != mapping_id || l.address < m.start || leaf_function(p, l) != chosen) {
        continue;
      }
      add_saturating(by_offset[l.address - m.start + m.offset], weight(s));
    }
    for (const auto& [offset, w] : by_offset) a.instructions.push_back({offset, w, {}, 0});
  }
  a.has_lines = !by_file.empty();
  for (const auto& [file, sampled] : by_file) {
    const std::size_t used = a.lines.size();
    add_file_lines(file, sampled, used < kMaxLines ? kMaxLines - used : 0, a);
  }
  return a;
}

}  // namespace perfscope::profile
