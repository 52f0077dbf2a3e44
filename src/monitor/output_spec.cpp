#include "monitor/output_spec.hpp"

#include <fmt/format.h>

#include <charconv>

namespace perfscope::monitor {
namespace {
constexpr const char* kForms =
    "  outputs are csv:FILE, jsonl:FILE (- for standard output) and prometheus:[ADDR:]PORT, e.g. "
    "--output csv:counts.csv --output prometheus:127.0.0.1:9464";
}

Result<OutputSpec> parse_output_spec(std::string_view text) {
  OutputSpec spec;
  spec.text = std::string(text);
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) {
    return Error{fmt::format("output \"{}\" has no kind", text), 0, kForms};
  }
  const std::string_view kind = text.substr(0, colon);
  const std::string_view rest = text.substr(colon + 1);
  if (kind == "csv" || kind == "jsonl") {
    spec.kind = kind == "csv" ? OutputSpec::Kind::csv : OutputSpec::Kind::jsonl;
    if (rest.empty()) return Error{fmt::format("output \"{}\" names no file", text), 0, kForms};
    spec.path = std::string(rest);
    return spec;
  }
  if (kind != "prometheus") {
    return Error{fmt::format("unknown output kind \"{}\" in \"{}\"", kind, text), 0, kForms};
  }
  std::string_view address = "127.0.0.1";
  std::string_view port = rest;
  if (!rest.empty() && rest.front() == '[') {  // [::1]:9464
    const auto close = rest.find("]:");
    if (close == std::string_view::npos) {
      return Error{fmt::format("output \"{}\": an IPv6 address is written [ADDR]:PORT", text), 0,
                   kForms};
    }
    address = rest.substr(1, close - 1);
    port = rest.substr(close + 2);
  } else if (const auto last = rest.rfind(':'); last != std::string_view::npos) {
    if (last > 0) address = rest.substr(0, last);
    port = rest.substr(last + 1);
  }
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || value > 65535) {
    return Error{fmt::format("output \"{}\": \"{}\" is not a port number (0-65535)", text, port), 0,
                 kForms};
  }
  spec.kind = OutputSpec::Kind::prometheus;
  spec.address = std::string(address);
  spec.port = static_cast<std::uint16_t>(value);
  return spec;
}

}  // namespace perfscope::monitor
