#include "formats/speedscope_reader.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <iterator>
#include <limits>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "formats/stack_profile.hpp"
#include "output/speedscope.hpp"
#include "profile/checked_math.hpp"
#include "profile/names.hpp"

namespace perfscope::formats {

using profile::Profile;

namespace {

// A pull parser over JSON text: the speedscope reader walks the structure it expects and skips
// everything else. Containers the reader does not know are skipped with an explicit stack, so
// nesting depth costs memory, not call stack.
class JsonCursor {
 public:
  JsonCursor(std::string_view text, const std::string& source) : text_(text), source_(source) {
    if (text_.starts_with("\xef\xbb\xbf")) pos_ = 3;
  }

  // "SOURCE:LINE:COLUMN: what" at the current position.
  Error error(std::string what, std::string hint = {}) const {
    std::size_t line = 1, column = 1;
    for (std::size_t i = 0; i < pos_ && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    return Error{fmt::format("{}:{}:{}: {}", source_, line, column, what), 0, std::move(hint)};
  }

  // "expected WHAT", or at the end of the text, that the file was cut short.
  Error expected(std::string_view what) {
    if (at_end()) {
      return error(fmt::format("the file ends where {} was expected", what), kCutHint);
    }
    return error(fmt::format("expected {}", what));
  }

  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' ||
                                   text_[pos_] == '\r' || text_[pos_] == '\t')) {
      ++pos_;
    }
  }
  bool at_end() {
    skip_space();
    return pos_ >= text_.size();
  }
  // The next character after white space, or '\0' at the end.
  char peek() {
    skip_space();
    return pos_ < text_.size() ? text_[pos_] : '\0';
  }

  Status expect(char c) {
    if (peek() != c) {
      if (pos_ >= text_.size())
        return error(fmt::format("the file ends where '{}' was expected", c), kCutHint);
      return error(fmt::format("expected '{}'", c));
    }
    ++pos_;
    return {};
  }

