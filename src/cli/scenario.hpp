// `perfscope scenario`: CPU, memory and I/O profiles of one command, filed in a results folder
// with a summary; `perfscope scenario diff A B` compares two such folders.
#pragma once

namespace CLI {
class App;
}

namespace perfscope::cli {

void add_scenario_command(CLI::App& app, int& exit_code);

}  // namespace perfscope::cli
