#include "serve/profile_api.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <list>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_map>
#include <vector>

#include "output/stack_tree.hpp"
#include "profile/annotate.hpp"
#include "profile/call_tree.hpp"
#include "profile/names.hpp"
#include "profile/query.hpp"
#include "profile/sample_groups.hpp"
#include "profile/sample_slice.hpp"
#include "symbols/disassemble.hpp"

namespace perfscope::serve {
namespace {

using json = nlohmann::json;

// Rows of the top table unless asked (n=); the most it gives (n=0 asks for all of them).
constexpr std::size_t kDefaultTopRows = 500;
constexpr std::size_t kMaxTopRows = 20000;
// Periods of the timeline at most (merged beyond).
constexpr std::size_t kTimelineRows = 300;
// Flame graph frames under this share of the cut's total are left out (min=).
constexpr double kDefaultMinShare = 0.0002;
// Answers kept for repeated requests (the page asks again when a view is shown again), in bytes.
constexpr std::size_t kCacheBytes = 64u << 20;

// Names may hold bytes that are not UTF-8 (symbols are bytes): replaced, never an exception.
std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

ApiReply bad_request(const Error& e) {
  return {400, dump(json{{"error", e.message()}, {"hint", e.hint}})};
}

Result<std::vector<std::int64_t>> parse_ids(std::string_view text, std::string_view what) {
  std::vector<std::int64_t> ids;
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    const std::string_view part = text.substr(0, comma);
    std::int64_t v = 0;
    const auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
    if (ec != std::errc() || end != part.data() + part.size() || part.empty()) {
      return Error{fmt::format("{}: '{}' is not a number", what, part), 0,
                   fmt::format("  give {} as comma-separated numbers: {}=12,13", what, what)};
    }
    ids.push_back(v);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
  }
  return ids;
}

// An ECMAScript regex that matches exactly `name`.
std::string exact_regex(std::string_view name) {
  std::string out = "^";
  for (char c : name) {
    if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out + "$";
}

json tree_node(const profile::TreeNode& n) {
  json children = json::array();
  for (const auto& c : n.children) children.push_back(tree_node(c));
  return {{"name", n.name}, {"total", n.total}, {"self", n.self}, {"children", children}};
}

// The parameters that select samples, parsed.
struct CutSpec {
  profile::SampleFilter filter;  // pid, comm: matched while reading, no copy
  profile::SliceOptions slice;   // tid, time, focus, ignore: a copy of the profile
  std::vector<std::int64_t> cpus;
  std::string type;
  std::string copy_key;  // what the copy depends on ("" when no copy is needed)
};

Result<CutSpec> parse_cut(const QueryString& q, bool with_time) {
  CutSpec c;
  c.filter.comm = q.value("comm");
  c.type = q.value("type");
  if (auto v = q.get("pid"); v && !v->empty()) {
    auto ids = parse_ids(*v, "pid");
    if (!ids) return ids.error();
    c.filter.pids = std::move(*ids);
  }
  if (auto v = q.get("tid"); v && !v->empty()) {
    auto ids = parse_ids(*v, "tid");
    if (!ids) return ids.error();
    c.slice.tids = std::move(*ids);
  }
  if (auto v = q.get("cpu"); v && !v->empty()) {
    auto ids = parse_ids(*v, "cpu");
    if (!ids) return ids.error();
    c.cpus = std::move(*ids);
  }
  const std::string time = with_time ? q.value("time") : std::string();
  if (!time.empty()) {
    auto ranges = profile::parse_time_ranges(time);
    if (!ranges) return ranges.error();
    c.slice.time = std::move(*ranges);
  }
  c.slice.focus = q.value("focus");
  c.slice.ignore = q.value("ignore");
  if (!c.slice.empty() || !c.cpus.empty()) {
    c.copy_key =
        fmt::format("tid={}&cpu={}&time={}&focus={}&ignore={}", fmt::join(c.slice.tids, ","),
                    fmt::join(c.cpus, ","), time, c.slice.focus, c.slice.ignore);
  }
  return c;
}

// The samples one request looks at: a profile (the loaded one, or a cut copy of it), the filter
// still to apply while reading it, and the sample type that weighs them.
struct Cut {
  const profile::Profile* p = nullptr;
  profile::SampleFilter filter;
  std::size_t value = 0;
};

// What the loaded profile holds, for the page's filters: computed once.
json describe_profile(const profile::Profile& p, std::size_t value) {
  const profile::LabelKeys keys(p);
  std::map<std::int64_t, std::pair<std::string, std::int64_t>> processes;
  std::map<std::int64_t, std::tuple<std::int64_t, std::string, std::int64_t>> threads;
  std::map<std::int64_t, std::int64_t> cpus;
  std::int64_t total = 0;
  for (const auto& s : p.samples()) {
    const std::int64_t w = value < s.values.size() ? s.values[value] : 0;
    total += w;
    const auto pid = profile::num_label(s, keys.pid);
    const std::string comm(profile::printable(p.string(profile::str_label(s, keys.comm))));
    if (pid) {
      auto& e = processes[*pid];
      if (e.first.empty()) e.first = comm;
      e.second += w;
    }
    if (const auto tid = profile::num_label(s, keys.tid)) {
      auto& e = threads[*tid];
      std::get<0>(e) = pid.value_or(0);
      if (std::get<1>(e).empty()) std::get<1>(e) = comm;
      std::get<2>(e) += w;
    }
    if (const auto cpu = profile::num_label(s, keys.cpu)) cpus[*cpu] += w;
  }
  json out;
  out["total"] = total;
  json& procs = out["processes"] = json::array();
  for (const auto& [pid, e] : processes)
    procs.push_back({{"pid", pid}, {"comm", e.first}, {"weight", e.second}});
  json& ths = out["threads"] = json::array();
  for (const auto& [tid, e] : threads) {
    ths.push_back({{"tid", tid},
                   {"pid", std::get<0>(e)},
                   {"comm", std::get<1>(e)},
                   {"weight", std::get<2>(e)}});
  }
  json& cs = out["cpus"] = json::array();
  for (const auto& [cpu, w] : cpus) cs.push_back({{"cpu", cpu}, {"weight", w}});
  return out;
}

// A StackTree as the page draws it: names once, then five numbers a frame in pre-order
// (parent's index in this list, -1 for the root; name; kind; total; self), children by name.
// Frames under `min_total` are left out (their weight stays in their parent's total).
// `base`, when given, adds a sixth number: the total of the same path in the baseline tree.
json flat_tree(const output::StackTree& tree, std::int64_t min_total,
               const output::StackTree* base = nullptr) {
  const auto children = tree.all_children();
  std::vector<std::int64_t> name_index(tree.size() + 1, -1);
  std::unordered_map<std::uint32_t, std::uint32_t> names_out;
  json names = json::array();
  std::vector<std::int64_t> nodes;
  nodes.reserve(tree.size() * (base ? 6 : 5));
  // (tree node, parent's output index, baseline node or -1)
  std::vector<std::tuple<std::uint32_t, std::int64_t, std::int64_t>> stack = {
      {output::StackTree::kRoot, -1, base ? 0 : -1}};
  std::int64_t emitted = 0;
  while (!stack.empty()) {
    const auto [id, parent, base_id] = stack.back();
    stack.pop_back();
    const auto& n = tree.node(id);
    auto [it, added] = names_out.try_emplace(n.name, static_cast<std::uint32_t>(names.size()));
    if (added) names.push_back(std::string(tree.name(n.name)));
    nodes.insert(nodes.end(),
                 {parent, it->second, static_cast<std::int64_t>(n.kind), n.total, n.self});
    if (base)
      nodes.push_back(base_id >= 0 ? base->node(static_cast<std::uint32_t>(base_id)).total : 0);
    const std::int64_t me = emitted++;
    const auto& kids = children[id];
    for (auto k = kids.rbegin(); k != kids.rend(); ++k) {
      const auto& c = tree.node(*k);
      if (c.total < min_total) continue;
      std::int64_t b = -1;
      if (base && base_id >= 0) {
        const std::int64_t name = base->find_name(tree.name(c.name));
        if (name >= 0) {
          b = base->find_child(static_cast<std::uint32_t>(base_id),
                               {static_cast<std::uint32_t>(name), c.kind});
        }
      }
      stack.emplace_back(*k, me, b);
    }
  }
  return {{"names", std::move(names)},
          {"width", base ? 6 : 5},
          {"nodes", std::move(nodes)},
          {"total", tree.total()}};
}

std::int64_t min_total(const QueryString& q, std::int64_t total) {
  double share = kDefaultMinShare;
  if (auto v = q.get("min")) {
    try {
      share = std::clamp(std::stod(*v), 0.0, 1.0);
    } catch (const std::exception&) {
    }
  }
  return static_cast<std::int64_t>(share * static_cast<double>(total));
}

// Replaces the sampled offsets by the whole function's instructions, each with its weight (as
// report --annotate does for a function without readable source).
std::string disassemble(profile::Annotation& a) {
  auto code = symbols::disassemble_function(a.module_path, a.instructions.front().file_offset);
  if (!code) return code.error().message();
  std::vector<profile::AnnotatedInstruction> all;
  auto sampled = a.instructions.begin();
  for (auto& ins : *code) {
    std::int64_t w = 0;
    while (sampled != a.instructions.end() && sampled->file_offset < ins.file_offset) ++sampled;
    if (sampled != a.instructions.end() && sampled->file_offset == ins.file_offset)
      w = sampled->weight;
    all.push_back({ins.file_offset, w, std::move(ins.text), ins.address});
  }
  a.instructions = std::move(all);
  return {};
}

// Everything of `p` but its samples, with the same ids: its strings and functions are unique (every
// reader adds them through intern() and add_function(), which deduplicate), so adding them again
// in order numbers them alike. Checked; a full copy, emptied, when it would not hold.
profile::Profile without_samples(const profile::Profile& p) {
  profile::Profile out;
  for (std::size_t i = 1; i < p.strings().size(); ++i) out.intern(p.strings()[i]);
  for (const auto& f : p.functions()) {
    out.add_function(p.string(f.name), p.string(f.system_name), p.string(f.filename), f.start_line);
  }
  if (out.strings().size() != p.strings().size() ||
      out.functions().size() != p.functions().size()) {
    out = p;
    out.retain_samples([](const profile::Sample&) { return false; });
    return out;
  }
  for (const auto& m : p.mappings()) out.add_mapping(m);
  for (const auto& l : p.locations()) out.add_location(l);
  out.sample_types = p.sample_types;
  out.period_type = p.period_type;
  out.period = p.period;
  out.time_nanos = p.time_nanos;
  out.duration_nanos = p.duration_nanos;
  out.comments = p.comments;
  out.default_sample_type = p.default_sample_type;
  return out;
}

// The samples of `p` with the same stack, pid and comm merged into one, their values summed; the
// other labels (tid, cpu, time, ...) are dropped. A flame graph of it is the flame graph of `p`
// under any pid/comm filter, and a profile of a million samples holds a few thousand stacks:
// tree_from_profile() looks each frame of each sample up, so it is built from this instead.
profile::Profile merged_by_stack(const profile::Profile& p) {
  const profile::LabelKeys keys(p);
  std::vector<profile::Sample> merged;
  std::unordered_map<std::string, std::size_t> index;
  std::string key;
  for (const auto& s : p.samples()) {
    const auto pid = profile::num_label(s, keys.pid);
    const profile::StringId comm = profile::str_label(s, keys.comm);
    key.assign(reinterpret_cast<const char*>(s.location_ids.data()),
               s.location_ids.size() * sizeof(std::uint64_t));
    key.append(reinterpret_cast<const char*>(&comm), sizeof comm);
    if (pid) key.append(reinterpret_cast<const char*>(&*pid), sizeof *pid);
    auto [it, added] = index.try_emplace(key, merged.size());
    if (!added) {
      auto& values = merged[it->second].values;
      for (std::size_t i = 0; i < values.size() && i < s.values.size(); ++i) {
        values[i] += s.values[i];
      }
      continue;
    }
    profile::Sample m{.location_ids = s.location_ids, .values = s.values};
    for (const auto& l : s.labels) {
      if (static_cast<std::int64_t>(l.key) == keys.pid ||
          static_cast<std::int64_t>(l.key) == keys.comm) {
        m.labels.push_back(l);
      }
    }
    merged.push_back(std::move(m));
  }
  profile::Profile out = without_samples(p);
  out.reserve_samples(merged.size());
  for (auto& m : merged) out.add_sample(std::move(m));
  return out;
}

}  // namespace

struct ProfileApi::State {
  profile::Profile profile;
  std::string name;
  std::optional<profile::Profile> base;
  std::string base_name;
  json meta;  // /api/meta, computed once
  // merged_by_stack() of the profile (flame graphs without a cut), made at the first need, and of
  // the last cut copy (by its copy_key).
  std::optional<profile::Profile> stacks;
  std::string stacks_key;
  std::optional<profile::Profile> cut_stacks;
  std::optional<profile::Profile> base_stacks;  // merged_by_stack() of the baseline

