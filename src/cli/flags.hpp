// Validators shared by the subcommands' flags.
#pragma once

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace perfscope::cli {

// -p, -t, -C and the like: an empty value (`-p ""`, an unset shell variable) is refused instead of
// quietly meaning "flag not given", which would widen the target to the whole system.
inline CLI::Validator non_empty_target() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        if (!value.empty()) return {};
        return "an empty list names no target: give ids (e.g. 1234,5678) or leave the flag out";
      },
      "", "non-empty");
}

// -d SECONDS and the like: a finite number above zero (0 would mean "no limit" inside the library,
// which a user who typed it did not ask for).
inline CLI::Validator positive_seconds() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        char* end = nullptr;
        const double v = std::strtod(value.c_str(), &end);
        if (!value.empty() && *end == '\0' && std::isfinite(v) && v > 0) return {};
        return "'" + value.substr(0, 40) + "' is not a positive number of seconds (e.g. 5 or 0.5)";
      },
      "", "positive seconds");
}

// --max-input MIB for the commands that read profiles (report, flamegraph, convert): the most of
// a pprof or speedscope input read after gzip (formats::InputOptions::max_bytes).
inline void add_max_input(CLI::App* sub, std::uint64_t& mib) {
  sub->add_option("--max-input", mib,
                  "Read at most this many MiB of a pprof or speedscope input (after gzip); a "
                  "larger one is refused, as it would not fit in memory once decoded")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 20))
      ->capture_default_str();
}

}  // namespace perfscope::cli
