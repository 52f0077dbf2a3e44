#include "profile/query.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <unordered_map>

#include "profile/checked_math.hpp"
#include "profile/names.hpp"

namespace perfscope::profile {
namespace {

// Entry names -> dense keys 0..n-1; entries with the same name are one entry.
class KeySpace {
 public:
  std::uint32_t of(std::string name) {
    auto [it, inserted] = ids_.try_emplace(name, static_cast<std::uint32_t>(names_.size()));
    if (inserted) names_.push_back(std::move(name));
    return it->second;
  }
  std::size_t size() const { return names_.size(); }
  std::vector<std::string>& names() { return names_; }

 private:
  std::vector<std::string> names_;
  std::unordered_map<std::string, std::uint32_t> ids_;
};

// The keys each location contributes, innermost frame first: location id i owns
// keys[offsets[i - 1] .. offsets[i]).
struct FrameKeys {
  std::vector<std::uint32_t> offsets;
  std::vector<std::uint32_t> keys;
};

constexpr std::uint32_t kNoKey = UINT32_MAX;

// Every line of a location but the last is a function inlined into the next one (pprof order).
bool is_inlined(const Location& l, std::size_t line_index) {
  return line_index + 1 < l.lines.size();
}

std::string mark_inlined(std::string function, bool inlined) {
  if (inlined) function += " (inlined)";
  return function;
}

// "NAME", or "NAME (inlined)" as a key of its own; each is named once, on first use.
FrameKeys function_keys(const Profile& p, KeySpace& space) {
  // [function id - 1][inlined], kNoKey until the first location that uses it.
  std::vector<std::array<std::uint32_t, 2>> of_function(p.functions().size(), {kNoKey, kNoKey});
  FrameKeys fk;
  fk.offsets.reserve(p.locations().size() + 1);
  fk.offsets.push_back(0);
  for (const Location& l : p.locations()) {
    for (std::size_t i = 0; i < l.lines.size(); ++i) {
      const std::uint64_t id = l.lines[i].function_id;
      const bool inlined = is_inlined(l, i);
      std::uint32_t& key = of_function[id - 1][inlined ? 1 : 0];
      if (key == kNoKey) key = space.of(mark_inlined(function_name(p, p.function(id)), inlined));
      fk.keys.push_back(key);
    }
    if (l.lines.empty()) fk.keys.push_back(space.of(unsymbolized_name(p, l)));
    fk.offsets.push_back(static_cast<std::uint32_t>(fk.keys.size()));
  }
  return fk;
}

// "FILE:LINE NAME" with the file as stored (no basename: two util.cpp stay apart), or
// "NAME (no line info)"; NAME is marked "(inlined)" as by function.
std::string line_name(const Profile& p, const Line& line, bool inlined) {
  const Function& f = p.function(line.function_id);
  std::string function = mark_inlined(function_name(p, f), inlined);
  const std::string_view file = p.string(f.filename);
  if (file.empty() || line.line <= 0) return function + " (no line info)";
  return fmt::format("{}:{} {}", printable(file), line.line, function);
}

// One key per source position. Names are built once per distinct (function, line, inlined), not
// per location: many addresses share a line.
FrameKeys line_keys(const Profile& p, KeySpace& space) {
  struct Position {
    std::uint64_t function_id = 0;
    std::int64_t line = 0;
    bool inlined = false;
    bool operator==(const Position&) const = default;
  };
  struct Hash {
    std::size_t operator()(const Position& pos) const {
      return hash_combine(hash_combine(pos.function_id, static_cast<std::uint64_t>(pos.line)),
                          pos.inlined);
    }
  };
  std::unordered_map<Position, std::uint32_t, Hash> of_position;
  FrameKeys fk;
  fk.offsets.reserve(p.locations().size() + 1);
  fk.offsets.push_back(0);
  for (const Location& l : p.locations()) {
    for (std::size_t i = 0; i < l.lines.size(); ++i) {
      const Line& line = l.lines[i];
      const bool inlined = is_inlined(l, i);
      auto [it, inserted] = of_position.try_emplace({line.function_id, line.line, inlined}, 0);
      if (inserted) it->second = space.of(line_name(p, line, inlined));
      fk.keys.push_back(it->second);
    }
    if (l.lines.empty()) fk.keys.push_back(space.of(unsymbolized_name(p, l)));
    fk.offsets.push_back(static_cast<std::uint32_t>(fk.keys.size()));
  }
  return fk;
}

FrameKeys module_keys(const Profile& p, KeySpace& space) {
  std::vector<std::uint32_t> of_mapping;
  of_mapping.reserve(p.mappings().size() + 1);
  of_mapping.push_back(space.of(module_name(p, 0)));
  for (std::uint64_t id = 1; id <= p.mappings().size(); ++id) {
    of_mapping.push_back(space.of(module_name(p, id)));
  }
  FrameKeys fk;
  fk.offsets.reserve(p.locations().size() + 1);
  fk.offsets.push_back(0);
  for (const Location& l : p.locations()) {
    fk.keys.push_back(of_mapping[l.mapping_id]);
    fk.offsets.push_back(static_cast<std::uint32_t>(fk.keys.size()));
  }
  return fk;
}

// Keys of whole-sample properties (process, CPU), remembered across consecutive samples: a
// profile's samples come grouped by process and thread, so the hash lookup is mostly skipped.
class SampleKeys {
 public:
  SampleKeys(const Profile& p, GroupBy by, KeySpace& space)
      : p_(p), by_(by), keys_(p), space_(space) {}

