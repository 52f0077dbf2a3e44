#include "output/folded.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "output/stack_tree.hpp"
#include "profile/checked_math.hpp"
#include "profile/id_index.hpp"
#include "profile/names.hpp"

namespace perfscope::output {
namespace {

using profile::Location;
using profile::Profile;
using profile::Sample;
using profile::StringId;

std::string frame_text(std::string name) {
  std::replace(name.begin(), name.end(), ';', ':');
  return name;
}

// The frames of one location, root first ("outer;inlined"), built once per location.
class LocationText {
 public:
  LocationText(const Profile& p, bool annotate)
      : p_(p), annotate_(annotate), text_(p.locations().size()) {}

  const std::string& of(std::uint64_t id) {
    std::string& t = text_[id - 1];
    if (!t.empty()) return t;
    const Location& l = p_.location(id);
    // The out-of-line frame is the mapping's kind; what was inlined into it is "_[i]".
    std::string_view outer_suffix, inlined_suffix;
    if (annotate_) {
      inlined_suffix = kind_suffix(FrameKind::inlined);
      if (profile::is_kernel_mapping(p_, l.mapping_id)) {
        outer_suffix = kind_suffix(FrameKind::kernel);
      } else if (l.mapping_id != 0 &&
                 profile::is_jit_mapping_name(p_.string(p_.mapping(l.mapping_id).filename))) {
        outer_suffix = kind_suffix(FrameKind::jit);
      }
    }
    auto append = [&](std::string name, std::string_view suffix) {
      if (!t.empty()) t += ';';
      t += frame_text(std::move(name));
      t += suffix;
    };
    for (auto it = l.lines.rbegin(); it != l.lines.rend(); ++it) {
      append(profile::function_name(p_, p_.function(it->function_id)),
             it == l.lines.rbegin() ? outer_suffix : inlined_suffix);
    }
    if (l.lines.empty()) append(profile::unsymbolized_name(p_, l), outer_suffix);
    return t;
  }

 private:
  const Profile& p_;
  bool annotate_;
  std::vector<std::string> text_;  // by location id - 1; empty until needed
};

// Samples with the same root frame and the same location ids, summed before any text is built.
struct Stack {
  std::size_t sample = 0;  // the first sample with this stack
  StringId comm = 0;
  std::int64_t count = 0;
};

std::uint64_t stack_hash(StringId comm, const Sample& s) {
  std::uint64_t h = comm;
  for (std::uint64_t id : s.location_ids) h = profile::hash_combine(h, id);
  return h;
}

}  // namespace

Result<std::string> folded(const Profile& p, const FoldedOptions& o) {
  if (o.value_index >= p.sample_types.size()) {
    return Error{fmt::format("the profile has no sample value {} (it has {})", o.value_index,
                             p.sample_types.size()),
                 0,
                 {}};
  }
  const profile::SampleMatcher match(p, o.filter);
  const profile::LabelKeys keys(p);
  const auto& samples = p.samples();
  std::vector<Stack> stacks;
  profile::IdIndex index;
  for (std::size_t n = 0; n < samples.size(); ++n) {
    const Sample& s = samples[n];
    if (!match(s)) continue;
    const std::int64_t w = o.value_index < s.values.size() ? s.values[o.value_index] : 0;
    const StringId comm = o.include_comm ? profile::str_label(s, keys.comm) : 0;
    const std::uint64_t h = stack_hash(comm, s);
    const std::int64_t found = index.find(h, [&](std::uint32_t i) {
      return stacks[i].comm == comm && samples[stacks[i].sample].location_ids == s.location_ids;
    });
    if (found >= 0) {
      profile::add_saturating(stacks[static_cast<std::size_t>(found)].count, w);
      continue;
    }
    index.insert(h, static_cast<std::uint32_t>(stacks.size()));
    stacks.push_back({n, comm, w});
  }

  LocationText locations(p, o.annotate);
  std::vector<std::pair<std::string, std::int64_t>> lines;
  lines.reserve(stacks.size());
  for (const Stack& st : stacks) {
    std::string text;
    if (st.comm != 0) text = frame_text(profile::printable(p.string(st.comm)));
    const auto& ids = samples[st.sample].location_ids;
    for (auto it = ids.rbegin(); it != ids.rend(); ++it) {
      if (!text.empty()) text += ';';
      text += locations.of(*it);
    }
    if (text.empty()) text = "[unknown]";
    lines.emplace_back(std::move(text), st.count);
  }
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (std::size_t i = 0; i < lines.size();) {
    std::int64_t count = 0;
    std::size_t j = i;
    for (; j < lines.size() && lines[j].first == lines[i].first; ++j) {
      profile::add_saturating(count, lines[j].second);
    }
    if (count != 0) fmt::format_to(std::back_inserter(out), "{} {}\n", lines[i].first, count);
    i = j;
  }
  return out;
}

}  // namespace perfscope::output
