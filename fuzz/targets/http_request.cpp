// The Prometheus endpoint's request handling (monitor/http_server.cpp). Its request parser is
// private to MetricsServer, so this goes through the smallest public entry that takes bytes: a
// server listening on 127.0.0.1 (once), one client connection per input that sends the input and
// shuts its sending side, and serve() until the server has answered and closed. Pipelined
// requests, bare LF, oversized heads, Content-Length and Transfer-Encoding all reach the parser.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "core/unique_fd.hpp"
#include "fuzz_support.hpp"
#include "monitor/http_server.hpp"

using namespace perfscope;

namespace {

monitor::MetricsServer& server() {
  static auto s = [] {
    auto r = monitor::MetricsServer::listen("127.0.0.1", 0);
    fuzz::require(static_cast<bool>(r), "the metrics server listens on 127.0.0.1");
    r->set_metrics("# TYPE perfscope_fuzz counter\nperfscope_fuzz_total 1\n");
    return std::make_unique<monitor::MetricsServer>(std::move(*r));
  }();
  return *s;
}

UniqueFd connect_to(std::uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  fuzz::require(static_cast<bool>(fd), "socket() works");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int rc = ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  fuzz::require(rc == 0 || errno == EINPROGRESS, "connecting to the server works");
  return fd;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // More than the server reads of a head before it refuses (16 KiB) adds nothing.
  size = std::min<std::size_t>(size, 64 * 1024);
  auto& s = server();
  UniqueFd client = connect_to(s.port());
  std::size_t sent = 0;
  bool shut = false, closed = false;
  char buffer[65536];
  while (!closed) {
    if (sent < size) {
      const ssize_t n = ::send(client.get(), data + sent, size - sent, MSG_NOSIGNAL);
      if (n > 0) sent += static_cast<std::size_t>(n);
      if (n < 0 && errno != EAGAIN && errno != ENOTCONN) sent = size;  // the server closed
    }
    if (sent == size && !shut) {
      ::shutdown(client.get(), SHUT_WR);
      shut = true;
    }
    pollfd fds[2] = {{s.fd(), POLLIN, 0}, {client.get(), POLLIN, 0}};
    ::poll(fds, 2, 1000);
    s.serve();
    while (true) {
      const ssize_t n = ::recv(client.get(), buffer, sizeof buffer, 0);
      if (n > 0) continue;
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) closed = true;
      break;
    }
  }
  s.serve();  // the server sees its side closed
  return 0;
}