  std::uint32_t of(const Sample& s) {
    Id id;
    if (by_ == GroupBy::process) {
      id.comm = str_label(s, keys_.comm);
      id.value = num_label(s, keys_.pid);
    } else if (by_ == GroupBy::state) {
      id.comm = str_label(s, keys_.state);
    } else {
      id.value = num_label(s, keys_.cpu);
    }
    if (has_last_ && id == last_) return last_key_;
    auto [it, inserted] = ids_.try_emplace(id, 0);
    if (inserted) it->second = space_.of(name(id));
    last_ = id;
    has_last_ = true;
    last_key_ = it->second;
    return last_key_;
  }

 private:
  struct Id {
    StringId comm = 0;
    std::optional<std::int64_t> value;
    bool operator==(const Id&) const = default;
  };
  struct Hash {
    std::size_t operator()(const Id& id) const {
      return hash_combine(hash_combine(id.comm, id.value.has_value()),
                          static_cast<std::uint64_t>(id.value.value_or(0)));
    }
  };

  std::string name(const Id& id) const {
    if (by_ == GroupBy::cpu) return id.value ? fmt::format("cpu {}", *id.value) : "[unknown]";
    if (by_ == GroupBy::state) return id.comm != 0 ? printable(p_.string(id.comm)) : "[no state]";
    const std::string comm = id.comm != 0 ? printable(p_.string(id.comm)) : "[unknown]";
    return id.value ? fmt::format("{} ({})", comm, *id.value) : comm;
  }

  const Profile& p_;
  GroupBy by_;
  LabelKeys keys_;
  KeySpace& space_;
  std::unordered_map<Id, std::uint32_t, Hash> ids_;
  Id last_;
  bool has_last_ = false;
  std::uint32_t last_key_ = 0;
};

}  // namespace

Result<GroupBy> parse_group_by(std::string_view name) {
  if (name == "function") return GroupBy::function;
  if (name == "line") return GroupBy::line;
  if (name == "module") return GroupBy::module;
  if (name == "process") return GroupBy::process;
  if (name == "cpu") return GroupBy::cpu;
  if (name == "state") return GroupBy::state;
  return Error{fmt::format("cannot group by '{}'", name), 0,
               "  choose one of: function, line, module, process, cpu, state, thread, time"};
}

Result<SortBy> parse_sort_by(std::string_view name) {
  if (name == "self") return SortBy::self;
  if (name == "total") return SortBy::total;
  return Error{fmt::format("cannot sort by '{}'", name), 0,
               "  choose self (time in the function itself) or total (including its callees)"};
}

LabelKeys::LabelKeys(const Profile& p)
    : pid(p.find_string("pid")),
      tid(p.find_string("tid")),
      cpu(p.find_string("cpu")),
      comm(p.find_string("comm")),
      state(p.find_string("state")) {}

std::optional<std::int64_t> num_label(const Sample& s, std::int64_t key) {
  for (const Label& l : s.labels) {
    if (l.key == key) return l.num;
  }
  return std::nullopt;
}

StringId str_label(const Sample& s, std::int64_t key) {
  for (const Label& l : s.labels) {
    if (l.key == key) return l.str;
  }
  return 0;
}

SampleMatcher::SampleMatcher(const Profile& p, const SampleFilter& f)
    : keys_(p), all_(f.empty()), pids_(f.pids) {
  if (!f.comm.empty()) {
    comm_ = p.find_string(f.comm);
    none_ = comm_ < 0;
  }
}

bool SampleMatcher::operator()(const Sample& s) const {
  if (all_) return true;
  if (none_) return false;
  if (comm_ >= 0 && str_label(s, keys_.comm) != comm_) return false;
  if (!pids_.empty()) {
    const auto pid = num_label(s, keys_.pid);
    if (!pid || std::find(pids_.begin(), pids_.end(), *pid) == pids_.end()) return false;
  }
  return true;
}

Totals totals(const Profile& p, const SampleFilter& filter) {
  Totals t;
  t.values.assign(p.sample_types.size(), 0);
  const SampleMatcher match(p, filter);
  for (const Sample& s : p.samples()) {
    if (!match(s)) continue;
    ++t.samples;
    for (std::size_t i = 0; i < t.values.size() && i < s.values.size(); ++i) {
      add_saturating(t.values[i], s.values[i]);
    }
  }
  return t;
}

Result<std::size_t> sample_type_index(const Profile& p, std::string_view name,
                                      std::string_view source) {
  const auto& types = p.sample_types;
  if (name.empty()) {
    // Strings are interned once each, so the default names a type when the ids are equal.
    if (p.default_sample_type != 0) {
      for (std::size_t i = 0; i < types.size(); ++i) {
        if (types[i].type == p.default_sample_type) return i;
      }
    }
    // As Go's pprof (profile.SampleIndexByName): no default, or one naming no type, is the last.
    return types.empty() ? std::size_t{0} : types.size() - 1;
  }
  for (std::size_t i = 0; i < types.size(); ++i) {
    if (p.string(types[i].type) == name) return i;
  }
  std::size_t index = 0;
  const auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), index);
  if (ec == std::errc() && end == name.data() + name.size() && index < types.size()) return index;

  std::vector<std::string> names;
  for (const ValueType& t : types) {
    const std::string_view type = p.string(t.type);
    names.push_back(type.empty() ? std::string("\"\"") : printable(type));
  }
  const std::string has = names.empty() ? std::string("it has none")
                                        : fmt::format("it has: {}", fmt::join(names, ", "));
  return Error{
      fmt::format("{} has no sample type \"{}\"; {}", source, printable(name), has), 0, {}};
}

