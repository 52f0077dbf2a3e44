#include "formats/perf_script.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <limits>

#include "formats/line_splitter.hpp"
#include "profile/names.hpp"

namespace perfscope::formats {

using output::FrameKind;
using output::FrameRef;
using output::StackTree;
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// The next whitespace-separated token of `s` (advancing it), or "" at the end.
std::string_view next_token(std::string_view& s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  std::size_t n = 0;
  while (n < s.size() && !is_space(s[n])) ++n;
  std::string_view tok = s.substr(0, n);
  s.remove_prefix(n);
  return tok;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_digit);
}

bool parse_int(std::string_view s, std::int64_t& out) {
  if (!all_digits(s)) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

// "1234" or "1234/5678".
bool parse_pid_tid(std::string_view tok, std::int64_t& pid, std::int64_t& tid) {
  const std::size_t slash = tok.find('/');
  if (slash == std::string_view::npos) {
    if (!parse_int(tok, pid)) return false;
    tid = pid;
    return true;
  }
  return parse_int(tok.substr(0, slash), pid) && parse_int(tok.substr(slash + 1), tid);
}

// "[003]".
bool is_cpu(std::string_view tok) {
  return tok.size() >= 3 && tok.front() == '[' && tok.back() == ']' &&
         all_digits(tok.substr(1, tok.size() - 2));
}

// "8533.566824:" (perf prints seconds with a fraction; accept a bare integer too).
bool is_time(std::string_view tok) {
  if (tok.size() < 2 || tok.back() != ':') return false;
  tok.remove_suffix(1);
  const std::size_t dot = tok.find('.');
  if (dot == std::string_view::npos) return all_digits(tok);
  return all_digits(tok.substr(0, dot)) && all_digits(tok.substr(dot + 1));
}

// "name+0x1f" -> "name"; a '+' that is part of the name (operator+) stays.
std::string_view strip_offset(std::string_view sym) {
  const std::size_t plus = sym.rfind("+0x");
  if (plus == std::string_view::npos || plus == 0 || plus + 3 == sym.size()) return sym;
  const std::string_view hex = sym.substr(plus + 3);
  return std::all_of(hex.begin(), hex.end(), is_hex) ? sym.substr(0, plus) : sym;
}

}  // namespace

std::optional<PerfScriptHeader> parse_perf_script_header(std::string_view line) {
  if (line.empty() || is_space(line.front())) {
    // perf right-aligns COMM in a 16-wide column when there are no callchain lines.
    line = trim(line);
  }
  if (line.empty()) return std::nullopt;
  // COMM may hold spaces: the PID is the first numeric token after it that is followed by a CPU
  // or a time.
  std::string_view rest = line;
  std::string_view first = next_token(rest);
  if (first.empty()) return std::nullopt;
  while (!rest.empty()) {
    std::string_view after_pid = rest;
    const std::string_view tok = next_token(after_pid);
    std::int64_t pid = 0, tid = 0;
    if (tok.empty()) break;
    if (parse_pid_tid(tok, pid, tid)) {
      std::string_view probe = after_pid;
      std::string_view t = next_token(probe);
      if (is_cpu(t)) t = next_token(probe);
      if (is_time(t)) {
        PerfScriptHeader h;
        h.comm = trim(line.substr(0, static_cast<std::size_t>(tok.data() - line.data())));
        h.pid = pid;
        h.tid = tid;
        std::string_view after_time = probe;
        std::string_view maybe = next_token(after_time);
        std::int64_t period = 0;
        if (parse_int(maybe, period)) {
          h.period = period;
          probe = after_time;
          maybe = next_token(after_time);
        }
        if (maybe.size() > 1 && maybe.back() == ':') {
          h.event = maybe.substr(0, maybe.size() - 1);
          probe = after_time;
        }
        h.rest = trim(probe);
        return h;
      }
    }
    next_token(rest);  // the token belongs to COMM
  }
  return std::nullopt;
}

