// `perfscope report`: tables and folded stacks from a saved profile, with no kernel access.
#pragma once

namespace CLI {
class App;
}

namespace perfscope::cli {

// Registers the subcommand; `exit_code` receives its status after parsing.
void add_report_command(CLI::App& app, int& exit_code);

}  // namespace perfscope::cli
