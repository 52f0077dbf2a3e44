// `perfscope list`: every event perfscope understands, marked available or not on this machine.
#pragma once

#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace perfscope::cli {

struct ListOptions {
  bool json = false;
  bool available_only = false;
  bool probe_all = false;            // open every tracepoint even in a long list
  std::vector<std::string> filters;  // group names, tracepoint subsystems, substrings or globs
};

void add_list_command(CLI::App& app, ListOptions& options, int& exit_code);
int run_list(const ListOptions& options);

}  // namespace perfscope::cli
