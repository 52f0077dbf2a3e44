// MetricsServer: the Prometheus endpoint of `monitor`, a small HTTP/1.1 server that lives in the
// monitor's own poll loop (one thread, no locks): GET or HEAD /metrics returns the last body
// set_metrics() was given. Connections are kept alive, as Prometheus expects; requests are served
// without blocking. Hostile clients are bounded (ServerLimits): a client that pipelines requests
// without reading the replies is not read further until it does, a request head must be complete
// soon after it starts, idle connections close, and when every slot is taken the client that has
// gone longest without a complete request makes room for the new one. Requests with a body
// (Content-Length, Transfer-Encoding) are refused: GET and HEAD have none.
//
// `perfscope serve` uses the same server for its web UI: set_handler() hands every GET and HEAD
// to a function instead of the fixed /metrics body (the limits and the parser stay the same).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/unique_fd.hpp"

namespace perfscope::monitor {

struct ServerLimits {
  std::size_t max_connections = 64;
  // From a request's first byte to the end of its head: a client trickling bytes cannot keep a
  // connection (and its slot) for long.
  std::chrono::milliseconds head_deadline = std::chrono::seconds(10);
  // A connection that moves no byte either way for this long is closed.
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(60);
  // Replies waiting to be sent on one connection: past this many bytes its further requests wait,
  // unread, until the client reads (one reply is always answered, however large).
  std::size_t max_queued_bytes = 1 << 20;
};

// A GET or HEAD request as a handler sees it: views of the request head, valid during the call.
struct HttpRequest {
  std::string_view method;  // "GET" or "HEAD" (a HEAD reply's body is left out for it)
  std::string_view path;    // the target before '?', not decoded ("/api/top")
  std::string_view query;   // after '?', not decoded ("fn=main&pid=12"), "" when none
  std::string_view host;    // the Host header, "" when absent
};

struct HttpReply {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body = {};
  std::string headers = {};  // further header lines, each ending in "\r\n"
};

using HttpHandler = std::function<HttpReply(const HttpRequest&)>;

// How listen()'s errors name the server: "cannot listen on ADDR:PORT for WHAT", and the advice
// for a port another program has.
struct ListenPurpose {
  std::string what = "Prometheus";
  // After "another program listens on port N: "; {} stands for the address as written.
  std::string other_port = "pick another (prometheus:{}:PORT), or 0 for any free port";
};

class MetricsServer {
 public:
  // Binds address:port (a numeric address or a host name; port 0 picks a free one) and listens.
  static Result<MetricsServer> listen(const std::string& address, std::uint16_t port,
                                      const ServerLimits& limits = {},
                                      const ListenPurpose& purpose = {});
  MetricsServer(MetricsServer&&) noexcept = default;
  MetricsServer& operator=(MetricsServer&&) noexcept = default;
  MetricsServer(const MetricsServer&) = delete;

  // An epoll fd: readable when serve() has work. Put it in the caller's poll set.
  int fd() const { return epoll_.get(); }
  std::uint16_t port() const { return port_; }
  // "http://127.0.0.1:9464/metrics"
  const std::string& url() const { return url_; }
  // "http://127.0.0.1:9464" ("http://[::1]:9464" for IPv6)
  std::string origin() const {
    return url_.substr(0, url_.size() - std::string_view("/metrics").size());
  }
  std::uint64_t requests() const { return requests_; }
  std::size_t connections() const { return connections_.size(); }
  // Bytes held for every connection: requests read but not answered, replies not yet sent.
  std::size_t buffered_bytes() const;

  // The body of GET /metrics from now on (Prometheus text format).
  void set_metrics(std::string body) { metrics_ = std::move(body); }
  // From now on every GET and HEAD (any path) is answered by `handler`, not by the metrics body.
  // It runs on the thread that calls serve(), one request at a time.
  void set_handler(HttpHandler handler) { handler_ = std::move(handler); }
  // Accepts, reads, answers and writes whatever is ready. Never blocks.
  void serve();

 private:
  using Clock = std::chrono::steady_clock;
  struct Connection {
    UniqueFd fd;
    std::string in;
    std::string out;
    std::size_t sent = 0;
    bool close_after = false;                       // after the replies queued so far
    bool peer_closed = false;                       // the client will send nothing more
    Clock::time_point last_active;                  // the last byte either way
    Clock::time_point last_request;                 // the connect, then each complete request
    std::optional<Clock::time_point> head_started;  // an incomplete request's first byte
  };
  MetricsServer() = default;
  void accept_all(Clock::time_point now);
  void evict_slowest();
  // Reads and answers; false when the connection is finished.
  bool on_readable(Connection& c, Clock::time_point now);
  // Answers the complete requests read so far, in order, while the queued replies allow.
  void answer_buffered(Connection& c, Clock::time_point now);
  // Sends what is queued (and answers what waited for it); false when the connection is finished.
  bool flush(Connection& c, Clock::time_point now);
  void answer(Connection& c, std::string_view request_head);
  void watch(Connection& c);
  void drop(std::size_t index);
  void expire(Clock::time_point now);

  UniqueFd listener_;
  UniqueFd epoll_;
  std::uint16_t port_ = 0;
  std::string url_;
  std::string metrics_;
  HttpHandler handler_;
  std::vector<Connection> connections_;
  std::uint64_t requests_ = 0;
  ServerLimits limits_;
};

}  // namespace perfscope::monitor
