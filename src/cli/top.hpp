// `perfscope top`: a live view of the hottest functions (full screen, --batch or --json).
#pragma once

namespace CLI {
class App;
}

namespace perfscope::cli {

// Registers the subcommand; `exit_code` receives its status after parsing.
void add_top_command(CLI::App& app, int& exit_code);

}  // namespace perfscope::cli
