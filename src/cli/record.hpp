// `perfscope record`: sample where the CPUs spend their time and save a profile.
#pragma once

namespace CLI {
class App;
}

namespace perfscope::cli {

// Registers the subcommand; `exit_code` receives its status after parsing.
void add_record_command(CLI::App& app, int& exit_code);

}  // namespace perfscope::cli
