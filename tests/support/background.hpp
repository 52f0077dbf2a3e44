// Programs a test starts and leaves running (a monitor, a Prometheus server) while it does other
// work, and HTTP GET against them over loopback.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace perfscope::testing {

class BackgroundProcess {
 public:
  // Starts argv[0] (a path) with standard output and error written to `log_path`.
  BackgroundProcess(const std::vector<std::string>& argv, const std::string& log_path);
  ~BackgroundProcess();  // SIGKILL and reap if still running
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  pid_t pid() const { return pid_; }
  // Sends `signal` and waits up to `timeout` for the exit; the exit status (128 + signal when
  // killed), or -1 when it had to be killed after the timeout.
  int stop(int signal, std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // Waits for the process to exit on its own; as stop().
  int wait(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // The log so far.
  std::string log() const;
  // Polls the log until it contains `text` or the process exits or `timeout` passes.
  bool wait_for_log(const std::string& text, std::chrono::milliseconds timeout);

 private:
  bool try_reap();  // true once the process has exited (status_ then holds its status)
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = -1;
  std::string log_path_;
};

struct HttpResponse {
  int status = 0;
  std::string headers;
  std::string body;
};
// A TCP socket connected to 127.0.0.1:port, or -1. The caller closes it.
int connect_loopback(std::uint16_t port);
// GET http://127.0.0.1:port/path with Connection: close; nullopt when the connection fails.
std::optional<HttpResponse> http_get(std::uint16_t port, const std::string& path);
// A TCP port on 127.0.0.1 that was free a moment ago.
std::uint16_t free_loopback_port();

}  // namespace perfscope::testing
