// PerfMap: a JIT's symbol map, /tmp/perf-PID.map, in perf's format: one "START SIZE NAME" line per
// compiled function, START and SIZE in hex (with or without 0x), NAME the rest of the line.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace perfscope::symbols {

class PerfMap {
 public:
  struct Entry {
    std::uint64_t start = 0, size = 0;
    std::string name;  // as the JIT wrote it
  };

  // Malformed lines are skipped and counted. A JIT may reuse an address range for new code and
  // append a new line: of two entries with the same start, the later one wins.
  static PerfMap parse(std::string_view text);
  static Result<PerfMap> load(const std::string& path);

  // The entry with start <= address < start + size, or nullptr.
  const Entry* find(std::uint64_t address) const;
  std::size_t size() const { return entries_.size(); }
  std::size_t malformed_lines() const { return malformed_; }

 private:
  std::vector<Entry> entries_;  // sorted by start, unique starts
  std::size_t malformed_ = 0;
};

}  // namespace perfscope::symbols
