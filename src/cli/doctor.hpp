// `perfscope doctor`: what works on this machine for this user, why not, and the exact fix.
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace perfscope::cli {

struct DoctorOptions {
  bool json = false;
  std::string binary;  // --binary PATH
  std::string need;    // --need count-own,profile-system: what decides the exit status
  bool fix = false;
  int level = 1;  // --level for --fix
  bool persist = false;
  bool yes = false;
};

void add_doctor_command(CLI::App& app, DoctorOptions& options, int& exit_code);
int run_doctor(const DoctorOptions& options);

}  // namespace perfscope::cli
