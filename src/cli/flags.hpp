// Validators shared by the subcommands' flags.
#pragma once

#include <CLI/CLI.hpp>
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

}  // namespace perfscope::cli
