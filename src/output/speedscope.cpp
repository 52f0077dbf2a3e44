#include "output/speedscope.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <iterator>
#include <map>
#include <numeric>
#include <optional>
#include <utility>
#include <vector>

#include "core/text_escape.hpp"
#include "profile/checked_math.hpp"
#include "profile/names.hpp"

namespace perfscope::output {
namespace {

using profile::Profile;

struct FrameKey {
  std::string name;
  std::string file;
  std::int64_t line = 0;
  auto operator<=>(const FrameKey&) const = default;
};

// speedscope's unit for a pprof unit; "none" for counts and anything speedscope does not know.
std::string_view speedscope_unit(std::string_view unit) {
  for (std::string_view known :
       {"nanoseconds", "microseconds", "milliseconds", "seconds", "bytes"}) {
    if (unit == known) return known;
  }
  return "none";
}

// Frames numbered as they are first seen; sorted_order() renumbers them by key for the output.
class FrameTable {
 public:
  std::uint32_t id(FrameKey key) {
    const auto next = static_cast<std::uint32_t>(index_.size());
    return index_.try_emplace(std::move(key), next).first->second;
  }
  // order[id] is the frame's index in key order.
  std::vector<std::uint32_t> sorted_order() const {
    std::vector<std::uint32_t> order(index_.size());
    std::uint32_t next = 0;
    for (const auto& [key, id] : index_) order[id] = next++;
    return order;
  }
  const std::map<FrameKey, std::uint32_t>& keys() const { return index_; }

