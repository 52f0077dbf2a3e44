#include "formats/detect.hpp"

#include <algorithm>

#include "formats/perf_script.hpp"
#include "profile/profile.hpp"

namespace perfscope::formats {
namespace {

// Binary data shows in the first few KiB.
constexpr std::size_t kBinaryProbe = 4096;

bool looks_like_json(std::string_view head) {
  if (head.starts_with("\xef\xbb\xbf")) head.remove_prefix(3);
  const std::size_t at = head.find_first_not_of(" \t\r\n");
  return at != std::string_view::npos && head[at] == '{';
}

bool is_binary(std::string_view head) {
  head = head.substr(0, kBinaryProbe);
  return std::any_of(head.begin(), head.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c < 0x20 && c != '\n' && c != '\r' && c != '\t';
  });
}

struct FirstLine {
  std::string_view text;  // without its '\n' (and a '\r' before it)
  bool complete = false;  // its '\n' is in the head
};

// The first line that is not blank or a '#' comment; nullopt when the head has none. `head` is
// advanced past it.
std::optional<FirstLine> next_content_line(std::string_view& head) {
  while (!head.empty()) {
    const std::size_t nl = head.find('\n');
    FirstLine line{head.substr(0, nl), nl != std::string_view::npos};
    head = line.complete ? head.substr(nl + 1) : std::string_view{};
    if (line.text.ends_with('\r')) line.text.remove_suffix(1);
    const std::size_t first = line.text.find_first_not_of(" \t");
    if (first == std::string_view::npos || line.text[first] == '#') continue;
    return line;
  }
  return std::nullopt;
}

std::optional<FirstLine> first_content_line(std::string_view head) {
  return next_content_line(head);
}

// perf script text, from its first lines: a sample header, a PERF_RECORD_* line or a frame line
// decide alone; a line that is only a header if frames follow (`-F comm,tid,ip,sym`: "gzip 7552")
// decides with the next one. `complete` is false when the deciding line is not all in `head`.
bool looks_like_perf_script(std::string_view head, bool* complete = nullptr) {
  auto first = next_content_line(head);
  if (!first) return false;
  if (complete) *complete = first->complete;
  switch (classify_perf_script_line(first->text)) {
    case PerfScriptLine::header:
    case PerfScriptLine::side_band:
    case PerfScriptLine::frame:
      return true;
    case PerfScriptLine::maybe_header: {
      if (!first->complete) return false;
      auto second = next_content_line(head);
      if (complete) *complete = second && second->complete;
      return second && second->text.starts_with('\t') &&
             classify_perf_script_line(second->text) == PerfScriptLine::frame;
    }
    case PerfScriptLine::other:
      return false;
  }
  return false;
}

// "frame;frame;... COUNT" at the start of a line.
bool is_folded_line(std::string_view line) {
  if (line.empty() || line.front() == ' ' || line.front() == '\t') return false;
  const std::size_t end = line.find_last_not_of(" \t");
  const std::size_t gap = line.find_last_of(" \t", end);
  if (gap == std::string_view::npos) return false;
  const std::string_view count = line.substr(gap + 1, end - gap);
  return std::all_of(count.begin(), count.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::string_view format_name(Format format) {
  switch (format) {
    case Format::pprof:
      return "pprof profile";
    case Format::speedscope:
      return "speedscope file";
    case Format::perf_script:
      return "perf script text";
    case Format::folded:
      return "folded stacks";
    case Format::perf_data:
      return "perf.data file";
  }
  return "input";
}

std::optional<Format> detect_format(std::string_view head) {
  for (std::string_view magic : {"PERFILE2", "2ELIFREP", "PERFFILE"}) {
    if (head.starts_with(magic)) return Format::perf_data;
  }
  if (looks_like_json(head)) return Format::speedscope;
  if (is_binary(head)) {
    if (profile::looks_like_pprof(head)) return Format::pprof;
    return std::nullopt;
  }
  const auto line = first_content_line(head);
  if (!line) return std::nullopt;
  if (looks_like_perf_script(head)) return Format::perf_script;
  if (is_folded_line(line->text)) return Format::folded;
  return std::nullopt;
}

bool head_decides(std::string_view head) {
  if (looks_like_json(head) || is_binary(head)) return true;
  const auto line = first_content_line(head);
  if (!line || !line->complete) return false;
  // A line that may be a perf script header is decided by the next one.
  if (classify_perf_script_line(line->text) != PerfScriptLine::maybe_header) return true;
  bool complete = false;
  looks_like_perf_script(head, &complete);
  return complete;
}

}  // namespace perfscope::formats
