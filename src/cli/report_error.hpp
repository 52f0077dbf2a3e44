// How cli/ shows an Error: "perfscope CMD: message" then the hint, on standard error.
#pragma once

#include "core/error.hpp"

namespace perfscope::cli {

// Prints the error and returns the exit code for a failed command (1).
int report_error(const char* command, const Error& error);

}  // namespace perfscope::cli