 private:
  std::map<FrameKey, std::uint32_t> index_;
};

}  // namespace

bool speedscope_file_names_a_mapping(std::string_view file) {
  return file.starts_with('[') || profile::is_jit_mapping_name(file);
}

Result<std::string> speedscope_json(const Profile& p, const SpeedscopeOptions& o) {
  if (o.value_index >= p.sample_types.size()) {
    return Error{fmt::format("the profile has no sample value {} (it has {})", o.value_index,
                             p.sample_types.size()),
                 0,
                 {}};
  }
  FrameTable frames;
  // The frames of each location, root first (the out-of-line function, then what was inlined).
  std::vector<std::optional<std::vector<std::uint32_t>>> location_frames(p.locations().size());
  auto frames_of = [&](std::uint64_t id) -> const std::vector<std::uint32_t>& {
    auto& cached = location_frames[id - 1];
    if (cached) return *cached;
    cached.emplace();
    const profile::Location& l = p.location(id);
    // Kernel and JIT frames name their mapping as their file, so a reader can tell them apart;
    // other frames name their source file, or a bracketed area such as [vdso] when they have none.
    std::string mapping_file;
    bool mapping_first = false;
    if (l.mapping_id != 0 && l.mapping_id <= p.mappings().size()) {
      const std::string_view file = p.string(p.mapping(l.mapping_id).filename);
      if (speedscope_file_names_a_mapping(file)) {
        mapping_file = profile::printable(file);
        mapping_first = profile::is_kernel_mapping(p, l.mapping_id) || !file.starts_with('[') ||
                        file.starts_with("[jit]");
      }
    }
    if (l.lines.empty()) {
      cached->push_back(frames.id({profile::unsymbolized_name(p, l), mapping_file, 0}));
      return *cached;
    }
    for (auto it = l.lines.rbegin(); it != l.lines.rend(); ++it) {
      if (it->function_id == 0 || it->function_id > p.functions().size()) continue;
      const profile::Function& f = p.function(it->function_id);
      std::string file = mapping_first ? mapping_file : profile::printable(p.string(f.filename));
      if (file.empty()) file = mapping_file;
      cached->push_back(frames.id({profile::function_name(p, f), std::move(file),
                                   std::max<std::int64_t>(0, f.start_line)}));
    }
    return *cached;
  };

  const profile::SampleMatcher match(p, o.filter);
  const profile::LabelKeys keys(p);
  std::map<std::vector<std::uint32_t>, std::int64_t> stacks;
  std::vector<std::uint32_t> stack;
  for (const profile::Sample& s : p.samples()) {
    if (!match(s)) continue;
    const std::int64_t w = o.value_index < s.values.size() ? s.values[o.value_index] : 0;
    if (w == 0) continue;
    stack.clear();
    if (o.include_comm) {
      const profile::StringId comm = profile::str_label(s, keys.comm);
      if (comm != 0) stack.push_back(frames.id({profile::printable(p.string(comm)), "", 0}));
    }
    for (auto it = s.location_ids.rbegin(); it != s.location_ids.rend(); ++it) {
      if (*it == 0 || *it > p.locations().size()) continue;
      const auto& f = frames_of(*it);
      stack.insert(stack.end(), f.begin(), f.end());
    }
    if (stack.empty()) stack.push_back(frames.id({"[unknown]", "", 0}));
    // record --off-cpu/--wall: the state as the innermost frame ("[sleeping]", file "[state]").
    if (const profile::StringId state = profile::str_label(s, keys.state); state != 0) {
      stack.push_back(frames.id({"[" + profile::printable(p.string(state)) + "]", "[state]", 0}));
    }
    profile::add_saturating(stacks[stack], w);
  }

  // Renumber frames in sorted order, then sort the stacks by the new numbers.
  const std::vector<std::uint32_t> order = frames.sorted_order();
  std::vector<std::pair<std::vector<std::uint32_t>, std::int64_t>> samples;
  samples.reserve(stacks.size());
  std::int64_t total = 0;
  for (auto& [ids, weight] : stacks) {
    if (weight == 0) continue;
    if (weight < 0) {
      return Error{"the profile has stacks with negative values (is it a difference of profiles?)",
                   0, "  speedscope draws positive weights only"};
    }
    std::vector<std::uint32_t> renumbered(ids.size());
    std::transform(ids.begin(), ids.end(), renumbered.begin(),
                   [&](std::uint32_t id) { return order[id]; });
    samples.emplace_back(std::move(renumbered), weight);
    profile::add_saturating(total, weight);
  }
  std::sort(samples.begin(), samples.end());

  std::string out;
  auto w = std::back_inserter(out);
  out += "{\"$schema\":";
  append_json_string(out, kSpeedscopeSchema);
  out += ",\n\"exporter\":\"perfscope\",\n\"name\":";
  append_json_string(out, o.name);
  out += ",\n\"activeProfileIndex\":0,\n\"shared\":{\"frames\":[";
  bool first = true;
  for (const auto& [key, id] : frames.keys()) {
    out += first ? "\n" : ",\n";
    first = false;
    out += "{\"name\":";
    append_json_string(out, key.name);
    if (!key.file.empty()) {
      out += ",\"file\":";
      append_json_string(out, key.file);
    }
    if (key.line > 0) fmt::format_to(w, ",\"line\":{}", key.line);
    out += '}';
  }
  out += "\n]},\n\"profiles\":[{\"type\":\"sampled\",\"name\":";
  append_json_string(out, o.name);
  const std::string_view unit = p.string(p.sample_types[o.value_index].unit);
  fmt::format_to(w, ",\"unit\":\"{}\",\"startValue\":0,\"endValue\":{},\n\"samples\":[",
                 speedscope_unit(unit), total);
  first = true;
  for (const auto& [ids, weight] : samples) {
    fmt::format_to(w, "{}[{}]", first ? "\n" : ",\n", fmt::join(ids, ","));
    first = false;
  }
  out += "\n],\n\"weights\":[";
  first = true;
  for (const auto& [ids, weight] : samples) {
    fmt::format_to(w, "{}{}", first ? "" : ",", weight);
    first = false;
  }
  out += "]}]}\n";
  return out;
}

}  // namespace perfscope::output
