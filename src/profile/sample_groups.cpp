#include "profile/sample_groups.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <unordered_map>

#include "profile/checked_math.hpp"
#include "profile/names.hpp"
#include "profile/sample_slice.hpp"

namespace perfscope::profile {
namespace {

struct KeyName {
  SortKey key;
  std::string_view name, title;
};
constexpr KeyName kKeys[] = {
    {SortKey::comm, "comm", "Command"}, {SortKey::pid, "pid", "Pid"},
    {SortKey::tid, "tid", "Tid"},       {SortKey::dso, "dso", "Shared Object"},
    {SortKey::sym, "sym", "Symbol"},    {SortKey::srcline, "srcline", "Source:Line"},
    {SortKey::cpu, "cpu", "CPU"},
};

// Cell texts -> dense ids, one space per column.
class Cells {
 public:
  std::uint32_t of(std::string text) {
    auto [it, inserted] = ids_.try_emplace(text, static_cast<std::uint32_t>(texts_.size()));
    if (inserted) texts_.push_back(std::move(text));
    return it->second;
  }
  const std::string& text(std::uint32_t id) const { return texts_[id]; }

 private:
  std::vector<std::string> texts_;
  std::unordered_map<std::string, std::uint32_t> ids_;
};

std::string num_text(std::optional<std::int64_t> v) {
  return v ? fmt::format("{}", *v) : std::string("[unknown]");
}

// The cell of `key` for sample `s` (leaf: its first location, or null without one).
std::string cell(const Profile& p, const LabelKeys& labels, SortKey key, const Sample& s) {
  const Location* leaf = s.location_ids.empty() ? nullptr : &p.location(s.location_ids[0]);
  switch (key) {
    case SortKey::comm: {
      const StringId c = str_label(s, labels.comm);
      return c != 0 ? printable(p.string(c)) : "[unknown]";
    }
    case SortKey::pid:
      return num_text(num_label(s, labels.pid));
    case SortKey::tid:
      return num_text(num_label(s, labels.tid));
    case SortKey::cpu:
      return num_text(num_label(s, labels.cpu));
    case SortKey::dso:
      return leaf != nullptr ? module_name(p, leaf->mapping_id) : "[unknown]";
    case SortKey::sym:
      if (leaf == nullptr) return "[unknown]";
      if (leaf->lines.empty()) return unsymbolized_name(p, *leaf);
      return function_name(p, p.function(leaf->lines.back().function_id));
    case SortKey::srcline: {
      if (leaf == nullptr || leaf->lines.empty()) return "??:0";
      const Line& line = leaf->lines.front();
      const std::string_view file = p.string(p.function(line.function_id).filename);
      if (file.empty() || line.line <= 0) return "??:0";
      return fmt::format("{}:{}", printable(basename(file)), line.line);
    }
  }
  return {};
}

Error no_value(const Profile& p, std::size_t value_index) {
  return Error{fmt::format("the profile has no sample value {} (it has {})", value_index,
                           p.sample_types.size()),
               0,
               {}};
}

}  // namespace

Result<std::vector<SortKey>> parse_sort_keys(std::string_view text) {
  std::vector<SortKey> out;
  std::string_view rest = text;
  while (true) {
    const auto comma = rest.find(',');
    const std::string_view one = rest.substr(0, comma);
    const auto* k = std::find_if(std::begin(kKeys), std::end(kKeys),
                                 [one](const KeyName& n) { return n.name == one; });
    if (k == std::end(kKeys) || std::find(out.begin(), out.end(), k->key) != out.end()) {
      return Error{fmt::format("cannot sort by '{}'", printable(text)), 0,
                   "  choose self or total, or perf report's keys separated by commas, each "
                   "once: comm, pid, tid, dso, sym, srcline, cpu (e.g. --sort comm,dso,sym)"};
    }
    out.push_back(k->key);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return out;
}

std::string_view sort_key_title(SortKey key) {
  for (const auto& k : kKeys) {
    if (k.key == key) return k.title;
  }
  return {};
}

Result<KeyedTable> group_by_keys(const Profile& p, const std::vector<SortKey>& keys,
                                 std::size_t top, std::size_t value_index,
                                 const SampleFilter& filter) {
  if (value_index >= p.sample_types.size()) return no_value(p, value_index);
  KeyedTable t{.keys = keys};
  const LabelKeys labels(p);
  const SampleMatcher match(p, filter);
  std::vector<Cells> cells(keys.size());
  std::map<std::vector<std::uint32_t>, std::int64_t> weights;
  std::vector<std::uint32_t> tuple(keys.size());
  for (const Sample& s : p.samples()) {
    if (!match(s)) continue;
    const std::int64_t w = value_index < s.values.size() ? s.values[value_index] : 0;
    add_saturating(t.total, w);
    for (std::size_t i = 0; i < keys.size(); ++i)
      tuple[i] = cells[i].of(cell(p, labels, keys[i], s));
    add_saturating(weights[tuple], w);
  }
  for (const auto& [ids, w] : weights) {
    KeyedRow row{.weight = w};
    for (std::size_t i = 0; i < ids.size(); ++i) row.cells.push_back(cells[i].text(ids[i]));
    t.rows.push_back(std::move(row));
  }
  t.distinct = t.rows.size();
  std::sort(t.rows.begin(), t.rows.end(), [](const KeyedRow& a, const KeyedRow& b) {
    return a.weight != b.weight ? a.weight > b.weight : a.cells < b.cells;
  });
  if (top != 0 && t.rows.size() > top) t.rows.resize(top);
  return t;
}

Result<Timeline> timeline(const Profile& p, std::size_t max_rows, std::size_t value_index,
                          const SampleFilter& filter) {
  if (value_index >= p.sample_types.size()) return no_value(p, value_index);
  const TimeSpan span = time_span(p);
  if (!span.labelled) {
    return Error{"the profile has no time labels: --by time cannot show its periods", 0,
                 "  record it with this perfscope (record labels each sample with its time); "
                 "perf.data read by perfscope has them too"};
  }
  Timeline tl;
  const std::int64_t periods = span.end / span.width;
  const std::int64_t rows = std::max<std::int64_t>(1, static_cast<std::int64_t>(max_rows));
  const std::int64_t per_row = (periods + rows - 1) / rows;  // periods merged into one row
  tl.width_ms = per_row * span.width;
  const std::size_t n = static_cast<std::size_t>((span.end + tl.width_ms - 1) / tl.width_ms);
  tl.periods.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    tl.periods[i].start_ms = static_cast<std::int64_t>(i) * tl.width_ms;
    tl.periods[i].end_ms = std::min(span.end, tl.periods[i].start_ms + tl.width_ms);
  }
  // Self weight per (row, leaf function name).
  std::vector<std::unordered_map<std::string, std::int64_t>> leaves(n);
  const std::int64_t key = p.find_string(kTimeLabel);
  const SampleMatcher match(p, filter);
  const LabelKeys labels(p);
  for (const Sample& s : p.samples()) {
    if (!match(s)) continue;
    const std::int64_t w = value_index < s.values.size() ? s.values[value_index] : 0;
    add_saturating(tl.total, w);
    const auto t = num_label(s, key);
    if (!t || *t < 0) {
      add_saturating(tl.unlabelled, w);
      continue;
    }
    const auto row = std::min(n - 1, static_cast<std::size_t>(*t / tl.width_ms));
    add_saturating(tl.periods[row].weight, w);
    add_saturating(leaves[row][cell(p, labels, SortKey::sym, s)], w);
  }
  for (std::size_t i = 0; i < n; ++i) {
    for (const auto& [name, w] : leaves[i]) {
      Period& period = tl.periods[i];
      if (w > period.hottest_weight || (w == period.hottest_weight && name < period.hottest)) {
        period.hottest = name;
        period.hottest_weight = w;
      }
    }
  }
  return tl;
}

}  // namespace perfscope::profile
