// `perfscope serve`: a saved profile explored in a browser (top table, flame graph and icicle,
// callers and callees, source lines, filters, timeline, a diff against a baseline), served on
// 127.0.0.1 from the binary alone.
#pragma once

namespace CLI {
class App;
}

namespace perfscope::cli {

// Registers the subcommand; `exit_code` receives its status after parsing.
void add_serve_command(CLI::App& app, int& exit_code);

}  // namespace perfscope::cli