  // The last copy a cut needed, by its copy_key.
  std::string copy_key;
  profile::Profile copy;

  // Answers by canonical request, newest first, at most kCacheBytes.
  std::list<std::pair<std::string, ApiReply>> cache;
  std::size_t cache_bytes = 0;

  Result<Cut> cut(const QueryString& q, bool with_time = true) {
    auto spec = parse_cut(q, with_time);
    if (!spec) return spec.error();
    auto value = profile::sample_type_index(profile, spec->type);
    if (!value) return value.error();
    Cut c{&profile, spec->filter, *value};
    if (spec->copy_key.empty()) return c;
    if (spec->copy_key != copy_key) {
      copy_key.clear();
      copy = profile;
      if (auto st = profile::slice_samples(copy, spec->slice); !st) return st.error();
      if (!spec->cpus.empty()) {
        const profile::LabelKeys keys(copy);
        const std::set<std::int64_t> cpus(spec->cpus.begin(), spec->cpus.end());
        copy.retain_samples([&](const profile::Sample& s) {
          const auto cpu = profile::num_label(s, keys.cpu);
          return cpu && cpus.count(*cpu) > 0;
        });
      }
      copy_key = spec->copy_key;
    }
    c.p = &copy;
    return c;
  }

  // The cut's samples merged by stack, for flame graphs (the same tree, built far faster).
  const profile::Profile& stacks_of(const Cut& c) {
    if (c.p == &profile) {
      if (!stacks) stacks = merged_by_stack(profile);
      return *stacks;
    }
    if (!cut_stacks || stacks_key != copy_key) {
      cut_stacks = merged_by_stack(copy);
      stacks_key = copy_key;
    }
    return *cut_stacks;
  }