  Result<std::string> string() {
    if (auto st = expect('"'); !st) return std::move(st).take_error();
    std::string out;
    while (true) {
      if (pos_ >= text_.size()) return error("the file ends inside a string", kCutHint);
      const char c = text_[pos_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) {
        --pos_;
        return error("a control character inside a string (JSON needs it escaped)");
      }
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= text_.size()) return error("the file ends inside a string", kCutHint);
      const char e = text_[pos_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out += e;
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          auto cp = hex4();
          if (!cp) return cp.error();
          std::uint32_t code = *cp;
          if (code >= 0xd800 && code < 0xdc00 && text_.substr(pos_, 2) == "\\u") {
            pos_ += 2;
            auto low = hex4();
            if (!low) return low.error();
            if (*low >= 0xdc00 && *low < 0xe000) {
              code = 0x10000 + ((code - 0xd800) << 10) + (*low - 0xdc00);
            } else {
              append_utf8(out, 0xfffd);
              code = *low;
            }
          }
          if (code >= 0xd800 && code < 0xe000) code = 0xfffd;  // a lone surrogate
          append_utf8(out, code);
          break;
        }
        default:
          pos_ -= 2;
          return error(fmt::format("unknown escape '\\{}' in a string", e));
      }
    }
  }

  Result<double> number() {
    skip_space();
    const std::size_t start = pos_;
    auto digits = [&] {
      const std::size_t from = pos_;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
      return pos_ > from;
    };
    if (pos_ < text_.size() && text_[pos_] == '-') ++pos_;
    bool ok = digits();
    if (ok && pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      ok = digits();
    }
    if (ok && pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      ok = digits();
    }
    if (!ok) {
      pos_ = start;
      if (start >= text_.size())
        return error("the file ends where a number was expected", kCutHint);
      return error("expected a number");
    }
    double v = 0;
    const auto [end, ec] = std::from_chars(text_.data() + start, text_.data() + pos_, v);
    if (ec != std::errc() || end != text_.data() + pos_ || !std::isfinite(v)) {
      pos_ = start;
      return error("a number out of range");
    }
    return v;
  }

  // Any one value, checked for well-formedness and dropped.
  Status skip() {
    std::string closers;  // '}' or ']' for each container being skipped
    while (true) {
      // One value (or the start of a container).
      const char c = peek();
      if (c == '{' || c == '[') {
        ++pos_;
        const char close = c == '{' ? '}' : ']';
        if (peek() == close) {
          ++pos_;
        } else {
          closers += close;
          if (close == '}') {
            if (auto st = member_name(); !st) return st;
          }
          continue;
        }
      } else if (c == '"') {
        if (auto s = string(); !s) return s.error();
      } else if (c == 't' || c == 'f' || c == 'n') {
        if (auto st = literal(); !st) return st;
      } else if (c == '-' || (c >= '0' && c <= '9')) {
        if (auto n = number(); !n) return n.error();
      } else if (c == '\0') {
        return error("the file ends where a value was expected", kCutHint);
      } else {
        return error(fmt::format("unexpected '{}' where a value was expected", c));
      }
      // After a complete value: close containers until one continues with ','.
      while (true) {
        if (closers.empty()) return {};
        const char next = peek();
        if (next == closers.back()) {
          ++pos_;
          closers.pop_back();
          continue;
        }
        if (next == ',') {
          ++pos_;
          if (closers.back() == '}') {
            if (auto st = member_name(); !st) return st;
          }
          break;
        }
        return after_value_error(closers.back());
      }
    }
  }

  // {"key": value, ...}: on_member(key) reads (or skips) each value.
  template <typename OnMember>
  Status object(OnMember&& on_member) {
    if (peek() != '{') return expected("an object ('{')");
    ++pos_;
    if (peek() == '}') {
      ++pos_;
      return {};
    }
    while (true) {
      if (peek() != '"') return expected("a member name in double quotes");
      auto key = string();
      if (!key) return key.error();
      if (auto st = expect(':'); !st) return st;
      if (auto st = on_member(*key); !st) return st;
      const char next = peek();
      if (next == ',') {
        ++pos_;
        continue;
      }
      if (next == '}') {
        ++pos_;
        return {};
      }
      return after_value_error('}');
    }
  }

  // [value, ...]: on_item(index) reads each value.
  template <typename OnItem>
  Status array(OnItem&& on_item) {
    if (peek() != '[') return expected("an array ('[')");
    ++pos_;
    if (peek() == ']') {
      ++pos_;
      return {};
    }
    for (std::size_t i = 0;; ++i) {
      if (auto st = on_item(i); !st) return st;
      const char next = peek();
      if (next == ',') {
        ++pos_;
        continue;
      }
      if (next == ']') {
        ++pos_;
        return {};
      }
      return after_value_error(']');
    }
  }

 private:
  static constexpr const char* kCutHint = "  the file was cut short or is not complete JSON";

  Result<std::uint32_t> hex4() {
    std::uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      if (pos_ >= text_.size()) return error("the file ends inside a string", kCutHint);
      const char h = text_[pos_];
      int d = -1;
      if (h >= '0' && h <= '9') d = h - '0';
      if (h >= 'a' && h <= 'f') d = h - 'a' + 10;
      if (h >= 'A' && h <= 'F') d = h - 'A' + 10;
      if (d < 0) return error("expected 4 hex digits after '\\u'");
      v = v * 16 + static_cast<std::uint32_t>(d);
      ++pos_;
    }
    return v;
  }

  static void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xc0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xe0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      out += static_cast<char>(0xf0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    }
  }

  Status literal() {
    for (std::string_view word : {"true", "false", "null"}) {
      if (text_.substr(pos_, word.size()) == word) {
        pos_ += word.size();
        return {};
      }
    }
    return error("unexpected word where a value was expected");
  }

  Status member_name() {
    if (peek() != '"') return expected("a member name in double quotes");
    if (auto key = string(); !key) return key.error();
    return expect(':');
  }

  Error after_value_error(char close) {
    if (at_end()) return error("the file ends inside an object or array", kCutHint);
    return error(fmt::format("expected ',' or '{}'", close));
  }

  std::string_view text_;
  const std::string& source_;
  std::size_t pos_ = 0;
};

struct RawFrame {
  std::string name;
  std::string file;
  std::int64_t line = 0;
};

