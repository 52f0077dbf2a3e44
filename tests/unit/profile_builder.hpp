// TestProfile: small profiles for tests, built through the same Profile API the recorder uses and
// following its conventions (sample types samples/count and cpu/nanoseconds, the default
// samples, labels pid/tid/cpu/comm). Stacks are written root first, the way people read them.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "profile/profile.hpp"

namespace perfscope::testing {

struct Thread {
  std::int64_t pid = 100;
  std::int64_t tid = 100;
  std::int64_t cpu = 0;
  std::string comm = "app";
};

class TestProfile {
 public:
  static constexpr std::int64_t kPeriod = 10'000'000;  // ns per sample (100 Hz)

  TestProfile() {
    p.sample_types = {{p.intern("samples"), p.intern("count")},
                      {p.intern("cpu"), p.intern("nanoseconds")}};
    p.period_type = {p.intern("cpu"), p.intern("nanoseconds")};
    p.period = kPeriod;
    p.default_sample_type = p.intern("samples");
  }

  // The mapping of `file` (one per file, 1 MiB apart).
  std::uint64_t mapping(const std::string& file) {
    auto [it, inserted] = mappings_.try_emplace(file, 0);
    if (inserted) {
      const std::uint64_t start = 0x400000 + mappings_.size() * 0x100000;
      it->second = p.add_mapping({.start = start,
                                  .limit = start + 0x100000,
                                  .offset = 0,
                                  .filename = p.intern(file),
                                  .has_functions = true});
    }
    return it->second;
  }

  // A location holding `function` in `file` (one per pair).
  std::uint64_t frame(const std::string& function, const std::string& file = "/usr/bin/app") {
    return inlined({function}, file);
  }

  // A location whose inline chain is `functions`, innermost first (pprof's order).
  std::uint64_t inlined(const std::vector<std::string>& functions,
                        const std::string& file = "/usr/bin/app") {
    auto key = std::make_pair(file, functions);
    auto [it, inserted] = locations_.try_emplace(key, 0);
    if (inserted) {
      const std::uint64_t m = mapping(file);
      profile::Location l{m, p.mapping(m).start + 0x10 * (locations_.size() + 1), {}};
      for (const auto& f : functions) {
        l.lines.push_back({p.add_function(f, "_Z" + f, file + ".c", 1), 10});
      }
      it->second = p.add_location(std::move(l));
    }
    return it->second;
  }

  // A sample of `count` periods whose stack is `root_first` (function names in /usr/bin/app).
  void add(const std::vector<std::string>& root_first, std::int64_t count, const Thread& t = {}) {
    std::vector<std::uint64_t> ids;
    for (const auto& f : root_first) ids.push_back(frame(f));
    add_locations(ids, count, t);
  }

  // Same, with location ids (root first).
  void add_locations(std::vector<std::uint64_t> root_first, std::int64_t count,
                     const Thread& t = {}) {
    profile::Sample s;
    s.location_ids.assign(root_first.rbegin(), root_first.rend());
    s.values = {count, count * kPeriod};
    s.labels = {{.key = p.intern("pid"), .num = t.pid, .num_unit = p.intern("pid")},
                {.key = p.intern("tid"), .num = t.tid, .num_unit = p.intern("tid")},
                {.key = p.intern("cpu"), .num = t.cpu, .num_unit = p.intern("cpu")},
                {.key = p.intern("comm"), .str = p.intern(t.comm)}};
    p.add_sample(std::move(s));
  }

  profile::Profile p;

 private:
  std::map<std::string, std::uint64_t> mappings_;
  std::map<std::pair<std::string, std::vector<std::string>>, std::uint64_t> locations_;
};

// Two processes several CLI tests share: web (pid 42, on CPU 0) and db (pid 77, thread 78, CPU 1).
inline const Thread kWeb{.pid = 42, .tid = 42, .cpu = 0, .comm = "web"};
inline const Thread kDb{.pid = 77, .tid = 78, .cpu = 1, .comm = "db"};

// 100 samples: web main;parse 60 and main;serve 20, db main;query 20.
inline TestProfile web_and_db() {
  TestProfile t;
  t.add({"main", "parse"}, 60, kWeb);
  t.add({"main", "serve"}, 20, kWeb);
  t.add({"main", "query"}, 20, kDb);
  return t;
}

}  // namespace perfscope::testing