  ApiReply top(const QueryString& q) {
    auto c = cut(q);
    if (!c) return bad_request(c.error());
    auto by = profile::parse_group_by(q.get("by").value_or("function"));
    if (!by) return bad_request(by.error());
    std::size_t n = kDefaultTopRows;
    if (auto v = q.get("n")) n = static_cast<std::size_t>(std::max(0L, std::atol(v->c_str())));
    if (n == 0 || n > kMaxTopRows) n = kMaxTopRows;
    auto h = profile::hottest(*c->p,
                              {.by = *by, .top = n, .value_index = c->value, .filter = c->filter});
    if (!h) return bad_request(h.error());
    json rows = json::array();
    for (const auto& e : h->entries) rows.push_back(json::array({e.name, e.self, e.total}));
    return {200, dump({{"total", h->total},
                       {"distinct", h->distinct},
                       {"samples", h->samples},
                       {"rows", std::move(rows)}})};
  }

  ApiReply flame(const QueryString& q) {
    auto c = cut(q);
    if (!c) return bad_request(c.error());
    auto tree =
        output::tree_from_profile(stacks_of(*c), {.value_index = c->value, .filter = c->filter});
    if (!tree) return bad_request(tree.error());
    return {200, dump(flat_tree(*tree, min_total(q, tree->total())))};
  }

