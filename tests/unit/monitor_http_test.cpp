// The Prometheus endpoint's HTTP handling over real loopback sockets: the server runs in this
// thread's loop (as in `monitor`), a client thread talks to it.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "monitor/http_server.hpp"
#include "support/background.hpp"

namespace perfscope::monitor {
namespace {

void send_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::send(fd, text.data() + done, text.size() - done, MSG_NOSIGNAL);
    ASSERT_GT(n, 0);
    done += static_cast<std::size_t>(n);
  }
}

// Reads until `responses` complete responses (by Content-Length) arrived or the peer closed.
std::string receive(int fd, int responses, bool* closed = nullptr) {
  std::string in;
  char buf[4096];
  while (true) {
    int complete = 0;
    std::size_t pos = 0;
    while (true) {
      const auto head_end = in.find("\r\n\r\n", pos);
      if (head_end == std::string::npos) break;
      const auto cl = in.find("Content-Length: ", pos);
      if (cl == std::string::npos || cl > head_end) break;
      const std::size_t length = std::stoul(in.substr(cl + 16));
      const std::size_t body_end = head_end + 4 + length;
      if (body_end > in.size()) break;
      ++complete;
      pos = body_end;
    }
    if (complete >= responses) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0) break;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      if (closed != nullptr) *closed = true;
      break;
    }
    in.append(buf, static_cast<std::size_t>(n));
  }
  return in;
}

// Serves on this thread until `client` returns.
template <typename F>
void with_client(MetricsServer& server, F client) {
  std::atomic<bool> done{false};
  std::thread t([&] {
    client();
    done = true;
  });
  while (!done) {
    pollfd p{server.fd(), POLLIN, 0};
    ::poll(&p, 1, 20);
    server.serve();
  }
  t.join();
}

TEST(MetricsServer, ServesMetricsWithKeepAlive) {
  auto server = MetricsServer::listen("127.0.0.1", 0);
  ASSERT_TRUE(server) << server.error().describe();
  ASSERT_NE(server->port(), 0);
  EXPECT_EQ(server->url(), "http://127.0.0.1:" + std::to_string(server->port()) + "/metrics");
  server->set_metrics("a_total 1\n");
  std::string first, second;
  bool closed = false;
  with_client(*server, [&] {
    const int fd = testing::connect_loopback(server->port());
    ASSERT_GE(fd, 0);
    send_all(fd, "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n");
    first = receive(fd, 1);
    // Same connection, two pipelined requests.
    send_all(fd,
             "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nHEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    second = receive(fd, 1);
    send_all(fd, "GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n");
    receive(fd, 2, &closed);
    ::close(fd);
  });
  EXPECT_EQ(first,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
            "Content-Length: 10\r\n\r\na_total 1\n");
  // The HEAD response has the GET's length and no body.
  EXPECT_EQ(second,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
            "Content-Length: 10\r\n\r\na_total 1\n"
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
            "Content-Length: 10\r\n\r\n");
  EXPECT_TRUE(closed) << "Connection: close was not honoured";
  EXPECT_EQ(server->requests(), 4u);
}

TEST(MetricsServer, AnswersOtherPathsAndMethodsAndHalfClosedClients) {
  auto server = MetricsServer::listen("127.0.0.1", 0);
  ASSERT_TRUE(server) << server.error().describe();
  server->set_metrics("x 1\n");
  std::string not_found, not_allowed, http10;
  with_client(*server, [&] {
    int fd = testing::connect_loopback(server->port());
    send_all(fd, "GET /nothing HTTP/1.1\r\n\r\n");
    not_found = receive(fd, 1);
    send_all(fd, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    not_allowed = receive(fd, 1);
    ::close(fd);
    // HTTP/1.0 and a client that shuts its side after the request (as `printf | nc` does).
    fd = testing::connect_loopback(server->port());
    send_all(fd, "GET /metrics?x=1 HTTP/1.0\r\n\r\n");
    ::shutdown(fd, SHUT_WR);
    http10 = receive(fd, 2);
    ::close(fd);
  });
  EXPECT_EQ(not_found.rfind("HTTP/1.1 404 Not Found\r\n", 0), 0u) << not_found;
  EXPECT_EQ(not_allowed.rfind("HTTP/1.1 405 Method Not Allowed\r\n", 0), 0u) << not_allowed;
  EXPECT_NE(not_allowed.find("Allow: GET, HEAD\r\n"), std::string::npos);
  EXPECT_EQ(http10,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
            "Content-Length: 4\r\nConnection: close\r\n\r\nx 1\n");
}

TEST(MetricsServer, LargeBodiesArriveWhole) {
  auto server = MetricsServer::listen("127.0.0.1", 0);
  ASSERT_TRUE(server);
  std::string body;
  for (int i = 0; i < 200000; ++i) body += "perf_x_total{cpu=\"" + std::to_string(i) + "\"} 1\n";
  server->set_metrics(body);
  std::string got;
  with_client(*server, [&] {
    const int fd = testing::connect_loopback(server->port());
    send_all(fd, "GET /metrics HTTP/1.1\r\n\r\n");
    got = receive(fd, 1);
    ::close(fd);
  });
  ASSERT_GT(got.size(), body.size());
  EXPECT_EQ(got.substr(got.size() - body.size()), body);
}

TEST(MetricsServer, BusyPortIsAClearError) {
  auto first = MetricsServer::listen("127.0.0.1", 0);
  ASSERT_TRUE(first);
  auto second = MetricsServer::listen("127.0.0.1", first->port());
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().errnum, EADDRINUSE);
  EXPECT_NE(second.error().hint.find("0 for any free port"), std::string::npos);
  auto bad = MetricsServer::listen("no-such-host.invalid", 0);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().op.find("cannot resolve"), std::string::npos);
}

}  // namespace
}  // namespace perfscope::monitor
