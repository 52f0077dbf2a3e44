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

namespace perfscope::formats {

struct FoldedReaderOptions {
  std::string comm = {};  // only stacks whose root frame is exactly this (folded comm convention)
};

class FoldedReader {
 public:
  // Adds to `tree`, which must outlive the reader. `source` names the input in errors.
  FoldedReader(output::StackTree& tree, std::string source, FoldedReaderOptions options = {});

  // One line, without its '\n'. Errors carry "SOURCE:LINE: reason" as their op.
  Status add_line(std::string_view line);
  // Text in one piece (a whole file, or a test's input).
  Status add_text(std::string_view text);

  std::size_t line_number() const { return line_; }
  std::size_t stacks() const { return stacks_; }  // lines that added samples

 private:
  Error error(std::string reason, std::string hint = {}) const;

  output::StackTree& tree_;
  std::string source_;
  FoldedReaderOptions options_;
  std::size_t line_ = 0;
  std::size_t stacks_ = 0;
  std::vector<output::FrameRef> frames_;
};

}  // namespace perfscope::formats
