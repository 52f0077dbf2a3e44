// Where `monitor` sends its points: csv:FILE, jsonl:FILE ("-" for standard output) and
// prometheus:[ADDR:]PORT, an HTTP endpoint (127.0.0.1 unless an address is given).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace perfscope::monitor {

struct OutputSpec {
  enum class Kind { csv, jsonl, prometheus };
  Kind kind = Kind::jsonl;
  std::string path;        // csv, jsonl: a file, or "-"
  std::string address;     // prometheus: numeric IPv4/IPv6 or a host name
  std::uint16_t port = 0;  // prometheus: 0 picks a free port
  std::string text;        // as written
};

Result<OutputSpec> parse_output_spec(std::string_view text);

}  // namespace perfscope::monitor
