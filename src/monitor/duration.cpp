#include "monitor/duration.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <cstdint>

namespace perfscope::monitor {
namespace {

constexpr const char* kForm =
    "  write a number and a unit: \"1s\", \"500ms\", \"1m 30s\" (units: ns, us, ms, s, m, h)";

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '\xc2' || c == '\xb5';
}

// Nanoseconds per unit; 0 when unknown.
double unit_ns(std::string_view u) {
  if (u == "ns" || u == "nsec") return 1;
  if (u == "us" || u == "usec" || u == "\xc2\xb5s") return 1e3;
  if (u == "ms" || u == "msec") return 1e6;
  if (u == "s" || u == "sec" || u == "secs") return 1e9;
  if (u == "m" || u == "min" || u == "mins") return 60e9;
  if (u == "h" || u == "hr" || u == "hour" || u == "hours") return 3600e9;
  return 0;
}

}  // namespace

Result<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  auto fail = [&](const std::string& why) {
    const std::string_view shown = text.size() > 40 ? text.substr(0, 32) : text;
    return Error{fmt::format("invalid duration \"{}{}\": {}", shown,
                             shown.size() < text.size() ? "..." : "", why),
                 0, kForm};
  };
  std::size_t i = 0;
  auto skip_space = [&] {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
  };
  skip_space();
  if (i < text.size() && text[i] == '-') return fail("a duration cannot be negative");
  if (i < text.size() && text[i] == '+') ++i;
  double total = 0;
  bool any = false;
  while (true) {
    skip_space();
    if (i == text.size()) break;
    const std::size_t num_start = i;
    while (i < text.size() && (is_digit(text[i]) || text[i] == '.')) ++i;
    const std::string number(text.substr(num_start, i - num_start));
    if (number.empty() || number == "." || number.find('.') != number.rfind('.')) {
      return fail(i < text.size() && text[i] == '-' ? "a duration cannot be negative"
                                                    : "expected a number");
    }
    skip_space();
    const std::size_t unit_start = i;
    while (i < text.size() && is_alpha(text[i])) ++i;
    const std::string_view unit = text.substr(unit_start, i - unit_start);
    if (unit.empty()) return fail(fmt::format("\"{}\" has no unit", number));
    const double per = unit_ns(unit);
    if (per == 0) return fail(fmt::format("unknown unit \"{}\"", unit));
    // from_chars, not stod: a number too large for a double (400 digits) is an error, not an
    // exception.
    double value = 0;
    const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
    if (ec != std::errc() || end != number.data() + number.size() || !std::isfinite(value)) {
      return fail("the number is out of range");
    }
    total += value * per;
    any = true;
  }
  if (!any) return fail("it is empty");
  if (total > 9.2e18) return fail("it is too long");
  return std::chrono::nanoseconds(static_cast<std::int64_t>(std::llround(total)));
}

Result<std::chrono::nanoseconds> parse_setting(std::string_view text, bool interval) {
  auto d = parse_duration(text);
  if (!d) return d;
  if (d->count() == 0) {
    return Error{"a duration of zero is not allowed", 0,
                 "  use a positive duration such as \"1s\""};
  }
  if (interval && *d < kMinPollInterval) {
    return Error{fmt::format("{} is shorter than the shortest interval, {}", format_duration(*d),
                             format_duration(kMinPollInterval)),
                 0, "  use \"10ms\" or more"};
  }
  return d;
}

std::string format_duration(std::chrono::nanoseconds d) {
  std::int64_t ns = d.count();
  if (ns == 0) return "0s";
  if (ns % 1'000'000'000 != 0) {
    if (ns % 1'000'000 == 0) return fmt::format("{}ms", ns / 1'000'000);
    if (ns % 1'000 == 0) return fmt::format("{}us", ns / 1'000);
    return fmt::format("{}ns", ns);
  }
  std::int64_t s = ns / 1'000'000'000;
  std::string out;
  if (s >= 3600) {
    out += fmt::format("{}h", s / 3600);
    s %= 3600;
  }
  if (s >= 60) {
    out += fmt::format("{}m", s / 60);
    s %= 60;
  }
  if (s > 0) out += fmt::format("{}s", s);
  return out;
}

}  // namespace perfscope::monitor
