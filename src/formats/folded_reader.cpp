#include "formats/folded_reader.hpp"

#include <fmt/format.h>

#include <charconv>
#include <limits>

#include "formats/line_splitter.hpp"

namespace perfscope::formats {
namespace {

constexpr const char* kFormatHint =
    "  folded stacks are one stack per line: frames root first joined by ';', a space, and a "
    "count\n  (for example: main;parse;memcpy 42)";

bool is_space(char c) {
  return c == ' ' || c == '\t';
}

}  // namespace

FoldedReader::FoldedReader(output::StackTree& tree, std::string source, FoldedReaderOptions options)
    : tree_(tree), source_(std::move(source)), options_(std::move(options)) {}

Error FoldedReader::error(std::string reason, std::string hint) const {
  return Error{fmt::format("{}:{}: {}", source_, line_, reason), 0,
               hint.empty() ? std::string(kFormatHint) : std::move(hint)};
}

Status FoldedReader::add_line(std::string_view line) {
  ++line_;
  while (!line.empty() && is_space(line.back())) line.remove_suffix(1);
  std::size_t first = 0;
  while (first < line.size() && is_space(line[first])) ++first;
  line.remove_prefix(first);
  if (line.empty() || line.front() == '#') return {};
  if (line.find('\0') != std::string_view::npos) {
    return error("the line holds a NUL byte: this is binary data, not folded stacks");
  }

  const std::size_t gap = line.find_last_of(" \t");
  if (gap == std::string_view::npos) {
    return error("no count at the end of the line (expected 'frame;frame;... COUNT')");
  }
  const std::string_view count_text = line.substr(gap + 1);
  std::string_view stack = line.substr(0, gap);
  while (!stack.empty() && is_space(stack.back())) stack.remove_suffix(1);

  std::int64_t count = 0;
  auto [end, ec] = std::from_chars(count_text.data(), count_text.data() + count_text.size(), count);
  if (ec == std::errc::result_out_of_range) {
    return error(fmt::format("the count '{}' is too large", count_text));
  }
  if (ec != std::errc() || end != count_text.data() + count_text.size()) {
    return error(fmt::format("the count '{}' is not a whole number", count_text));
  }
  if (count < 0) return error(fmt::format("the count {} is negative", count));
  if (stack.empty()) return error("the stack before the count is empty");
  if (count > std::numeric_limits<std::int64_t>::max() - tree_.total()) {
    return error("the counts add up to more than 2^63", "  the input is damaged");
  }

  frames_.clear();
  std::size_t start = 0;
  while (true) {
    const std::size_t semi = stack.find(';', start);
    const std::string_view annotated =
        stack.substr(start, semi == std::string_view::npos ? std::string_view::npos : semi - start);
    if (annotated.empty()) {
      return error(fmt::format("frame {} is empty (two ';' in a row, or one at an end)",
                               frames_.size() + 1));
    }
    const output::SplitName s = output::split_kind_suffix(annotated);
    if (frames_.empty() && !options_.comm.empty() && s.name != options_.comm) return {};
    frames_.push_back({tree_.intern(s.name), s.kind});
    if (semi == std::string_view::npos) break;
    start = semi + 1;
  }
  if (count == 0) return {};
  tree_.add(frames_, count);
  ++stacks_;
  return {};
}

Status FoldedReader::add_text(std::string_view text) {
  LineSplitter lines;
  auto on_line = [this](std::string_view l) { return add_line(l); };
  if (auto st = lines.feed(text, on_line); !st) return st;
  return lines.finish(on_line);
}

}  // namespace perfscope::formats
