// `perfscope flamegraph`: an interactive SVG flame graph from a saved profile, folded stacks or
// `perf script` text (detected from the content), optionally against a baseline (--diff).
#pragma once

namespace CLI {
class App;
}

namespace perfscope::cli {

// Registers the subcommand; `exit_code` receives its status after parsing.
void add_flamegraph_command(CLI::App& app, int& exit_code);

}  // namespace perfscope::cli
