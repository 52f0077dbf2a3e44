#include "top/model.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>

namespace perfscope::top {
namespace {

constexpr double kPrune = 0.01;  // decayed counts below this many samples are forgotten

std::uint64_t pair_key(std::uint32_t key, std::uint32_t pid) {
  return (static_cast<std::uint64_t>(key) << 32) | pid;
}

std::string base_name(std::string_view path) {
  const auto slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

double percent(double part, double whole) {
  return whole > 0 ? 100.0 * part / whole : 0.0;
}

}  // namespace

const char* view_name(View v) {
  switch (v) {
    case View::functions:
      return "functions";
    case View::modules:
      return "modules";
    case View::processes:
      return "processes";
    case View::threads:
      return "threads";
  }
  return "";
}

const char* sort_name(SortKey s) {
  switch (s) {
    case SortKey::self:
      return "self";
    case SortKey::total:
      return "total";
    case SortKey::average:
      return "average";
    case SortKey::name:
      return "name";
  }
  return "";
}

std::optional<View> parse_view(const std::string& text) {
  for (View v : {View::functions, View::modules, View::processes, View::threads}) {
    if (text == view_name(v)) return v;
  }
  return std::nullopt;
}

std::optional<SortKey> parse_sort(const std::string& text) {
  for (SortKey s : {SortKey::self, SortKey::total, SortKey::average, SortKey::name}) {
    if (text == sort_name(s)) return s;
  }
  return std::nullopt;
}

Model::Model(const sampling::Collector& collector, const recording::ProfileInfo& info)
    : collector_(collector), builder_(collector, symbolizer_, info) {}

Model::~Model() = default;

std::uint32_t Model::intern(std::unordered_map<std::string, std::uint32_t>& index,
                            std::vector<std::string>& names, const std::string& text) {
  auto [it, inserted] = index.try_emplace(text, static_cast<std::uint32_t>(names.size()));
  if (inserted) names.push_back(text);
  return it->second;
}

void Model::location_keys(std::uint64_t location_id) {
  const profile::Profile& p = builder_.profile();
  while (loc_fns_.size() < location_id) {
    const profile::Location& loc = p.location(loc_fns_.size() + 1);
    std::string module = "[unknown]";
    if (loc.mapping_id != 0) {
      const std::string name = base_name(p.string(p.mapping(loc.mapping_id).filename));
      if (!name.empty()) module = name;
    }
    const std::uint32_t mod = intern(mod_index_, mod_names_, module);
    std::vector<std::uint32_t> fns;
    for (const auto& line : loc.lines) {
      const std::string fn(p.string(p.function(line.function_id).name));
      const std::size_t before = fn_names_.size();
      const std::uint32_t key = intern(fn_index_, fn_names_, fn + '\x1f' + module);
      if (fn_names_.size() != before) {
        fn_names_.back() = fn;
        fn_modules_.push_back(module);
      }
      fns.push_back(key);
    }
    loc_fns_.push_back(std::move(fns));
    loc_module_.push_back(mod);
  }
}

void Model::learn_entry(std::size_t index) {
  const auto& e = collector_.stacks().entries()[index];
  const profile::Sample& s = builder_.profile().samples()[index];
  EntryInfo info;
  info.pid = e.key.pid;
  info.tid = e.key.tid;
  const auto& space = collector_.processes().space(e.key.space);
  // A process that exec()ed is named by its newest address space (ids only grow): a late sample
  // from before the exec (the forking program's name) must not rename it back.
  auto [newest, first] = name_space_.try_emplace(info.pid, e.key.space);
  if (first || e.key.space >= newest->second) {
    newest->second = e.key.space;
    if (!space.comm.empty() || !process_names_.contains(info.pid)) {
      process_names_[info.pid] = space.comm;
    }
    thread_names_[info.tid] =
        std::string(collector_.processes().thread_comm(static_cast<pid_t>(info.tid), e.key.space));
  }
  thread_pid_[info.tid] = info.pid;

  info.seq_off = static_cast<std::uint32_t>(arena_.size());
  std::vector<std::uint32_t> modules;
  for (const auto id : s.location_ids) {
    location_keys(id);
    for (const auto fn : loc_fns_[id - 1]) arena_.push_back(fn);
    const std::uint32_t mod = loc_module_[id - 1];
    if (std::find(modules.begin(), modules.end(), mod) == modules.end()) modules.push_back(mod);
  }
  if (arena_.size() == info.seq_off) {  // nothing in the stack: one frame that says so
    const std::uint32_t mod = intern(mod_index_, mod_names_, "[unknown]");
    const std::size_t before = fn_names_.size();
    arena_.push_back(intern(fn_index_, fn_names_, "[no stack]\x1f[unknown]"));
    if (fn_names_.size() != before) {
      fn_names_.back() = "[no stack]";
      fn_modules_.push_back("[unknown]");
    }
    modules.push_back(mod);
  }
  info.seq_len = static_cast<std::uint32_t>(arena_.size() - info.seq_off);
  info.fn_off = static_cast<std::uint32_t>(arena_.size());
  for (std::uint32_t i = 0; i < info.seq_len; ++i) {
    const std::uint32_t fn = arena_[info.seq_off + i];
    if (std::find(arena_.begin() + info.fn_off, arena_.end(), fn) == arena_.end()) {
      arena_.push_back(fn);
    }
  }
  info.fn_len = static_cast<std::uint32_t>(arena_.size() - info.fn_off);
  info.mod_off = static_cast<std::uint32_t>(arena_.size());
  arena_.insert(arena_.end(), modules.begin(), modules.end());
  info.mod_len = static_cast<std::uint32_t>(modules.size());
  info.leaf_module = modules.front();
  entries_.push_back(info);
}

void Model::decay(double factor) {
  const auto shrink = [factor](auto& map) {
    for (auto it = map.begin(); it != map.end();) {
      it->second *= factor;
      it = it->second < kPrune ? map.erase(it) : std::next(it);
    }
  };
  shrink(avg_fn_self_);
  shrink(avg_fn_total_);
  shrink(avg_mod_self_);
  shrink(avg_mod_total_);
  shrink(avg_thread_);
  shrink(avg_pid_);
}

void Model::refresh(double interval_s) {
  builder_.update();
  const auto& entries = collector_.stacks().entries();
  for (std::size_t i = entries_.size(); i < entries.size(); ++i) learn_entry(i);
  prev_count_.resize(entries.size(), 0);
  prev_period_.resize(entries.size(), 0);
  window_.clear();
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const std::uint64_t d = entries[i].count - prev_count_[i];
    if (d == 0) continue;
    window_.push_back({static_cast<std::uint32_t>(i), d, entries[i].period - prev_period_[i]});
    prev_count_[i] = entries[i].count;
    prev_period_[i] = entries[i].period;
  }
  interval_s_ = interval_s;
  ++refreshes_;
  decay(std::pow(0.5, interval_s / kHalfLifeSeconds));
  for (const Delta& d : window_) {
    const EntryInfo& e = entries_[d.entry];
    const auto c = static_cast<double>(d.count);
    avg_pid_[e.pid] += c;
    avg_thread_[pair_key(e.tid, e.pid)] += c;
    avg_fn_self_[pair_key(arena_[e.seq_off], e.pid)] += c;
    avg_mod_self_[pair_key(e.leaf_module, e.pid)] += c;
    for (std::uint32_t i = 0; i < e.fn_len; ++i) {
      avg_fn_total_[pair_key(arena_[e.fn_off + i], e.pid)] += c;
    }
    for (std::uint32_t i = 0; i < e.mod_len; ++i) {
      avg_mod_total_[pair_key(arena_[e.mod_off + i], e.pid)] += c;
    }
  }
}

std::uint64_t Model::window_samples(std::int64_t zoom_pid) const {
  std::uint64_t n = 0;
  for (const Delta& d : window_) {
    if (zoom_pid < 0 || entries_[d.entry].pid == zoom_pid) n += d.count;
  }
  return n;
}

std::string Model::process_name(std::int64_t pid) const {
  auto it = process_names_.find(static_cast<std::uint32_t>(pid));
  return fmt::format("{}[{}]", it == process_names_.end() ? "" : it->second, pid);
}

std::vector<Row> Model::rows(const Query& q) const {
  const bool functions = q.view == View::functions;
  const bool modules = q.view == View::modules;
  const auto wanted = [&](std::uint32_t pid) { return q.zoom_pid < 0 || pid == q.zoom_pid; };

  double avg_total = 0;
  for (const auto& [pid, v] : avg_pid_) {
    if (wanted(pid)) avg_total += v;
  }
  const double window_total = static_cast<double>(window_samples(q.zoom_pid));

  // Per row key: window self and total, the decayed self, and the process with the most of its
  // window samples (or of its decayed ones, for a key absent from the window).
  struct Acc {
    std::uint64_t self = 0, total = 0;
    double average = 0;
    bool windowed = false;
    std::uint32_t top_pid = 0;
    double top = -1;
  };
  std::unordered_map<std::uint32_t, Acc> acc;
  std::unordered_map<std::uint64_t, double> window_pid, decayed_pid;  // (key, pid) -> samples
  for (const Delta& d : window_) {
    const EntryInfo& e = entries_[d.entry];
    if (!wanted(e.pid)) continue;
    const auto add_total = [&](std::uint32_t key) {
      Acc& a = acc[key];
      a.total += d.count;
      a.windowed = true;
      window_pid[pair_key(key, e.pid)] += static_cast<double>(d.count);
    };
    if (functions) {
      acc[arena_[e.seq_off]].self += d.count;
      for (std::uint32_t i = 0; i < e.fn_len; ++i) add_total(arena_[e.fn_off + i]);
    } else if (modules) {
      acc[e.leaf_module].self += d.count;
      for (std::uint32_t i = 0; i < e.mod_len; ++i) add_total(arena_[e.mod_off + i]);
    } else {
      const std::uint32_t key = q.view == View::processes ? e.pid : e.tid;
      acc[key].self += d.count;
      add_total(key);
    }
  }
  // Keys seen in the average but not in this window still have a row (sorting by average).
  if (q.view == View::processes) {
    for (const auto& [pid, v] : avg_pid_) {
      if (wanted(pid)) acc[pid].average += v;
    }
  } else {
    const auto& decayed = functions ? avg_fn_self_ : modules ? avg_mod_self_ : avg_thread_;
    for (const auto& [k, v] : decayed) {
      if (!wanted(static_cast<std::uint32_t>(k))) continue;
      acc[static_cast<std::uint32_t>(k >> 32)].average += v;
      decayed_pid[k] += v;
    }
  }
  const auto take_top = [&](const std::unordered_map<std::uint64_t, double>& counts,
                            bool windowed) {
    for (const auto& [k, n] : counts) {
      Acc& a = acc[static_cast<std::uint32_t>(k >> 32)];
      if (a.windowed != windowed) continue;
      const auto pid = static_cast<std::uint32_t>(k);
      if (n > a.top || (n == a.top && pid < a.top_pid)) {
        a.top = n;
        a.top_pid = pid;
      }
    }
  };
  take_top(window_pid, true);
  take_top(decayed_pid, false);

  std::vector<Row> rows;
  rows.reserve(acc.size());
  for (const auto& [key, a] : acc) {
    Row r;
    r.id = static_cast<std::uint64_t>(key) + 1;
    r.self_samples = a.self;
    r.total_samples = a.total;
    r.self = percent(static_cast<double>(a.self), window_total);
    r.total = percent(static_cast<double>(a.total), window_total);
    r.average = percent(a.average, avg_total);
    r.pid = q.view == View::processes ? key : a.top_pid;
    rows.push_back(std::move(r));
  }
  // Names are filled in for the rows shown only (all of them to sort by name).
  const auto name = [&](Row& r) {
    const auto key = static_cast<std::uint32_t>(r.id - 1);
    r.process = process_name(r.pid);
    switch (q.view) {
      case View::functions:
        r.name = fn_names_[key];
        r.module = fn_modules_[key];
        break;
      case View::modules:
        r.name = mod_names_[key];
        break;
      case View::processes: {
        auto it = process_names_.find(key);
        r.name = it == process_names_.end() ? "" : it->second;
        r.pid = key;
        r.exited = collector_.processes().exited(static_cast<pid_t>(key));
        break;
      }
      case View::threads: {
        auto it = thread_names_.find(key);
        r.name = it == thread_names_.end() ? "" : it->second;
        r.tid = key;
        if (auto p = thread_pid_.find(key); p != thread_pid_.end()) r.pid = p->second;
        r.process = process_name(r.pid);
        r.exited = collector_.processes().exited(static_cast<pid_t>(r.pid));
        break;
      }
    }
  };
  if (q.sort == SortKey::name) {
    for (Row& r : rows) name(r);
  }
  const auto by = [&](const Row& a, const Row& b) {
    switch (q.sort) {
      case SortKey::self:
        if (a.self_samples != b.self_samples) return a.self_samples > b.self_samples;
        if (a.total_samples != b.total_samples) return a.total_samples > b.total_samples;
        break;
      case SortKey::total:
        if (a.total_samples != b.total_samples) return a.total_samples > b.total_samples;
        if (a.self_samples != b.self_samples) return a.self_samples > b.self_samples;
        break;
      case SortKey::average:
        if (a.average != b.average) return a.average > b.average;
        break;
      case SortKey::name:
        break;
    }
    if (q.sort == SortKey::name && a.name != b.name) return a.name < b.name;
    return a.id < b.id;
  };
  if (q.limit > 0 && rows.size() > q.limit) {
    std::partial_sort(rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(q.limit), rows.end(),
                      by);
    rows.resize(q.limit);
  } else {
    std::sort(rows.begin(), rows.end(), by);
  }
  if (q.sort != SortKey::name) {
    for (Row& r : rows) name(r);
  }

  if (functions && q.expanded != 0) {
    auto row =
        std::find_if(rows.begin(), rows.end(), [&](const Row& r) { return r.id == q.expanded; });
    if (row != rows.end()) {
      const auto fn = static_cast<std::uint32_t>(q.expanded - 1);
      std::unordered_map<std::uint32_t, std::uint64_t> callers;  // key ~0u: none (outermost)
      for (const Delta& d : window_) {
        const EntryInfo& e = entries_[d.entry];
        if (!wanted(e.pid)) continue;
        const std::uint32_t* seq = arena_.data() + e.seq_off;
        const std::uint32_t* end = seq + e.seq_len;
        const std::uint32_t* at = std::find(seq, end, fn);
        if (at == end) continue;
        while (at != end && *at == fn) ++at;  // recursion: the first other function up
        callers[at == end ? ~0u : *at] += d.count;
      }
      for (const auto& [caller, n] : callers) {
        row->callers.push_back(
            {caller == ~0u ? "(no caller: outermost frame)" : fn_names_[caller],
             percent(static_cast<double>(n), static_cast<double>(row->total_samples)), n});
      }
      std::sort(row->callers.begin(), row->callers.end(), [](const Caller& a, const Caller& b) {
        return a.samples != b.samples ? a.samples > b.samples : a.name < b.name;
      });
      if (row->callers.size() > 8) row->callers.resize(8);
    }
  }
  return rows;
}

profile::Profile Model::window_profile(std::int64_t zoom_pid) const {
  const profile::Profile& live = builder_.profile();
  profile::Profile p = live;
  p.retain_samples([](const profile::Sample&) { return false; });
  for (const Delta& d : window_) {
    if (zoom_pid >= 0 && entries_[d.entry].pid != zoom_pid) continue;
    profile::Sample s = live.samples()[d.entry];
    s.values = {static_cast<std::int64_t>(d.count), static_cast<std::int64_t>(d.period)};
    p.add_sample(std::move(s));
  }
  p.time_nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count() -
                 static_cast<std::int64_t>(interval_s_ * 1e9);
  p.duration_nanos = static_cast<std::int64_t>(interval_s_ * 1e9);
  p.add_comment(fmt::format(
      "perfscope: top window of {:.2f} s (refresh {}){}", interval_s_, refreshes_,
      zoom_pid >= 0 ? fmt::format(", process {}", process_name(zoom_pid)) : std::string()));
  return p;
}

}  // namespace perfscope::top