namespace {

// The frame in `text`, its name written to `name` (a buffer reused across lines, so the hot path
// allocates nothing once it has grown); nullopt when `text` is not a frame.
std::optional<FrameKind> parse_frame(std::string_view text, std::string& name) {
  text = trim(text);
  std::string_view rest = text;
  const std::string_view addr = next_token(rest);
  if (addr.empty() || !std::all_of(addr.begin(), addr.end(), is_hex)) return std::nullopt;
  rest = trim(rest);
  if (rest.empty() || rest.back() != ')') return std::nullopt;
  // The module is the last parenthesised group; symbols may hold parentheses of their own.
  int depth = 0;
  std::size_t open = std::string_view::npos;
  for (std::size_t i = rest.size(); i-- > 0;) {
    if (rest[i] == ')') ++depth;
    if (rest[i] == '(' && --depth == 0) {
      open = i;
      break;
    }
  }
  if (open == std::string_view::npos) return std::nullopt;
  const std::string_view module = rest.substr(open + 1, rest.size() - open - 2);
  const std::string_view sym = strip_offset(trim(rest.substr(0, open)));

  FrameKind kind = FrameKind::user;
  if (module == "inlined") {
    kind = FrameKind::inlined;
  } else if (profile::is_kernel_mapping_name(module)) {
    kind = FrameKind::kernel;
  } else if (profile::is_jit_mapping_name(module)) {
    kind = FrameKind::jit;
  }
  name.clear();
  if (sym.empty() || sym == "[unknown]") {
    if (module.empty() || module == "[unknown]" || module == "inlined") {
      name = "[unknown]";
    } else if (module.front() == '[') {
      name = module;
    } else {
      name += '[';
      name += profile::basename(module);
      name += ']';
    }
  } else {
    name = sym;
  }
  std::replace(name.begin(), name.end(), ';', ':');
  return kind;
}

}  // namespace

std::optional<PerfScriptFrame> parse_perf_script_frame(std::string_view text) {
  PerfScriptFrame f;
  auto kind = parse_frame(text, f.name);
  if (!kind) return std::nullopt;
  f.kind = *kind;
  return f;
}

PerfScriptReader::PerfScriptReader(StackTree& tree, std::string source, PerfScriptOptions options)
    : tree_(tree), source_(std::move(source)), options_(std::move(options)) {}

// Sixteen bytes a step in two independent lanes: frame texts are 40 to 200 bytes, and this lookup
// runs for every frame line of the input, where std::hash (murmur) costs about twice as much.
std::size_t PerfScriptReader::TextHash::operator()(std::string_view s) const {
  constexpr std::uint64_t kMul1 = 0xff51afd7ed558ccdULL, kMul2 = 0xc4ceb9fe1a85ec53ULL;
  std::uint64_t a = 0x9e3779b97f4a7c15ULL ^ s.size(), b = 0x2545f4914f6cdd1dULL;
  const char* p = s.data();
  std::size_t n = s.size();
  for (; n >= 16; p += 16, n -= 16) {
    std::uint64_t w1 = 0, w2 = 0;
    std::memcpy(&w1, p, 8);
    std::memcpy(&w2, p + 8, 8);
    a = (a ^ w1) * kMul1;
    b = (b ^ w2) * kMul2;
  }
  std::uint64_t w1 = 0, w2 = 0;
  if (n > 8) {
    std::memcpy(&w1, p, 8);
    std::memcpy(&w2, p + 8, n - 8);
  } else if (n > 0) {
    std::memcpy(&w1, p, n);
  }
  a = (a ^ w1) * kMul1;
  b = (b ^ w2) * kMul2;
  // The multiplications carry low bits upwards only: fold the high halves down.
  std::uint64_t h = a ^ (a >> 29) ^ b ^ (b >> 32);
  h *= kMul1;
  h ^= h >> 32;
  return static_cast<std::size_t>(h);
}

std::optional<FrameRef> PerfScriptReader::frame(std::string_view text) {
  std::size_t addr = 0;
  bool hex_addr = true;
  for (; addr < text.size() && !is_space(text[addr]); ++addr)
    hex_addr = hex_addr && is_hex(text[addr]);
  hex_addr = hex_addr && addr > 0;
  const std::string_view call = trim(text.substr(addr));
  if (hex_addr) {
    if (auto it = frame_cache_.find(call); it != frame_cache_.end()) return it->second;
  }
  const auto kind = parse_frame(text, name_);
  if (!kind) return std::nullopt;
  if (!keep_) return FrameRef{};
  const FrameRef f{tree_.intern(name_), *kind};
  if (frame_cache_.size() >= kMaxCachedFrames) frame_cache_.clear();
  frame_cache_.emplace(call, f);
  return f;
}

