#include "profile/profile.hpp"

#include <fmt/format.h>

#include <functional>

namespace perfscope::profile {
namespace {

std::uint64_t hash_text(std::string_view s) {
  return std::hash<std::string_view>{}(s);
}

std::uint64_t hash_function(const Function& f) {
  std::uint64_t h = hash_combine(f.name, f.system_name);
  h = hash_combine(h, f.filename);
  return hash_combine(h, static_cast<std::uint64_t>(f.start_line));
}

bool same_function(const Function& a, const Function& b) {
  return a.name == b.name && a.system_name == b.system_name && a.filename == b.filename &&
         a.start_line == b.start_line;
}

Error broken(std::string what) {
  return Error{"inconsistent profile: " + std::move(what), 0, {}};
}

}  // namespace

Profile::Profile() {
  strings_.emplace_back();
  string_index_.insert(hash_text({}), 0);
}

StringId Profile::intern(std::string_view s) {
  const std::uint64_t h = hash_text(s);
  const std::int64_t found =
      string_index_.find(h, [&](std::uint32_t id) { return strings_[id] == s; });
  if (found >= 0) return static_cast<StringId>(found);
  const auto id = static_cast<StringId>(strings_.size());
  strings_.emplace_back(s);
  string_index_.insert(h, id);
  return id;
}

std::int64_t Profile::find_string(std::string_view s) const {
  return string_index_.find(hash_text(s), [&](std::uint32_t id) { return strings_[id] == s; });
}

std::string_view Profile::string(StringId id) const {
  return id < strings_.size() ? std::string_view(strings_[id]) : std::string_view();
}

std::uint64_t Profile::add_function(std::string_view name, std::string_view system_name,
                                    std::string_view filename, std::int64_t start_line) {
  // The views may point into strings_ (p.string(id)), and adding a string can move the short ones:
  // find all three before adding any, and add copies.
  const std::string_view texts[3] = {name, system_name, filename};
  StringId ids[3] = {};
  std::string added[3];
  for (int i = 0; i < 3; ++i) {
    const std::int64_t found = find_string(texts[i]);
    if (found >= 0) {
      ids[i] = static_cast<StringId>(found);
    } else {
      added[i] = texts[i];
    }
  }
  for (int i = 0; i < 3; ++i) {
    if (!added[i].empty()) ids[i] = intern(added[i]);
  }
  const Function f{ids[0], ids[1], ids[2], start_line};
  const std::uint64_t h = hash_function(f);
  const std::int64_t found =
      function_index_.find(h, [&](std::uint32_t i) { return same_function(functions_[i], f); });
  if (found >= 0) return static_cast<std::uint64_t>(found) + 1;
  functions_.push_back(f);
  function_index_.insert(h, static_cast<std::uint32_t>(functions_.size() - 1));
  return functions_.size();
}

std::uint64_t Profile::add_mapping(const Mapping& m) {
  mappings_.push_back(m);
  return mappings_.size();
}

std::uint64_t Profile::add_location(Location l) {
  locations_.push_back(std::move(l));
  return locations_.size();
}

void Profile::add_sample(Sample s) {
  samples_.push_back(std::move(s));
}

Status validate(const Profile& p) {
  const std::size_t n_strings = p.strings().size();
  auto bad_string = [&](StringId id) { return id >= n_strings; };
  if (p.strings().empty() || !p.strings()[0].empty()) {
    return broken("string 0 must be the empty string");
  }
  for (const auto& t : p.sample_types) {
    if (bad_string(t.type) || bad_string(t.unit)) return broken("sample type names a bad string");
  }
  if (bad_string(p.period_type.type) || bad_string(p.period_type.unit) ||
      bad_string(p.default_sample_type)) {
    return broken("period type or default sample type names a bad string");
  }
  for (StringId c : p.comments) {
    if (bad_string(c)) return broken("a comment names a bad string");
  }
  for (std::size_t i = 0; i < p.functions().size(); ++i) {
    const Function& f = p.functions()[i];
    if (bad_string(f.name) || bad_string(f.system_name) || bad_string(f.filename)) {
      return broken(fmt::format("function {} names a string that does not exist", i + 1));
    }
  }
  for (std::size_t i = 0; i < p.mappings().size(); ++i) {
    const Mapping& m = p.mappings()[i];
    if (bad_string(m.filename) || bad_string(m.build_id)) {
      return broken(fmt::format("mapping {} names a string that does not exist", i + 1));
    }
  }
  for (std::size_t i = 0; i < p.locations().size(); ++i) {
    const Location& l = p.locations()[i];
    if (l.mapping_id > p.mappings().size()) {
      return broken(fmt::format("location {} refers to mapping {}, which does not exist", i + 1,
                                l.mapping_id));
    }
    for (const Line& line : l.lines) {
      if (line.function_id == 0 || line.function_id > p.functions().size()) {
        return broken(fmt::format("location {} refers to function {}, which does not exist", i + 1,
                                  line.function_id));
      }
    }
  }
  const std::size_t n_values = p.sample_types.size();
  for (std::size_t i = 0; i < p.samples().size(); ++i) {
    const Sample& s = p.samples()[i];
    if (s.values.size() != n_values) {
      return broken(fmt::format("sample {} has {} values for {} sample types", i + 1,
                                s.values.size(), n_values));
    }
    for (std::uint64_t id : s.location_ids) {
      if (id == 0 || id > p.locations().size()) {
        return broken(
            fmt::format("sample {} refers to location {}, which does not exist", i + 1, id));
      }
    }
    for (const Label& l : s.labels) {
      if (bad_string(l.key) || bad_string(l.str) || bad_string(l.num_unit)) {
        return broken(
            fmt::format("a label of sample {} names a string that does not exist", i + 1));
      }
    }
  }
  return {};
}

}  // namespace perfscope::profile
