// The Prometheus endpoint's HTTP handling over real loopback sockets: the server runs in this
// thread's loop (as in `monitor`), a client thread talks to it.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "monitor/format.hpp"
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

// Issue 19: requests ending in a bare LF were never answered.
TEST(MetricsServer, AnswersRequestsWithBareLineFeeds) {
  auto server = MetricsServer::listen("127.0.0.1", 0);
  ASSERT_TRUE(server) << server.error().describe();
  server->set_metrics("x 1\n");
  std::string got;
  with_client(*server, [&] {
    const int fd = testing::connect_loopback(server->port());
    send_all(fd, "GET /metrics HTTP/1.1\nHost: x\n\n\r\nGET /metrics HTTP/1.1\r\nHost: x\n\r\n");
    got = receive(fd, 2);
    ::close(fd);
  });
  const std::string reply =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
      "Content-Length: 4\r\n\r\nx 1\n";
  EXPECT_EQ(got, reply + reply);
}

// Issue 19: a body announced on a GET (chunked, or two Content-Lengths that disagree) could be
// read as the next request: refused, and the connection closed.
TEST(MetricsServer, RefusesBodiesAndAmbiguousLengths) {
  auto server = MetricsServer::listen("127.0.0.1", 0);
  ASSERT_TRUE(server) << server.error().describe();
  server->set_metrics("x 1\n");
  std::vector<std::string> replies;
  std::vector<bool> closed;
  with_client(*server, [&] {
    for (const char* request :
         {"GET /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
          "GET /metrics HTTP/1.1\r\ntransfer-encoding: identity\r\n\r\n",
          "GET /metrics HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 40\r\n\r\n",
          "GET /metrics HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n"}) {
      const int fd = testing::connect_loopback(server->port());
      send_all(fd, request);
      bool was_closed = false;
      replies.push_back(receive(fd, 2, &was_closed));
      closed.push_back(was_closed);
      ::close(fd);
    }
  });
  ASSERT_EQ(replies.size(), 4u);
  for (std::size_t i = 0; i < replies.size(); ++i) {
    EXPECT_EQ(replies[i].rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << replies[i];
    EXPECT_NE(replies[i].find("Connection: close\r\n"), std::string::npos) << replies[i];
    EXPECT_TRUE(closed[i]) << replies[i];
  }
  EXPECT_NE(replies[0].find("Transfer-Encoding"), std::string::npos) << replies[0];
  EXPECT_NE(replies[2].find("more than once"), std::string::npos) << replies[2];
}

// Issue 19: 2,000,000 pipelined requests whose replies were never read took monitor to 1.5 GB.
// Past max_queued_bytes of replies the connection is not read until the client reads.
TEST(MetricsServer, PipelinedRequestsWithoutReadingStayBounded) {
  ServerLimits limits;
  limits.max_queued_bytes = 64 * 1024;
  auto server = MetricsServer::listen("127.0.0.1", 0, limits);
  ASSERT_TRUE(server) << server.error().describe();
  server->set_metrics(std::string(1000, 'x'));
  const std::string request = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::size_t reply_size = std::string("HTTP/1.1 200 OK\r\nContent-Type: ").size() +
                                 std::string(kExpositionContentType).size() +
                                 std::string("\r\nContent-Length: 1000\r\n\r\n").size() + 1000;
  std::size_t sent_bytes = 0, most_buffered = 0, received = 0;
  bool replies_whole = true;
  std::atomic<bool> client_done{false};
  std::thread client([&] {
    const int fd = testing::connect_loopback(server->port());
    const int small = 32 * 1024;
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    // Send an endless pipeline until the buffers are full: the server has stopped reading.
    for (int idle = 0; idle < 5;) {
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, 100) <= 0) {
        ++idle;
        continue;
      }
      const std::size_t at = sent_bytes % request.size();
      const ssize_t n =
          ::send(fd, request.data() + at, request.size() - at, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) sent_bytes += static_cast<std::size_t>(n);
    }
    // Then read: every whole request is answered as the queue drains.
    const std::size_t expected = sent_bytes / request.size() * reply_size;
    char buf[65536];
    std::string first;
    while (received < expected) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 5000) <= 0) break;
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      if (first.size() < reply_size) first.append(buf, static_cast<std::size_t>(n));
      received += static_cast<std::size_t>(n);
    }
    replies_whole = first.rfind("HTTP/1.1 200 OK\r\n", 0) == 0 &&
                    first.substr(reply_size, 17) == "HTTP/1.1 200 OK\r\n";
    ::close(fd);
    client_done = true;
  });
  while (!client_done) {
    pollfd p{server->fd(), POLLIN, 0};
    ::poll(&p, 1, 20);
    server->serve();
    most_buffered = std::max(most_buffered, server->buffered_bytes());
  }
  client.join();
  const std::size_t requests = sent_bytes / request.size();
  EXPECT_GT(requests, 500u) << "the client should have filled the socket buffers";
  // The queued replies (at most one past the limit) and one read of the pipeline.
  EXPECT_LT(most_buffered, 64u * 1024 + reply_size + 16 * 1024 + 8192);
  EXPECT_EQ(received, requests * reply_size) << "every request answered once the client read";
  EXPECT_TRUE(replies_whole);
  EXPECT_EQ(server->requests(), requests);
}

