#include "monitor/source.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>

#include "monitor/metric_name.hpp"

namespace perfscope::monitor {

void IntervalSum::add(const counting::Reading& delta) {
  scaled_ += delta.scaled();
  enabled_ += delta.time_enabled;
  running_ += delta.time_running;
}

std::uint64_t IntervalSum::take(double& accuracy) {
  accuracy = counting::Reading{0, enabled_, running_}.running_fraction();
  const auto value = static_cast<std::uint64_t>(std::llround(std::max(0.0, scaled_)));
  *this = {};
  return value;
}

Result<Source> Source::open(std::span<const events::EventGroupSpec> groups,
                            std::span<const ScopedTarget> targets,
                            const counting::CounterOptions& options, bool tolerate_vanished) {
  std::vector<counting::Target> plain;
  for (const auto& t : targets) plain.push_back(t.target);
  auto set = counting::CounterSet::open(groups, plain, options, tolerate_vanished);
  if (!set) return set.error();
  Source s;
  s.set_ = std::move(*set);

  // Distinct scope attributes, in the order the targets came.
  using Scope = std::tuple<int, std::int64_t, std::string>;
  std::vector<Scope> scopes;
  std::vector<std::size_t> target_scope;
  for (const auto& t : targets) {
    Scope key{t.cpu, t.pid, t.cgroup};
    auto it = std::find(scopes.begin(), scopes.end(), key);
    target_scope.push_back(static_cast<std::size_t>(it - scopes.begin()));
    if (it == scopes.end()) scopes.push_back(std::move(key));
  }
  // One series per (event, scope) that has a counter, ordered by event then scope.
  std::map<std::pair<std::size_t, std::size_t>, std::uint32_t> index;
  for (const auto& inst : s.set_.instances()) {
    for (std::size_t slot : inst.slots)
      index.emplace(std::pair{slot, target_scope[inst.target]}, 0);
  }
  for (auto& [key, id] : index) {
    id = static_cast<std::uint32_t>(s.series_.size());
    const auto& spec = s.set_.slots()[key.first].spec;
    const auto& [cpu, pid, cgroup] = scopes[key.second];
    s.series_.push_back({metric_name(spec), spec.display_name(), spec.name, cpu, pid, cgroup,
                         events::is_time_based(spec)});
  }
  for (const auto& inst : s.set_.instances()) {
    std::vector<std::uint32_t> ids;
    for (std::size_t slot : inst.slots) ids.push_back(index.at({slot, target_scope[inst.target]}));
    s.member_series_.push_back(std::move(ids));
  }
  s.sums_.resize(s.series_.size());
  s.totals_.assign(s.series_.size(), 0);
  return s;
}

Status Source::poll(std::int64_t time_ns, std::vector<Point>& out) {
  if (auto st = set_.read(); !st) return st.error();
  const auto& instances = set_.instances();
  for (std::size_t i = 0; i < instances.size(); ++i) {
    for (std::size_t m = 0; m < instances[i].slots.size(); ++m)
      sums_[member_series_[i][m]].add(instances[i].delta(m));
  }
  for (std::uint32_t id = 0; id < series_.size(); ++id) {
    Point p;
    p.time_ns = time_ns;
    p.series = id;
    p.delta = sums_[id].take(p.accuracy);
    totals_[id] += p.delta;
    p.total = totals_[id];
    out.push_back(p);
  }
  return {};
}

}  // namespace perfscope::monitor
