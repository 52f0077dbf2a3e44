// `perfscope convert`: one profile from pprof, folded stacks, perf script text or speedscope JSON
// (told apart by content) to pprof, folded stacks or speedscope JSON (chosen by the output name).
#pragma once

namespace CLI {
class App;
}

namespace perfscope::cli {

// Registers the subcommand; `exit_code` receives its status after parsing.
void add_convert_command(CLI::App& app, int& exit_code);

}  // namespace perfscope::cli
