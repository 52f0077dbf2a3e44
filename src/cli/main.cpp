// perfscope: one binary, one subcommand per file. This file only wires them up and maps
// CLI11's parse errors to exit status 2.
#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>
#include <new>
#include <system_error>

#include "cli/convert.hpp"
#include "cli/doctor.hpp"
#include "cli/flamegraph.hpp"
#include "cli/list.hpp"
#include "cli/mem.hpp"
#include "cli/monitor.hpp"
#include "cli/record.hpp"
#include "cli/report.hpp"
#include "cli/report_error.hpp"
#include "cli/scenario.hpp"
#include "cli/serve.hpp"
#include "cli/stat.hpp"
#include "cli/syscalls.hpp"
#include "cli/top.hpp"
#include "formats/input.hpp"
#include "perfdata/perf_data_reader.hpp"

namespace perfscope::cli {

int report_error(const char* command, const Error& error) {
  fmt::print(stderr, "perfscope {}: {}\n", command, error.message());
  if (!error.hint.empty()) fmt::print(stderr, "{}\n", error.hint);
  return 1;
}

}  // namespace perfscope::cli

namespace {

// CLI11 prints help and the version through std::cout: a failed write is a failure too.
int help_written(int status) {
  std::cout.flush();
  if (!std::cout.fail()) return status;
  fmt::print(stderr, "perfscope: cannot write to standard output: {}\n",
             std::strerror(errno != 0 ? errno : EIO));
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace perfscope::cli;
  // report, flamegraph and convert read perf.data through load_input().
  perfscope::formats::set_perf_data_reader(&perfscope::perfdata::read_perf_data_input);
  CLI::App app{"perfscope: Linux performance analysis on perf_event_open(2) and eBPF"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "perfscope 0.1.0");
  int exit_code = 0;
  StatOptions stat;
  add_stat_command(app, stat, exit_code);
  ListOptions list;
  add_list_command(app, list, exit_code);
  DoctorOptions doctor;
  add_doctor_command(app, doctor, exit_code);
  add_record_command(app, exit_code);
  add_report_command(app, exit_code);
  add_flamegraph_command(app, exit_code);
  add_convert_command(app, exit_code);
  add_monitor_command(app, exit_code);
  add_mem_command(app, exit_code);
  add_syscalls_command(app, exit_code);
  add_scenario_command(app, exit_code);
  add_top_command(app, exit_code);
  add_serve_command(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return help_written(app.exit(e));
  } catch (const CLI::CallForAllHelp& e) {
    return help_written(app.exit(e));
  } catch (const CLI::Success& e) {
    return help_written(app.exit(e));
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "perfscope: {}\n  run `perfscope --help` or `perfscope SUBCOMMAND --help`\n",
               e.what());
    return 2;
  } catch (const std::system_error& e) {
    // fmt::print throws when standard output is a full disk or a closed pipe.
    fmt::print(stderr, "perfscope: cannot write the output: {}\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    // Every command ends here rather than in an abort: one message, a failure status.
    fmt::print(stderr,
               "perfscope: out of memory\n  the input or recording is larger than this machine "
               "can hold; give a smaller input or raise the memory limit (ulimit -v)\n");
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "perfscope: internal error: {}\n  please report it with the command line\n",
               e.what());
    return 1;
  }
  // A result printed to a full disk or a closed pipe is not a success.
  // (A command that failed has said why already.)
  errno = 0;
  if ((std::fflush(stdout) != 0 || std::ferror(stdout)) && exit_code == 0) {
    fmt::print(stderr, "perfscope: cannot write to standard output: {}\n",
               std::strerror(errno != 0 ? errno : EIO));
    return 1;
  }
  return exit_code;
}
