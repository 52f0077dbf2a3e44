// LineSplitter: a byte stream cut into lines, for the text formats read a piece at a time.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace perfscope::formats {

// Cuts a byte stream into lines ('\n'; a '\r' before it is dropped), carrying a line split
// between two chunks over to the next. Lines are views valid only during the callback.
class LineSplitter {
 public:
  // The longest line taken; a longer one is an Error (no text format has lines this long).
  static constexpr std::size_t kMaxLine = 16u << 20;

  // Calls on_line(std::string_view) -> Status for each complete line; stops at the first error.
  template <typename OnLine>
  Status feed(std::string_view chunk, OnLine&& on_line) {
    while (!chunk.empty()) {
      const std::size_t nl = chunk.find('\n');
      if (nl == std::string_view::npos) {
        carry_.append(chunk);
        if (carry_.size() > kMaxLine) {
          return Error{"a line is longer than 16 MiB", 0,
                       "  this is not folded stacks or perf script text"};
        }
        return {};
      }
      std::string_view line = chunk.substr(0, nl);
      chunk.remove_prefix(nl + 1);
      Status st;
      if (!carry_.empty()) {
        carry_.append(line);
        st = on_line(trim_cr(carry_));
        carry_.clear();
      } else {
        st = on_line(trim_cr(line));
      }
      if (!st) return st;
    }
    return {};
  }

  // The last line when the input did not end with '\n'.
  template <typename OnLine>
  Status finish(OnLine&& on_line) {
    if (carry_.empty()) return {};
    Status st = on_line(trim_cr(carry_));
    carry_.clear();
    return st;
  }

 private:
  static std::string_view trim_cr(std::string_view s) {
    if (!s.empty() && s.back() == '\r') s.remove_suffix(1);
    return s;
  }
  std::string carry_;
};

}  // namespace perfscope::formats