struct RawEvent {
  bool open = true;
  double at = 0;
  std::uint32_t frame = 0;
};

struct RawProfile {
  std::string type, name, unit = "none";
  double start = 0, end = 0;
  bool has_samples = false, has_weights = false, has_events = false;
  std::vector<std::uint32_t> frames;    // every sample's frame indexes, root first, concatenated
  std::vector<std::size_t> offsets{0};  // sample i is frames[offsets[i], offsets[i + 1])
  std::vector<double> weights;
  std::vector<RawEvent> events;
};

// The profile's position for errors: "profile 2 ('MainThread')".
std::string profile_label(std::size_t index, const RawProfile& rp) {
  return rp.name.empty() ? fmt::format("profile {}", index + 1)
                         : fmt::format("profile {} ('{}')", index + 1, profile::printable(rp.name));
}

// A frame index: a whole number, checked against the frame count once the frames are known.
Result<std::uint32_t> read_index(JsonCursor& j, const char* what) {
  auto v = j.number();
  if (!v) return v.error();
  if (*v < 0 || *v != std::floor(*v) || *v > 4e9) {
    return j.error(fmt::format("{} {} is not a frame index (a whole number from 0)", what, *v));
  }
  return static_cast<std::uint32_t>(*v);
}

Result<std::string> read_string(JsonCursor& j, std::string_view key) {
  if (j.at_end()) return j.expected("a string");
  if (j.peek() != '"') return j.error(fmt::format("\"{}\" must be a string", key));
  return j.string();
}

Result<double> read_number(JsonCursor& j, std::string_view key) {
  const char c = j.peek();
  if (j.at_end()) return j.expected("a number");
  if (c != '-' && (c < '0' || c > '9')) return j.error(fmt::format("\"{}\" must be a number", key));
  return j.number();
}

Status read_frame(JsonCursor& j, std::vector<RawFrame>& frames) {
  RawFrame f;
  bool named = false;
  auto st = j.object([&](const std::string& key) -> Status {
    if (key == "name") {
      auto s = read_string(j, key);
      if (!s) return s.error();
      f.name = std::move(*s);
      named = true;
      return {};
    }
    if (key == "file") {
      if (j.peek() == 'n') return j.skip();  // null
      auto s = read_string(j, key);
      if (!s) return s.error();
      f.file = std::move(*s);
      return {};
    }
    if (key == "line") {
      if (j.peek() == 'n') return j.skip();
      auto n = read_number(j, key);
      if (!n) return n.error();
      if (*n >= 1 && *n < 1e15) f.line = static_cast<std::int64_t>(*n);
      return {};
    }
    return j.skip();
  });
  if (!st) return st;
  if (!named) return j.error(fmt::format("frame {} has no \"name\"", frames.size()));
  frames.push_back(std::move(f));
  return {};
}

Status read_event(JsonCursor& j, RawProfile& rp) {
  RawEvent e;
  bool typed = false, timed = false, framed = false;
  auto st = j.object([&](const std::string& key) -> Status {
    if (key == "type") {
      auto s = read_string(j, key);
      if (!s) return s.error();
      if (*s != "O" && *s != "C") {
        return j.error(fmt::format("event type '{}' is neither \"O\" (open) nor \"C\" (close)",
                                   profile::printable(*s)));
      }
      e.open = *s == "O";
      typed = true;
      return {};
    }
    if (key == "at") {
      auto n = read_number(j, key);
      if (!n) return n.error();
      e.at = *n;
      timed = true;
      return {};
    }
    if (key == "frame") {
      auto i = read_index(j, "event frame");
      if (!i) return i.error();
      e.frame = *i;
      framed = true;
      return {};
    }
    return j.skip();
  });
  if (!st) return st;
  if (!typed || !timed || !framed) {
    return j.error(fmt::format("event {} needs \"type\", \"at\" and \"frame\"", rp.events.size()));
  }
  rp.events.push_back(e);
  return {};
}

