// Placeholder until `perfscope report` lands (owned by the profile/ work).
#include "cli/report.hpp"

#include <CLI/CLI.hpp>

namespace perfscope::cli {

void add_report_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("report", "Show a saved profile (not yet built)");
  cmd->callback([&exit_code] { exit_code = 1; });
}

}  // namespace perfscope::cli
