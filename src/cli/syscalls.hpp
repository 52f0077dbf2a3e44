// `perfscope syscalls`: a strace -c style summary of system calls from kernel tracepoints.
#pragma once

namespace CLI {
class App;
}

namespace perfscope::cli {

// Registers the subcommand; `exit_code` receives its status after parsing.
void add_syscalls_command(CLI::App& app, int& exit_code);

}  // namespace perfscope::cli
