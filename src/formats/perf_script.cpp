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
bool parse_pid_tid(std::string_view tok, std::int64_t& pid, std::int64_t& tid, bool& pair) {
  const std::size_t slash = tok.find('/');
  pair = slash != std::string_view::npos;
  if (!pair) {
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

bool is_side_band(std::string_view tok) {
  return tok.starts_with("PERF_RECORD_");
}

// "cycles:u:", "cpu-clock:", "sched:sched_switch:"; not a time.
bool is_event(std::string_view tok) {
  return tok.size() > 1 && tok.back() == ':' && !is_time(tok);
}

bool is_hex_token(std::string_view tok) {
  return !tok.empty() && std::all_of(tok.begin(), tok.end(), is_hex);
}

// "name+0x1f" -> "name"; a '+' that is part of the name (operator+) stays.
std::string_view strip_offset(std::string_view sym) {
  const std::size_t plus = sym.rfind("+0x");
  if (plus == std::string_view::npos || plus == 0 || plus + 3 == sym.size()) return sym;
  const std::string_view hex = sym.substr(plus + 3);
  return std::all_of(hex.begin(), hex.end(), is_hex) ? sym.substr(0, plus) : sym;
}

// A whitespace-separated token and where it ends in its line.
struct Token {
  std::string_view text;
  std::size_t end = 0;
};

std::vector<Token> tokens_of(std::string_view line) {
  std::vector<Token> out;
  std::string_view rest = line;
  while (true) {
    const std::string_view tok = next_token(rest);
    if (tok.empty()) break;
    out.push_back({tok, static_cast<std::size_t>(tok.data() - line.data()) + tok.size()});
  }
  return out;
}

// The symbol and module of "SYMBOL[+0xOFF] (MODULE)", "(MODULE)" or "SYMBOL" (no -F dso).
struct FrameParts {
  std::string_view sym;
  std::string_view module;
  bool has_module = false;
};

FrameParts split_frame(std::string_view rest) {
  FrameParts parts;
  parts.sym = rest;
  if (rest.empty() || rest.back() != ')') return parts;
  // The module is the last parenthesised group, after a space or alone; symbols may hold
  // parentheses of their own ("operator()(int)", "(anonymous namespace)").
  int depth = 0;
  for (std::size_t i = rest.size(); i-- > 0;) {
    if (rest[i] == ')') ++depth;
    if (rest[i] == '(' && --depth == 0) {
      if (i > 0 && !is_space(rest[i - 1])) return parts;
      parts.module = rest.substr(i + 1, rest.size() - i - 2);
      parts.sym = trim(rest.substr(0, i));
      parts.has_module = true;
      return parts;
    }
  }
  return parts;
}

// "ADDR [SYMBOL] [(MODULE)]": the address is hex; a " (" that opens no module closing the line
// means the line was cut ("f+0x1 (/usr/li").
bool looks_like_frame(std::string_view text) {
  std::string_view rest = trim(text);
  const std::string_view addr = next_token(rest);
  if (!is_hex_token(addr)) return false;
  rest = trim(rest);
  const FrameParts parts = split_frame(rest);
  if (parts.has_module) return true;
  const std::size_t open = rest.rfind(" (");
  return open == std::string_view::npos || rest.find(')', open) != std::string_view::npos;
}

// The header fields of tokens[s..], or nullopt when they are not: [PID[/TID]] [CPU] [TIME:]
// [PERIOD] [EVENT:] then nothing, a frame, or (after an event) anything. `line` gives the columns.
std::optional<PerfScriptHeader> header_at(std::string_view line, const std::vector<Token>& toks,
                                          std::size_t s, bool relaxed) {
  PerfScriptHeader h;
  std::size_t i = s;
  bool strong = false, any = false;
  auto field_width = [&](std::size_t k) {
    const std::size_t start = k == 0 ? 0 : toks[k - 1].end + 1;
    return toks[k].end - start;
  };
  if (i < toks.size()) {
    std::int64_t pid = 0, tid = 0;
    bool pair = false;
    // A lone number 10 columns wide is perf's PERIOD ("%10"), not its PID ("%5d").
    if (parse_pid_tid(toks[i].text, pid, tid, pair) && (pair || field_width(i) < 10)) {
      h.pid = pid;
      h.tid = tid;
      strong = strong || pair;
      any = true;
      ++i;
    }
  }
  if (i < toks.size() && is_cpu(toks[i].text)) {
    h.has_time = any = true;  // "[003]" alone is no evidence: a TIME or EVENT follows in perf's
    ++i;
  }
  if (i < toks.size() && is_time(toks[i].text)) {
    h.has_time = strong = any = true;
    ++i;
  }
  if (i < toks.size() && is_side_band(toks[i].text)) {
    h.side_band = strong = true;
    h.event = toks[i].text;
    h.rest = trim(line.substr(toks[i].end));
  } else {
    std::int64_t period = 0;
    // 16 columns or more: an address ("%16lx"), not a PERIOD ("%10").
    if (i < toks.size() && field_width(i) < 16 && parse_int(toks[i].text, period)) {
      h.period = period;
      any = true;
      ++i;
    }
    if (i < toks.size() && is_event(toks[i].text)) {
      h.event = toks[i].text.substr(0, toks[i].text.size() - 1);
      strong = any = true;
      ++i;
    }
    h.rest = i < toks.size() ? trim(line.substr(toks[i].end - toks[i].text.size())) : "";
    // What follows the fields is a frame, or an event's own text (tracepoint fields). perf prints
    // a frame's address in 16 columns ("%16lx"): that keeps prose ("not a profile") out.
    if (!h.rest.empty() && h.event.empty() && (field_width(i) < 16 || !looks_like_frame(h.rest))) {
      return std::nullopt;
    }
  }
  // `-F comm,ip,sym` without callchains: "COMM ADDR SYMBOL", no field at all.
  if (relaxed && s > 0 && !h.rest.empty() && h.event.empty()) any = true;
  if (!(strong || (relaxed && any))) return std::nullopt;
  const std::size_t comm_end = s == 0 ? 0 : toks[s - 1].end;
  h.comm = trim(line.substr(0, comm_end));
  return h;
}

}  // namespace

std::optional<PerfScriptHeader> parse_perf_script_header(std::string_view line, bool relaxed) {
  if (!line.empty() && line.front() == '\t') return std::nullopt;  // a frame line
  const auto toks = tokens_of(line);
  // COMM may hold spaces and digits: the fields start at the first token from which they parse.
  for (std::size_t s = 0; s < toks.size(); ++s) {
    if (auto h = header_at(line, toks, s, relaxed)) return h;
  }
  return std::nullopt;
}

namespace {

// FlameGraph's Java tidying: "Lorg/foo/Bar;.run(I)V" -> "org/foo/Bar;.run", and perf-map-agent's
// "Lorg/foo/Bar;::method" -> "org/foo/Bar::method" (FlameGraph gives "org/foo/Bar:::method": its
// ';' -> ':' runs first; the class's ';' is its end, not a separator worth keeping). Only names
// shaped like a JVM class descriptor (L, a '/', a ';') are touched.
void tidy_java_name(std::string& name) {
  if (name.size() < 4 || name.front() != 'L') return;
  const std::size_t semi = name.find(';');
  const std::size_t slash = name.find('/');
  if (semi == std::string::npos || slash == std::string::npos || slash > semi) return;
  const std::size_t args = name.find('(', semi);
  if (args != std::string::npos) name.resize(args);
  if (name.compare(semi, 3, ";::") == 0) name.erase(semi, 1);
  name.erase(0, 1);
}

// The frame in `text`, its name written to `name` (a buffer reused across lines, so the hot path
// allocates nothing once it has grown); nullopt when `text` is not a frame. `module` (when given)
// receives a user frame's "(MODULE)", a path into `text`, empty when it names none.
std::optional<FrameKind> parse_frame(std::string_view text, std::string& name, bool tidy_java,
                                     std::string_view* module_out = nullptr) {
  text = trim(text);
  if (!looks_like_frame(text)) return std::nullopt;
  std::string_view rest = text;
  const std::string_view addr = next_token(rest);
  rest = trim(rest);
  const FrameParts parts = split_frame(rest);
  const std::string_view module = parts.module;
  const std::string_view sym = strip_offset(parts.sym);

  FrameKind kind = FrameKind::user;
  if (module == "inlined") {
    kind = FrameKind::inlined;
  } else if (profile::is_kernel_mapping_name(module) || module.starts_with("[kernel.kallsyms]") ||
             module.ends_with("/vmlinux")) {
    kind = FrameKind::kernel;  // old perfs: "[kernel.kallsyms].init.text", ".../build/vmlinux"
  } else if (profile::is_jit_mapping_name(module)) {
    kind = FrameKind::jit;
  }
  if (module_out != nullptr) {
    *module_out = kind == FrameKind::user && module != "[unknown]" ? module : std::string_view();
  }
  name.clear();
  if (rest.empty()) {
    name = "0x";  // -F ip: the address is all there is
    name += addr;
  } else if (sym.empty() || sym == "[unknown]") {
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
    if (tidy_java) tidy_java_name(name);
  }
  std::replace(name.begin(), name.end(), ';', ':');
  return kind;
}

// perf's -F +srcline line under a frame: "FILE:LINE", "??:0", "[kernel.kallsyms][ADDR]", maybe
// with " (discriminator N)". An address perf cannot place is "MODULE[ADDR]", and the module's
// name may hold spaces ("my gzip[4ce8]", "memfd:sealed-91 (deleted)[c584f]").
bool is_srcline(std::string_view text) {
  text = trim(text);
  if (const std::size_t d = text.find(" (discriminator "); d != std::string_view::npos) {
    text = text.substr(0, d);
  }
  if (text.empty() || text.find('\t') != std::string_view::npos) return false;
  if (text.back() == ']') {  // "[kernel.kallsyms][ffffffff8177d51a]", "gzip[cc5c]"
    const std::size_t open = text.rfind('[');
    if (open == std::string_view::npos) return false;
    if (open == 0) return text.find(' ') == std::string_view::npos;
    return text[open - 1] != ' ' && is_hex_token(text.substr(open + 1, text.size() - open - 2));
  }
  if (text.find(' ') != std::string_view::npos) return false;
  const std::size_t colon = text.rfind(':');  // "dl-sysdep.c:143", "??:0", ":0"
  return colon != std::string_view::npos && all_digits(text.substr(colon + 1));
}

// perf's -F +insn line after a sample's frames: " insn: e8 f8 0b 00 00" (the sampled instruction's
// bytes; none when perf could not read them).
bool is_insn_line(std::string_view text) {
  text = trim(text);
  if (!text.starts_with("insn:")) return false;
  text.remove_prefix(5);
  while (!(text = trim(text)).empty()) {
    const std::size_t end = std::min(text.find(' '), text.size());
    if (end != 2 || !is_hex_token(text.substr(0, 2))) return false;
    text.remove_prefix(end);
  }
  return true;
}

// A bare COMM (`-F comm,ip,sym` with callchains): one token or more, no frame.
bool is_bare_comm(std::string_view line) {
  return !line.empty() && !is_space(line.front()) && line.front() != '#' && !trim(line).empty();
}

// Modifiers perf appends to an event name ("cycles:u", "cpu-clock:ppp").
std::string_view event_without_modifiers(std::string_view event) {
  const std::size_t colon = event.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == event.size()) return event;
  const std::string_view mods = event.substr(colon + 1);
  const bool all_mods = std::all_of(mods.begin(), mods.end(), [](char c) {
    return std::string_view("ukhIGHpPSDWe").find(c) != std::string_view::npos;
  });
  return all_mods ? event.substr(0, colon) : event;
}

}  // namespace