Error PerfScriptReader::error(std::string reason) const {
  return Error{fmt::format("{}:{}: {}", source_, line_, reason), 0,
               "  expected the default output of `perf script`: a sample header line\n"
               "  ('COMM PID [CPU] TIME: PERIOD EVENT:'), then with callchains one indented\n"
               "  'ADDR SYMBOL+0xOFF (MODULE)' line per frame, and a blank line between samples"};
}

void PerfScriptReader::end_sample() {
  if (!in_sample_) return;
  in_sample_ = false;
  if (!keep_) return;
  std::uint32_t n = StackTree::kRoot;
  if (options_.include_comm) n = tree_.child(n, {comm_, FrameKind::user});
  for (auto it = frames_.rbegin(); it != frames_.rend(); ++it) n = tree_.child(n, *it);
  if (n == StackTree::kRoot) n = tree_.child(n, {tree_.intern("[unknown]"), FrameKind::user});
  if (weight_ > std::numeric_limits<std::int64_t>::max() - tree_.total()) return;
  tree_.add_count(n, weight_);
}

Status PerfScriptReader::add_line(std::string_view line) {
  ++line_;
  if (line.find('\0') != std::string_view::npos) {
    return error("the line holds a NUL byte: this is binary data, not perf script text");
  }
  const std::string_view trimmed = trim(line);
  if (trimmed.empty()) {
    end_sample();
    return {};
  }
  if (!in_sample_ && trimmed.front() == '#') return {};  // perf script --header

  if (is_space(line.front())) {
    // A frame line, or a header perf right-aligned (no callchains).
    if (in_sample_) {
      if (auto f = frame(trimmed)) {
        if (keep_) frames_.push_back(*f);
        if (!has_callchain_) ++callchains_;
        has_callchain_ = true;
        return {};
      }
      if (!parse_perf_script_header(line)) {
        const std::size_t gap = trimmed.find_first_of(" \t");
        if (gap == std::string_view::npos ||
            !std::all_of(trimmed.begin(), trimmed.begin() + static_cast<std::ptrdiff_t>(gap),
                         is_hex)) {
          return error(
              fmt::format("'{}' is neither a frame nor a sample header", trimmed.substr(0, 80)));
        }
        return error("the frame line has no '(MODULE)' at its end: was the output cut short?");
      }
    } else if (!parse_perf_script_header(line)) {
      return error(fmt::format("'{}' is an indented line outside a sample", trimmed.substr(0, 80)));
    }
  }

  auto h = parse_perf_script_header(line);
  if (!h) {
    return error(fmt::format("'{}' is not a sample header", trimmed.substr(0, 80)));
  }
  end_sample();
  in_sample_ = true;
  has_callchain_ = false;
  ++samples_;
  frames_.clear();
  keep_ = (options_.comm.empty() || h->comm == options_.comm) &&
          (options_.pids.empty() ||
           std::find(options_.pids.begin(), options_.pids.end(), h->pid) != options_.pids.end());
  if (!keep_) return {};
  comm_ = tree_.intern(h->comm.empty() ? std::string_view("[unknown]") : h->comm);
  weight_ = options_.weight_by_period && h->period ? *h->period : 1;
  if (!h->rest.empty()) {
    if (auto f = frame(h->rest)) frames_.push_back(*f);
  }
  return {};
}

Status PerfScriptReader::finish() {
  end_sample();
  if (samples_ == 0) {
    return Error{fmt::format("{}: no samples in the perf script output", source_), 0,
                 "  was `perf record` run, and did it capture samples? try `perf report`"};
  }
  return {};
}

Status PerfScriptReader::add_text(std::string_view text) {
  LineSplitter lines;
  auto on_line = [this](std::string_view l) { return add_line(l); };
  if (auto st = lines.feed(text, on_line); !st) return st;
  if (auto st = lines.finish(on_line); !st) return st;
  return finish();
}

}  // namespace perfscope::formats