  ApiReply diff(const QueryString& q) {
    if (!base) {
      return bad_request(Error{"no baseline to compare with", 0,
                               "  start perfscope serve with --diff BASE to compare two profiles"});
    }
    auto c = cut(q);
    if (!c) return bad_request(c.error());
    // The baseline is another recording: its pids, threads, CPUs and times mean other things.
    // Only the command name and the sample type (by name) carry over.
    const std::string type(profile.sample_types.empty()
                               ? std::string_view()
                               : profile.string(profile.sample_types[c->value].type));
    auto base_value = profile::sample_type_index(*base, type, "the baseline");
    if (!base_value) return bad_request(base_value.error());
    const profile::SampleFilter base_filter{.comm = c->filter.comm};
    if (!base_stacks) base_stacks = merged_by_stack(*base);
    auto tree =
        output::tree_from_profile(stacks_of(*c), {.value_index = c->value, .filter = c->filter});
    if (!tree) return bad_request(tree.error());
    auto base_tree = output::tree_from_profile(*base_stacks,
                                               {.value_index = *base_value, .filter = base_filter});
    if (!base_tree) return bad_request(base_tree.error());
    json out = flat_tree(*tree, min_total(q, tree->total()), &*base_tree);
    out["base_total"] = base_tree->total();

    // Functions by how their self share of the total changed, largest change first.
    auto now = profile::hottest(*c->p, {.value_index = c->value, .filter = c->filter});
    auto then = profile::hottest(*base, {.value_index = *base_value, .filter = base_filter});
    if (!now || !then) return bad_request(!now ? now.error() : then.error());
    std::map<std::string, std::array<std::int64_t, 4>> by_name;
    for (const auto& e : now->entries) by_name[e.name] = {e.self, e.total, 0, 0};
    for (const auto& e : then->entries) {
      auto& r = by_name[e.name];
      r[2] = e.self, r[3] = e.total;
    }
    const double t1 = std::max<double>(1, static_cast<double>(now->total));
    const double t0 = std::max<double>(1, static_cast<double>(then->total));
    std::vector<std::pair<double, json>> rows;
    for (const auto& [fn, r] : by_name) {
      if (r[0] == 0 && r[2] == 0) continue;  // in neither profile's leaves: no self to compare
      const double change = static_cast<double>(r[0]) / t1 - static_cast<double>(r[2]) / t0;
      rows.emplace_back(std::abs(change), json::array({fn, r[0], r[1], r[2], r[3]}));
    }
    std::stable_sort(rows.begin(), rows.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });
    if (rows.size() > kDefaultTopRows) rows.resize(kDefaultTopRows);
    json table = json::array();
    for (auto& [_, r] : rows) table.push_back(std::move(r));
    out["rows"] = std::move(table);
    return {200, dump(out)};
  }