PerfScriptLine classify_perf_script_line(std::string_view line) {
  const std::string_view t = trim(line);
  if (t.empty() || t.front() == '#') return PerfScriptLine::other;
  if (line.front() == '\t') {
    return looks_like_frame(t) ? PerfScriptLine::frame : PerfScriptLine::other;
  }
  // "frame;frame;... COUNT" is a folded line, whatever its frames hold: perfscope's own folded
  // output has frames such as "[unknown: process gone]", which a header's fields would match.
  if (const std::size_t gap = t.find_last_of(" \t");
      gap != std::string_view::npos && t.substr(0, gap).find(';') != std::string_view::npos) {
    const std::string_view count = t.substr(gap + 1);
    if (!count.empty() &&
        std::all_of(count.begin(), count.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return PerfScriptLine::other;
    }
  }
  if (auto h = parse_perf_script_header(line)) {
    return h->side_band ? PerfScriptLine::side_band : PerfScriptLine::header;
  }
  // Indented "ADDR SYMBOL" lines: samples without callchains under -F ip,sym.
  if (is_space(line.front()) && looks_like_frame(t)) return PerfScriptLine::frame;
  // A ';' is the folded format's separator: "main;parse 12" is a folded line.
  if (t.find(';') != std::string_view::npos) return PerfScriptLine::other;
  if (auto relaxed = parse_perf_script_header(line, true)) {
    // "COMM TID ADDR SYMBOL (MODULE)": a sample without callchain alone decides.
    return relaxed->rest.empty() ? PerfScriptLine::maybe_header : PerfScriptLine::header;
  }
  if (is_bare_comm(line)) return PerfScriptLine::maybe_header;
  return PerfScriptLine::other;
}

std::optional<PerfScriptFrame> parse_perf_script_frame(std::string_view text, bool tidy_java) {
  PerfScriptFrame f;
  auto kind = parse_frame(text, f.name, tidy_java);
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
  // Keyed by what follows the address, which alone decides name and kind; an address alone
  // (-F ip) is its own name.
  const std::string_view key = call.empty() ? text : call;
  if (hex_addr) {
    if (auto it = frame_cache_.find(key); it != frame_cache_.end()) return it->second;
  }
  std::string_view module;
  const auto kind = parse_frame(text, name_, options_.tidy_java, &module);
  if (!kind) return std::nullopt;
  if (!keep_) return FrameRef{};
  const FrameRef f{tree_.intern(name_), *kind};
  tree_.set_module(f.name, module);  // the module of a function's first frame
  if (frame_cache_.size() >= kMaxCachedFrames) frame_cache_.clear();
  frame_cache_.emplace(key, f);
  return f;
}

Error PerfScriptReader::error(std::string reason) const {
  return Error{fmt::format("{}:{}: {}", source_, line_, reason), 0,
               "  expected the output of `perf script`: a sample header line\n"
               "  ('COMM PID [CPU] TIME: PERIOD EVENT:', or the fields -F chose), then with\n"
               "  callchains one tab-indented 'ADDR SYMBOL+0xOFF (MODULE)' line per frame, and a\n"
               "  blank line between samples"};
}

void PerfScriptReader::end_sample() {
  if (!in_sample_) return;
  in_sample_ = false;
  if (!keep_) return;
  std::uint32_t n = StackTree::kRoot;
  if (options_.include_comm && comms_ == 1) n = tree_.child(n, {comm_, FrameKind::user});
  for (auto it = frames_.rbegin(); it != frames_.rend(); ++it) n = tree_.child(n, *it);
  if (n == StackTree::kRoot) n = tree_.child(n, {tree_.intern("[unknown]"), FrameKind::user});
  if (weight_ > std::numeric_limits<std::int64_t>::max() - tree_.total()) return;
  tree_.add_count(n, weight_);
  if (samples_at_.size() <= n) samples_at_.resize(std::max<std::size_t>(n + 1, tree_.size()), 0);
  ++samples_at_[n];
}

Status PerfScriptReader::begin_sample(const PerfScriptHeader* h) {
  end_sample();
  in_sample_ = true;
  has_header_ = h != nullptr;
  frame_in_header_ = false;
  has_callchain_ = false;
  ++samples_;
  frames_.clear();
  const std::string_view comm = h ? h->comm : std::string_view();
  const std::int64_t pid = h ? h->pid : -1;
  const std::string_view event = h ? h->event : std::string_view();
  keep_ =
      (options_.comm.empty() || comm == options_.comm) &&
      (options_.pids.empty() || (pid >= 0 && std::find(options_.pids.begin(), options_.pids.end(),
                                                       pid) != options_.pids.end()));
  // One event only: periods of cycles and of instructions cannot be added.
  if (!event.empty()) {
    if (event_.empty()) event_ = event;
    if (event != event_) {
      auto it = std::find_if(skipped_events_.begin(), skipped_events_.end(),
                             [&](const auto& e) { return e.first == event; });
      if (it == skipped_events_.end()) it = skipped_events_.insert(it, {std::string(event), 0});
      ++it->second;
      keep_ = false;
    }
  }
  if (!keep_) return {};
  if (comms_ < 0) comms_ = comm.empty() ? 0 : 1;
  comm_ = tree_.intern(comm.empty() ? std::string_view("[unknown]") : comm);
  const std::optional<std::int64_t> period = h ? h->period : std::nullopt;
  if (period) {
    ++with_period_;
  } else {
    ++without_period_;
  }
  weight_ = options_.weight_by_period && period ? *period : 1;
  if (h && !h->rest.empty()) {
    if (auto f = frame(h->rest)) {
      frames_.push_back(*f);
      frame_in_header_ = true;
    }
  }
  return {};
}

void PerfScriptReader::add_frame(FrameRef f) {
  if (keep_) frames_.push_back(f);
  if (!has_callchain_) ++callchains_;
  has_callchain_ = true;
}

Status PerfScriptReader::add_line(std::string_view line) {
  ++line_;
  if (line.find('\0') != std::string_view::npos) {
    return error("the line holds a NUL byte: this is binary data, not perf script text");
  }
  const std::string_view trimmed = trim(line);
  const bool tab = !line.empty() && line.front() == '\t';
  if (weak_header_line_ != 0 && !(tab && looks_like_frame(trimmed))) {
    line_ = weak_header_line_;
    return error(fmt::format("'{}' is not a sample header", weak_header_.substr(0, 80)));
  }
  const bool after_blank = prev_blank_;
  prev_blank_ = trimmed.empty();
  if (trimmed.empty()) {
    end_sample();
    return {};
  }
  if (trimmed.front() == '#') return {};  // perf script --header, comments

  if (tab) {
    // perf's callchain frame; with -F ip,sym the header line before it was empty.
    // Every frame of one `perf script` run has a "(MODULE)" or none (-F without dso): a frame
    // without one among frames with one is a line cut short.
    const bool module = trimmed.back() == ')';
    if (frames_with_module_ && !module) {
      return error("the frame line has no '(MODULE)' at its end: was the output cut short?");
    }
    if (auto f = frame(trimmed)) {
      frames_with_module_ = frames_with_module_ || module;
      weak_header_line_ = 0;
      if (!in_sample_) {
        // -F ip,sym: the header before the frames is an empty line.
        if (!after_blank) {
          return error(
              fmt::format("'{}' is an indented line outside a sample", trimmed.substr(0, 80)));
        }
        if (auto st = begin_sample(nullptr); !st) return st;
      }
      add_frame(*f);
      return {};
    }
    if (in_sample_ && is_srcline(trimmed)) return {};
    if (trimmed.back() != ')' && trimmed.find(" (") != std::string_view::npos) {
      return error("the frame line has no '(MODULE)' at its end: was the output cut short?");
    }
    return error(fmt::format("'{}' is neither a frame nor a sample header", trimmed.substr(0, 80)));
  }

  if (in_sample_ && is_insn_line(trimmed)) return {};
  if (auto h = parse_perf_script_header(line)) {
    if (h->side_band) {
      end_sample();  // PERF_RECORD_MMAP2 and the like: not samples
      return {};
    }
    return begin_sample(&*h);
  }
  // "TID ADDR SYMBOL", or a lone TID or PERIOD heading a callchain (perf prints an address alone,
  // -F ip, in 16 columns: no field takes that).
  if (auto relaxed = parse_perf_script_header(line, true)) return begin_sample(&*relaxed);
  if (auto f = frame(trimmed)) {
    // Old layouts indent frames with spaces, or not at all; without callchains (-F ip,sym) each
    // such line is a sample of its own.
    if (!in_sample_ || !has_header_ || frame_in_header_) {
      if (auto st = begin_sample(nullptr); !st) return st;
    }
    add_frame(*f);
    return {};
  }
  if (in_sample_ && is_srcline(trimmed)) return {};
  if (!in_sample_ && is_bare_comm(line) && trimmed.find_first_of(" \t") == std::string_view::npos) {
    // `-F comm,ip,sym`: the COMM alone, if frames follow.
    PerfScriptHeader h;
    h.comm = trimmed;
    if (auto st = begin_sample(&h); !st) return st;
    weak_header_line_ = line_;
    weak_header_ = trimmed;
    return {};
  }
  if (is_space(line.front())) {
    if (!in_sample_) {
      return error(fmt::format("'{}' is an indented line outside a sample", trimmed.substr(0, 80)));
    }
    return error(fmt::format("'{}' is neither a frame nor a sample header", trimmed.substr(0, 80)));
  }
  return error(fmt::format("'{}' is not a sample header", trimmed.substr(0, 80)));
}

Status PerfScriptReader::finish() {
  if (weak_header_line_ != 0) {
    line_ = weak_header_line_;
    return error(fmt::format("'{}' is not a sample header", weak_header_.substr(0, 80)));
  }
  end_sample();
  if (samples_ == 0) {
    return Error{fmt::format("{}: no samples in the perf script output", source_), 0,
                 "  was `perf record` run, and did it capture samples? try `perf report`"};
  }
  return {};
}

std::vector<std::string> PerfScriptReader::notes() const {
  std::vector<std::string> out;
  if (options_.weight_by_period && without_period_ > 0) {
    out.push_back(
        with_period_ == 0
            ? fmt::format("{}: the perf script output has no sample periods, so each sample "
                          "counts 1 (perf report weighs samples by period: print it with "
                          "`perf script -F +period`)",
                          source_)
            : fmt::format("{}: {} of {} samples have no period and count 1 each", source_,
                          without_period_, without_period_ + with_period_));
  }
  for (const auto& [event, n] : skipped_events_) {
    out.push_back(fmt::format(
        "{}: read the samples of {} only, the first event; {} samples of {} were skipped (their "
        "periods do not add up with {}'s: give each event its own `perf script --event`)",
        source_, event_, n, event, event_));
  }
  return out;
}

TreeProfileOptions PerfScriptReader::profile_options() const {
  TreeProfileOptions o{.roots_are_comm = options_.include_comm && comms_ == 1};
  if (!options_.weight_by_period || with_period_ == 0) return o;
  const std::string_view event = event_without_modifiers(event_);
  if (event == "cpu-clock" || event == "task-clock") {
    o.value_type = "cpu";
    o.value_unit = "nanoseconds";
  } else {
    o.value_type = event.empty() ? std::string("period") : std::string(event);
    o.value_unit = "count";
  }
  o.samples_per_node = samples_at_;
  return o;
}

Status PerfScriptReader::add_text(std::string_view text) {
  LineSplitter lines;
  auto on_line = [this](std::string_view l) { return add_line(l); };
  if (auto st = lines.feed(text, on_line); !st) return st;
  if (auto st = lines.finish(on_line); !st) return st;
  return finish();
}

}  // namespace perfscope::formats