Status read_profile(JsonCursor& j, std::vector<RawProfile>& profiles) {
  RawProfile rp;
  auto st = j.object([&](const std::string& key) -> Status {
    if (key == "type" || key == "name" || key == "unit") {
      auto s = read_string(j, key);
      if (!s) return s.error();
      (key == "type" ? rp.type : key == "name" ? rp.name : rp.unit) = std::move(*s);
      return {};
    }
    if (key == "startValue" || key == "endValue") {
      auto n = read_number(j, key);
      if (!n) return n.error();
      (key == "startValue" ? rp.start : rp.end) = *n;
      return {};
    }
    if (key == "samples") {
      rp.has_samples = true;
      return j.array([&](std::size_t) -> Status {
        if (j.peek() != '[') return j.error("a sample must be an array of frame indexes");
        auto inner = j.array([&](std::size_t) -> Status {
          auto i = read_index(j, "sample frame");
          if (!i) return i.error();
          rp.frames.push_back(*i);
          return {};
        });
        if (!inner) return inner;
        rp.offsets.push_back(rp.frames.size());
        return {};
      });
    }
    if (key == "weights") {
      rp.has_weights = true;
      return j.array([&](std::size_t) -> Status {
        auto n = read_number(j, "weights");
        if (!n) return n.error();
        if (*n < 0) return j.error(fmt::format("weight {} is negative", *n));
        rp.weights.push_back(*n);
        return {};
      });
    }
    if (key == "events") {
      rp.has_events = true;
      return j.array([&](std::size_t) { return read_event(j, rp); });
    }
    return j.skip();
  });
  if (!st) return st;
  profiles.push_back(std::move(rp));
  return {};
}

// The most frames an evented profile's stacks may hold together (8 bytes each, once in the builder
// or a sample): far beyond real traces, well within a small machine.
constexpr std::uint64_t kMaxEventedFrames = std::uint64_t{1} << 24;

// Nanoseconds per unit for time units; 1 for the rest.
double unit_scale(std::string_view unit) {
  if (unit == "seconds") return 1e9;
  if (unit == "milliseconds") return 1e6;
  if (unit == "microseconds") return 1e3;
  return 1;
}

Status check_profile(std::size_t index, const RawProfile& rp, std::size_t frames) {
  const std::string label = profile_label(index, rp);
  if (rp.type == "sampled") {
    if (!rp.has_samples || !rp.has_weights) {
      return Error{fmt::format("{} is \"sampled\" but lacks \"samples\" or \"weights\"", label), 0,
                   "  a sampled profile needs both arrays, of the same length"};
    }
    if (rp.weights.size() != rp.offsets.size() - 1) {
      return Error{fmt::format("{} has {} samples but {} weights", label, rp.offsets.size() - 1,
                               rp.weights.size()),
                   0, "  each sample needs one weight; the file is damaged"};
    }
    for (std::uint32_t f : rp.frames) {
      if (f >= frames) {
        return Error{
            fmt::format("{} refers to frame {}, but shared.frames has {}", label, f, frames), 0,
            "  the file is damaged or its frames are missing"};
      }
    }
    return {};
  }
  if (rp.type == "evented") {
    if (!rp.has_events) {
      return Error{fmt::format("{} is \"evented\" but has no \"events\"", label), 0, {}};
    }
    for (const RawEvent& e : rp.events) {
      if (e.frame >= frames) {
        return Error{fmt::format("{} has an event for frame {}, but shared.frames has {}", label,
                                 e.frame, frames),
                     0, "  the file is damaged or its frames are missing"};
      }
    }
    return {};
  }
  return Error{fmt::format("{} has type '{}'", label, profile::printable(rp.type)), 0,
               "  perfscope reads speedscope profiles of type \"sampled\" and \"evented\""};
}

}  // namespace