std::int64_t lost_samples(const Profile& p) {
  constexpr std::string_view kPrefix = "perfscope: lost ";
  std::int64_t lost = 0;
  for (StringId c : p.comments) {
    std::string_view text = p.string(c);
    if (!text.starts_with(kPrefix)) continue;
    text.remove_prefix(kPrefix.size());
    std::int64_t n = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    const std::string_view rest(end, static_cast<std::size_t>(text.data() + text.size() - end));
    if (ec == std::errc() && (rest == " samples" || rest == " sample")) add_saturating(lost, n);
  }
  return lost;
}

Result<Hottest> hottest(const Profile& p, const QueryOptions& o) {
  if (o.value_index >= p.sample_types.size()) {
    return Error{fmt::format("the profile has no sample value {} (it has {})", o.value_index,
                             p.sample_types.size()),
                 0,
                 {}};
  }
  KeySpace space;
  const bool per_frame =
      o.by == GroupBy::function || o.by == GroupBy::line || o.by == GroupBy::module;
  FrameKeys frames;
  if (o.by == GroupBy::function) frames = function_keys(p, space);
  if (o.by == GroupBy::line) frames = line_keys(p, space);
  if (o.by == GroupBy::module) frames = module_keys(p, space);
  SampleKeys sample_keys(p, o.by, space);

  std::vector<std::int64_t> self(space.size()), total(space.size());
  // stamp[key] == n + 1: key already counted for sample n (recursion counts once).
  std::vector<std::size_t> stamp(space.size());
  Hottest h;
  const SampleMatcher match(p, o.filter);
  const auto& samples = p.samples();
  for (std::size_t n = 0; n < samples.size(); ++n) {
    const Sample& s = samples[n];
    if (!match(s)) continue;
    const std::int64_t w = o.value_index < s.values.size() ? s.values[o.value_index] : 0;
    add_saturating(h.total, w);
    ++h.samples;
    if (!per_frame) {
      const std::uint32_t key = sample_keys.of(s);
      if (key >= self.size()) {
        self.resize(key + 1);
        total.resize(key + 1);
      }
      add_saturating(self[key], w);
      add_saturating(total[key], w);
      continue;
    }
    if (s.location_ids.empty()) continue;
    add_saturating(self[frames.keys[frames.offsets[s.location_ids[0] - 1]]], w);
    for (std::uint64_t id : s.location_ids) {
      for (std::uint32_t i = frames.offsets[id - 1]; i < frames.offsets[id]; ++i) {
        const std::uint32_t key = frames.keys[i];
        if (stamp[key] == n + 1) continue;
        stamp[key] = n + 1;
        add_saturating(total[key], w);
      }
    }
  }

  auto& names = space.names();
  for (std::size_t k = 0; k < self.size(); ++k) {
    if (self[k] == 0 && total[k] == 0) continue;
    h.entries.push_back({std::move(names[k]), self[k], total[k]});
  }
  h.distinct = h.entries.size();
  const bool by_self = o.sort == SortBy::self;
  auto before = [by_self](const Entry& a, const Entry& b) {
    const std::int64_t a1 = by_self ? a.self : a.total, b1 = by_self ? b.self : b.total;
    if (a1 != b1) return a1 > b1;
    const std::int64_t a2 = by_self ? a.total : a.self, b2 = by_self ? b.total : b.self;
    if (a2 != b2) return a2 > b2;
    return a.name < b.name;
  };
  if (o.top != 0 && o.top < h.entries.size()) {
    std::partial_sort(h.entries.begin(), h.entries.begin() + static_cast<std::ptrdiff_t>(o.top),
                      h.entries.end(), before);
    h.entries.resize(o.top);
  } else {
    std::sort(h.entries.begin(), h.entries.end(), before);
  }
  return h;
}

}  // namespace perfscope::profile
