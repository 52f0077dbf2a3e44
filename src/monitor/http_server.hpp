// MetricsServer: the Prometheus endpoint of `monitor`, a small HTTP/1.1 server that lives in the
// monitor's own poll loop (one thread, no locks): GET or HEAD /metrics returns the last body
// set_metrics() was given. Connections are kept alive, as Prometheus expects; requests are served
// without blocking, and a slow or silent client is dropped after a timeout.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/unique_fd.hpp"

namespace perfscope::monitor {

class MetricsServer {
 public:
  // Binds address:port (a numeric address or a host name; port 0 picks a free one) and listens.
  static Result<MetricsServer> listen(const std::string& address, std::uint16_t port);
  MetricsServer(MetricsServer&&) noexcept = default;
  MetricsServer& operator=(MetricsServer&&) noexcept = default;
  MetricsServer(const MetricsServer&) = delete;

  // An epoll fd: readable when serve() has work. Put it in the caller's poll set.
  int fd() const { return epoll_.get(); }
  std::uint16_t port() const { return port_; }
  // "http://127.0.0.1:9464/metrics"
  const std::string& url() const { return url_; }
  std::uint64_t requests() const { return requests_; }

  // The body of GET /metrics from now on (Prometheus text format).
  void set_metrics(std::string body) { metrics_ = std::move(body); }
  // Accepts, reads, answers and writes whatever is ready. Never blocks.
  void serve();

 private:
  struct Connection {
    UniqueFd fd;
    std::string in;
    std::string out;
    std::size_t sent = 0;
    bool close_after = false;
    std::chrono::steady_clock::time_point last_active;
  };
  MetricsServer() = default;
  void accept_all();
  // Reads and answers; false when the connection is finished.
  bool on_readable(Connection& c);
  bool flush(Connection& c);
  void answer(Connection& c, std::string_view request_head);
  void watch(Connection& c, bool want_write);
  void drop(std::size_t index);

  UniqueFd listener_;
  UniqueFd epoll_;
  std::uint16_t port_ = 0;
  std::string url_;
  std::string metrics_;
  std::vector<Connection> connections_;
  std::uint64_t requests_ = 0;
};

}  // namespace perfscope::monitor
