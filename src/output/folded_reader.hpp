// Reading folded stacks ("main;parse;memcpy 42", see folded.hpp) into a StackTree, a line at a
// time, so an input of any size needs memory for its distinct stacks only. Frame names may carry
// stackcollapse-perf.pl's kind suffixes ("_[k]" kernel, "_[j]" JIT, "_[i]" inlined), which become
// the frame's kind. Blank lines and lines starting with '#' are skipped.
//
// A malformed line is an Error naming the input, the line number and what is wrong, so a person
// can open the file at that line: "app.folded:12: the count 'x1' is not a whole number".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "output/stack_tree.hpp"

namespace perfscope::output {

// Cuts a byte stream into lines ('\n'; a '\r' before it is dropped), carrying a line split
// between two chunks over to the next. Lines are views valid only during the callback.
class LineSplitter {
 public:
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
  static constexpr std::size_t kMaxLine = 16u << 20;
  static std::string_view trim_cr(std::string_view s) {
    if (!s.empty() && s.back() == '\r') s.remove_suffix(1);
    return s;
  }
  std::string carry_;
};

struct FoldedReaderOptions {
  std::string comm = {};  // only stacks whose root frame is exactly this (folded comm convention)
};

class FoldedReader {
 public:
  // Adds to `tree`, which must outlive the reader. `source` names the input in errors.
  FoldedReader(StackTree& tree, std::string source, FoldedReaderOptions options = {});

  // One line, without its '\n'. Errors carry "SOURCE:LINE: reason" as their op.
  Status add_line(std::string_view line);
  // Text in one piece (a whole file, or a test's input).
  Status add_text(std::string_view text);

  std::size_t line_number() const { return line_; }
  std::size_t stacks() const { return stacks_; }  // lines that added samples

 private:
  Error error(std::string reason, std::string hint = {}) const;

  StackTree& tree_;
  std::string source_;
  FoldedReaderOptions options_;
  std::size_t line_ = 0;
  std::size_t stacks_ = 0;
  std::vector<FrameRef> frames_;
};

}  // namespace perfscope::output