Result<Profile> parse_speedscope(std::string_view text, const std::string& source) {
  JsonCursor j(text, source);
  std::vector<RawFrame> frames;
  std::vector<RawProfile> profiles;
  bool has_profiles = false;
  if (j.peek() != '{') {
    return Error{
        source + " is not a speedscope file (it does not start with '{')", 0,
        "  give a speedscope JSON file, a pprof profile, folded stacks or perf script text"};
  }
  auto st = j.object([&](const std::string& key) -> Status {
    if (key == "shared") {
      return j.object([&](const std::string& shared_key) -> Status {
        if (shared_key != "frames") return j.skip();
        return j.array([&](std::size_t) { return read_frame(j, frames); });
      });
    }
    if (key == "profiles") {
      has_profiles = true;
      return j.array([&](std::size_t) { return read_profile(j, profiles); });
    }
    return j.skip();
  });
  if (!st) return std::move(st).take_error();
  if (!j.at_end()) return j.error("unexpected text after the end of the JSON object");
  if (!has_profiles) {
    return Error{source + " is JSON but not a speedscope file: it has no \"profiles\"", 0,
                 fmt::format("  perfscope reads speedscope's format ({}), pprof profiles, folded "
                             "stacks and perf script text",
                             output::kSpeedscopeSchema)};
  }
  if (profiles.empty()) return Error{source + " holds no profiles (\"profiles\" is empty)", 0, {}};
  std::string unit;
  for (std::size_t i = 0; i < profiles.size(); ++i) {
    const RawProfile& rp = profiles[i];
    if (auto ok = check_profile(i, rp, frames.size()); !ok) {
      Error e = std::move(ok).take_error();
      e.op = source + ": " + e.op;
      return e;
    }
    static constexpr std::string_view kUnits[] = {"none",         "nanoseconds", "microseconds",
                                                  "milliseconds", "seconds",     "bytes"};
    if (std::find(std::begin(kUnits), std::end(kUnits), rp.unit) == std::end(kUnits)) {
      return Error{fmt::format("{}: {} has unit '{}'", source, profile_label(i, rp),
                               profile::printable(rp.unit)),
                   0,
                   "  speedscope's units are none, nanoseconds, microseconds, milliseconds, "
                   "seconds and bytes"};
    }
    auto dimension = [](std::string_view u) { return u == "none" ? 0 : u == "bytes" ? 2 : 1; };
    if (i == 0) {
      unit = rp.unit;
    } else if (dimension(unit) != dimension(rp.unit)) {
      return Error{fmt::format("{}: {} counts in {}, but profile 1 in {}", source,
                               profile_label(i, rp), rp.unit, unit),
                   0, "  perfscope keeps one kind of value per profile; split the file"};
    }
  }

  Profile p;
  const int dim = unit == "none" ? 0 : unit == "bytes" ? 2 : 1;
  if (dim == 0) p.sample_types = {{p.intern("samples"), p.intern("count")}};
  if (dim == 1) p.sample_types = {{p.intern("time"), p.intern("nanoseconds")}};
  if (dim == 2) p.sample_types = {{p.intern("space"), p.intern("bytes")}};

  StackProfileBuilder builder(p);
  // Locations by frame index, made when first used.
  std::vector<std::uint64_t> location_of(frames.size(), 0);
  auto location = [&](std::uint32_t index) {
    std::uint64_t& id = location_of[index];
    if (id != 0) return id;
    const RawFrame& f = frames[index];
    const bool mapped = output::speedscope_file_names_a_mapping(f.file);
    const std::uint64_t fn =
        p.add_function(f.name, {}, mapped ? std::string_view{} : f.file, f.line);
    id = builder.location({fn}, mapped ? builder.mapping(f.file) : 0);
    return id;
  };
  // An amount in the file's unit as a whole number of the profile's unit. 2^63 is INT64_MAX as a
  // double (our own writer's saturated sums read back as that) and saturates; more is an error.
  // Sums of accepted amounts saturate at INT64_MAX too (profile/checked_math.hpp).
  auto scaled_weight = [&](double amount, double scale) -> Result<std::int64_t> {
    constexpr double kTwoTo63 = 9223372036854775808.0;
    const double scaled = std::round(amount * scale);
    if (!(scaled <= kTwoTo63)) {
      return Error{fmt::format("{}: a weight of {} {} is too large", source, amount, unit), 0, {}};
    }
    return scaled == kTwoTo63 ? std::numeric_limits<std::int64_t>::max()
                              : static_cast<std::int64_t>(scaled);
  };
  std::vector<std::uint64_t> stack;  // leaf first

  for (std::size_t i = 0; i < profiles.size(); ++i) {
    const RawProfile& rp = profiles[i];
    const double scale = unit_scale(rp.unit);
    const profile::StringId comm = profiles.size() > 1
                                       ? p.intern(rp.name.empty() ? fmt::format("profile {}", i + 1)
                                                                  : profile::printable(rp.name))
                                       : 0;
    if (rp.type == "sampled") {
      for (std::size_t s = 0; s + 1 < rp.offsets.size(); ++s) {
        if (rp.offsets[s] == rp.offsets[s + 1]) continue;  // an empty stack has nowhere to go
        auto w = scaled_weight(rp.weights[s], scale);
        if (!w) return w.error();
        stack.clear();
        for (std::size_t f = rp.offsets[s + 1]; f != rp.offsets[s];) {
          stack.push_back(location(rp.frames[--f]));
        }
        builder.add(comm, stack, *w);
      }
      continue;
    }
    // Evented: the time between two events belongs to the stack open between them. The open stack
    // is one node of a tree of call paths, so an event costs the same at any depth (copying the
    // open stack per event was quadratic in the nesting); each path sums its time, and becomes one
    // sample at the end.
    struct Path {
      std::uint32_t parent = 0, frame = 0, depth = 0;
      std::int64_t weight = 0;
    };
    std::vector<Path> paths(1);                                 // paths[0]: nothing open
    std::unordered_map<std::uint64_t, std::uint32_t> child_of;  // parent << 32 | frame -> path
    std::uint32_t open = 0;
    double last = rp.events.empty() ? 0 : rp.events.front().at;
    auto spend = [&](double amount) -> Status {
      if (open == 0 || amount <= 0) return {};
      auto w = scaled_weight(amount, scale);
      if (!w) return w.error();
      profile::add_saturating(paths[open].weight, *w);
      return {};
    };
    for (std::size_t e = 0; e < rp.events.size(); ++e) {
      const RawEvent& ev = rp.events[e];
      if (ev.at < last) {
        return Error{fmt::format("{}: {} event {} is at {}, before the event ahead of it ({})",
                                 source, profile_label(i, rp), e, ev.at, last),
                     0, "  events must be sorted by time"};
      }
      if (auto ok = spend(ev.at - last); !ok) return std::move(ok).take_error();
      last = ev.at;
      if (ev.open) {
        const std::uint64_t key = (std::uint64_t{open} << 32) | ev.frame;
        auto [it, inserted] = child_of.try_emplace(key, static_cast<std::uint32_t>(paths.size()));
        if (inserted)
          paths.push_back({.parent = open, .frame = ev.frame, .depth = paths[open].depth + 1});
        open = it->second;
      } else if (open == 0 || paths[open].frame != ev.frame) {
        return Error{fmt::format("{}: {} event {} closes frame {}, which is not the innermost open "
                                 "frame",
                                 source, profile_label(i, rp), e, ev.frame),
                     0, "  every \"C\" event must close the frame of the last \"O\" still open"};
      } else {
        open = paths[open].parent;
      }
    }
    if (rp.end > last) {
      if (auto ok = spend(rp.end - last); !ok) return std::move(ok).take_error();
    }
    // Every path with time is a whole stack in the profile: bound their total length, which can
    // grow with the square of the nesting (20,000 nested opens: 200 million frames).
    std::uint64_t frames_total = 0;
    for (const Path& path : paths) {
      if (path.weight != 0) frames_total += path.depth;
    }
    if (frames_total > kMaxEventedFrames) {
      return Error{fmt::format("{}: {} nests frames so deeply that its stacks would hold {} "
                               "frames (more than {})",
                               source, profile_label(i, rp), frames_total, kMaxEventedFrames),
                   0, "  the file is damaged or made up; a real trace this deep needs to be cut"};
    }
    for (const Path& path : paths) {
      if (path.weight == 0) continue;
      stack.clear();
      for (const Path* at = &path; at->depth != 0; at = &paths[at->parent]) {
        stack.push_back(location(at->frame));
      }
      builder.add(comm, stack, path.weight);
    }
  }
  builder.finish(p.sample_types.size());
  return p;
}

}  // namespace perfscope::formats
