// `perfscope mem`: heap profiling of a command (peak, sites, temporaries, leaks, timeline).
#pragma once

namespace CLI {
class App;
}

namespace perfscope::cli {

// Registers the subcommand; `exit_code` receives its status (the command's) after parsing.
void add_mem_command(CLI::App& app, int& exit_code);

}  // namespace perfscope::cli