  ApiReply callers(const QueryString& q) {
    const std::string fn = q.value("fn");
    if (fn.empty()) return bad_request(Error{"callers needs fn=FUNCTION", 0, {}});
    auto c = cut(q);
    if (!c) return bad_request(c.error());
    double min_percent = 0.1;
    if (auto v = q.get("min_percent")) min_percent = std::clamp(std::atof(v->c_str()), 0.0, 100.0);
    json out{{"fn", fn}};
    for (const auto& [key, order] : {std::pair{"callers", profile::TreeOrder::callee},
                                     std::pair{"callees", profile::TreeOrder::caller}}) {
      auto tree = profile::call_tree(*c->p, {.order = order,
                                             .top = 1,
                                             .roots = exact_regex(fn),
                                             .min_percent = min_percent,
                                             .value_index = c->value,
                                             .filter = c->filter});
      if (!tree) return bad_request(tree.error());
      out["total"] = tree->total;
      out[key] = tree->roots.empty() ? json() : tree_node(tree->roots.front());
    }
    return {200, dump(out)};
  }

  ApiReply source(const QueryString& q) {
    const std::string fn = q.value("fn");
    if (fn.empty()) return bad_request(Error{"source needs fn=FUNCTION", 0, {}});
    auto c = cut(q);
    if (!c) return bad_request(c.error());
    // An exact name: a regex would be ambiguous for names full of parentheses.
    auto a = profile::annotate(*c->p, exact_regex(fn), c->value, c->filter);
    if (!a) return bad_request(a.error());
    std::string note;
    if (!a->has_source && !a->instructions.empty()) note = disassemble(*a);
    json lines = json::array();
    for (const auto& l : a->lines) lines.push_back(json::array({l.file, l.line, l.weight, l.text}));
    json instructions = json::array();
    for (const auto& i : a->instructions) {
      instructions.push_back(json::array({i.address, i.file_offset, i.weight, i.text}));
    }
    return {200, dump({{"function", a->function},
                       {"module", a->module_path},
                       {"total", a->total},
                       {"has_lines", a->has_lines},
                       {"has_source", a->has_source},
                       {"note", note},
                       {"lines", std::move(lines)},
                       {"instructions", std::move(instructions)}})};
  }