// Issue 19: connections trickling a header byte every 20 s held every slot for good. A head must
// be complete head_deadline after its first byte; bytes arriving meanwhile do not extend that.
TEST(MetricsServer, HeadMustCompleteInTime) {
  ServerLimits limits;
  limits.head_deadline = std::chrono::milliseconds(300);
  auto server = MetricsServer::listen("127.0.0.1", 0, limits);
  ASSERT_TRUE(server) << server.error().describe();
  bool closed = false;
  std::chrono::steady_clock::duration took{};
  with_client(*server, [&] {
    const int fd = testing::connect_loopback(server->port());
    const auto start = std::chrono::steady_clock::now();
    const std::string partial = "GET /metrics HTTP/1.1\r\nX-Slow: ";
    for (int i = 0; i < 100 && !closed; ++i) {
      if (::send(fd, partial.data() + i % partial.size(), 1, MSG_NOSIGNAL) < 0) closed = true;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) > 0) {
        char c;
        closed = ::recv(fd, &c, 1, 0) <= 0;
      }
    }
    took = std::chrono::steady_clock::now() - start;
    ::close(fd);
  });
  EXPECT_TRUE(closed) << "a trickling client kept its connection";
  EXPECT_GE(took, std::chrono::milliseconds(300));
  EXPECT_LT(took, std::chrono::seconds(3));
  EXPECT_EQ(server->connections(), 0u);
}

// Issue 19: with every slot held by slow clients, new ones were refused. The client longest
// without a complete request makes room instead, and the new one is answered.
TEST(MetricsServer, FullServerEvictsTheSlowestClientForANewOne) {
  ServerLimits limits;
  limits.max_connections = 3;
  auto server = MetricsServer::listen("127.0.0.1", 0, limits);
  ASSERT_TRUE(server) << server.error().describe();
  server->set_metrics("x 1\n");
  std::vector<int> slow;
  std::string answer;
  bool oldest_closed = false;
  with_client(*server, [&] {
    for (int i = 0; i < 3; ++i) {
      slow.push_back(testing::connect_loopback(server->port()));
      send_all(slow.back(), "GET /metrics HTTP/1.1\r\n");          // and never the rest
      std::this_thread::sleep_for(std::chrono::milliseconds(30));  // a distinct connect time each
    }
    const int fd = testing::connect_loopback(server->port());
    send_all(fd, "GET /metrics HTTP/1.1\r\n\r\n");
    answer = receive(fd, 1);
    ::close(fd);
    pollfd p{slow.front(), POLLIN, 0};
    char c;
    oldest_closed = ::poll(&p, 1, 5000) > 0 && ::recv(slow.front(), &c, 1, 0) == 0;
  });
  for (int fd : slow) ::close(fd);
  EXPECT_EQ(answer.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << answer;
  EXPECT_TRUE(oldest_closed) << "the oldest slow client should have made room";
  EXPECT_LE(server->connections(), 3u);
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