  ApiReply timeline(const QueryString& q) {
    auto c = cut(q, /*with_time=*/false);  // the whole span: the page marks the selected window
    if (!c) return bad_request(c.error());
    const profile::TimeSpan span = profile::time_span(*c->p);
    if (!span.labelled) return {200, dump({{"labelled", false}})};
    auto tl = profile::timeline(*c->p, kTimelineRows, c->value, c->filter);
    if (!tl) return bad_request(tl.error());
    json periods = json::array();
    for (const auto& p : tl->periods) {
      periods.push_back(json::array({p.start_ms, p.end_ms, p.weight, p.hottest}));
    }
    return {200, dump({{"labelled", true},
                       {"width_ms", tl->width_ms},
                       {"end_ms", span.end},
                       {"total", tl->total},
                       {"unlabelled", tl->unlabelled},
                       {"periods", std::move(periods)}})};
  }

  ApiReply uncached(std::string_view endpoint, const QueryString& q) {
    if (endpoint == "meta") return {200, dump(meta)};
    if (endpoint == "top") return top(q);
    if (endpoint == "flame") return flame(q);
    if (endpoint == "diff") return diff(q);
    if (endpoint == "callers") return callers(q);
    if (endpoint == "source") return source(q);
    if (endpoint == "timeline") return timeline(q);
    return {404, dump({{"error", fmt::format("no endpoint /api/{}", endpoint)},
                       {"hint", "  try /api/meta, top, flame, diff, callers, source, timeline"}})};
  }
};

ProfileApi::ProfileApi(profile::Profile profile, std::string name,
                       std::optional<profile::Profile> base, std::string base_name)
    : s_(std::make_unique<State>()) {
  s_->profile = std::move(profile);
  s_->name = std::move(name);
  s_->base = std::move(base);
  s_->base_name = std::move(base_name);
  const profile::Profile& p = s_->profile;
  const std::size_t value = profile::sample_type_index(p, "").value();  // never fails for ""
  json& m = s_->meta = describe_profile(p, value);
  m["profile"] = s_->name;
  m["base"] = s_->base ? json(s_->base_name) : json();
  json types = json::array();
  for (const auto& t : p.sample_types) types.push_back({p.string(t.type), p.string(t.unit)});
  m["sample_types"] = types;
  m["value"] = value;
  m["samples"] = p.samples().size();
  m["duration_ns"] = p.duration_nanos;
  const profile::TimeSpan span = profile::time_span(p);
  m["time"] = span.labelled ? json{{"width_ms", span.width}, {"end_ms", span.end}} : json();
  json notes = json::array();
  for (profile::StringId c : p.comments) notes.push_back(profile::printable(p.string(c)));
  m["notes"] = notes;
}

ProfileApi::~ProfileApi() = default;
ProfileApi::ProfileApi(ProfileApi&&) noexcept = default;
ProfileApi& ProfileApi::operator=(ProfileApi&&) noexcept = default;

ApiReply ProfileApi::answer(std::string_view endpoint, const QueryString& query) {
  // The same question in any parameter order is one cache entry.
  auto pairs = query.pairs();
  std::sort(pairs.begin(), pairs.end());
  std::string key(endpoint);
  for (const auto& [k, v] : pairs) key += fmt::format("\n{}={}", k, v);
  auto& cache = s_->cache;
  for (auto it = cache.begin(); it != cache.end(); ++it) {
    if (it->first == key) {
      cache.splice(cache.begin(), cache, it);
      return cache.front().second;
    }
  }
  ApiReply reply = s_->uncached(endpoint, query);
  if (reply.status == 200 && reply.json.size() < kCacheBytes / 4) {
    s_->cache_bytes += reply.json.size();
    cache.emplace_front(std::move(key), reply);
    while (s_->cache_bytes > kCacheBytes) {
      s_->cache_bytes -= cache.back().second.json.size();
      cache.pop_back();
    }
  }
  return reply;
}

}  // namespace perfscope::serve
