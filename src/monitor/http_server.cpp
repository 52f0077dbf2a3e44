#include "monitor/http_server.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "monitor/format.hpp"

namespace perfscope::monitor {
namespace {

constexpr std::size_t kMaxRequestHead = 16 * 1024;
constexpr std::size_t kMaxConnections = 64;
constexpr auto kIdleTimeout = std::chrono::seconds(60);

std::string lower(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return out;
}

// The value of header `name` (lower case) in a request head, or empty.
std::string header(std::string_view head, std::string_view name) {
  std::size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos && pos + 2 < head.size()) {
    const std::size_t start = pos + 2;
    const std::size_t end = head.find("\r\n", start);
    const std::string_view line =
        head.substr(start, (end == std::string_view::npos ? head.size() : end) - start);
    const auto colon = line.find(':');
    if (colon != std::string_view::npos && lower(line.substr(0, colon)) == name) {
      std::string_view v = line.substr(colon + 1);
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
      return std::string(v);
    }
    pos = end;
  }
  return {};
}

// The fix for a failed bind(2) or listen(2): every failure gets one.
std::string listen_hint(int errnum, const std::string& address, std::uint16_t port) {
  const std::string spelled =
      address.find(':') != std::string::npos ? "[" + address + "]" : address;
  switch (errnum) {
    case EADDRINUSE:
      return fmt::format(
          "  another program listens on port {}: pick another (prometheus:{}:PORT), or 0 for "
          "any free port",
          port, spelled);
    case EACCES:
      return "  ports below 1024 need root or CAP_NET_BIND_SERVICE: use a higher one";
    case EADDRNOTAVAIL:
      return fmt::format(
          "  {} is not an address of this machine: use 127.0.0.1 (this machine only), 0.0.0.0 "
          "(every interface) or one `ip -brief address` lists",
          address);
    case EAFNOSUPPORT:
      return "  this kernel has that address family turned off (IPv6?): use an IPv4 address "
             "such as 127.0.0.1";
    default:
      return fmt::format(
          "  try another address or port, e.g. prometheus:127.0.0.1:0 (any free port on this "
          "machine only), and check `ss -ltn` for what listens on {}",
          port);
  }
}

}  // namespace

Result<MetricsServer> MetricsServer::listen(const std::string& address, std::uint16_t port) {
  const std::string where = fmt::format("{}:{}", address, port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (const int rc = ::getaddrinfo(address.c_str(), service.c_str(), &hints, &found); rc != 0) {
    return Error{
        fmt::format("cannot resolve the Prometheus address {}: {}", address, ::gai_strerror(rc)), 0,
        "  give a numeric address such as 127.0.0.1, 0.0.0.0 or [::1]"};
  }
  MetricsServer s;
  int last_errno = 0;
  for (addrinfo* ai = found; ai != nullptr && !s.listener_; ai = ai->ai_next) {
    UniqueFd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
      last_errno = errno;
      continue;
    }
    const int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd.get(), 16) != 0) {
      last_errno = errno;
      continue;
    }
    s.listener_ = std::move(fd);
  }
  ::freeaddrinfo(found);
  if (!s.listener_) {
    return Error{"cannot listen on " + where + " for Prometheus", last_errno,
                 listen_hint(last_errno, address, port)};
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  ::getsockname(s.listener_.get(), reinterpret_cast<sockaddr*>(&bound), &len);
  char host[INET6_ADDRSTRLEN] = "?";
  if (bound.ss_family == AF_INET6) {
    const auto* a6 = reinterpret_cast<const sockaddr_in6*>(&bound);
    ::inet_ntop(AF_INET6, &a6->sin6_addr, host, sizeof host);
    s.port_ = ntohs(a6->sin6_port);
    s.url_ = fmt::format("http://[{}]:{}/metrics", host, s.port_);
  } else {
    const auto* a4 = reinterpret_cast<const sockaddr_in*>(&bound);
    ::inet_ntop(AF_INET, &a4->sin_addr, host, sizeof host);
    s.port_ = ntohs(a4->sin_port);
    s.url_ = fmt::format("http://{}:{}/metrics", host, s.port_);
  }
  s.epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!s.epoll_) return errno_error("epoll_create1");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = s.listener_.get();
  if (::epoll_ctl(s.epoll_.get(), EPOLL_CTL_ADD, s.listener_.get(), &ev) != 0) {
    return errno_error("epoll_ctl");
  }
  return s;
}

void MetricsServer::watch(Connection& c, bool want_write) {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP | (want_write ? EPOLLOUT : 0u);
  ev.data.fd = c.fd.get();
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, c.fd.get(), &ev) != 0) {
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, c.fd.get(), &ev);
  }
}

void MetricsServer::drop(std::size_t index) {
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, connections_[index].fd.get(), nullptr);
  connections_.erase(connections_.begin() + static_cast<std::ptrdiff_t>(index));
}

void MetricsServer::accept_all() {
  while (true) {
    UniqueFd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) return;  // EAGAIN, or a connection that went away first
    if (connections_.size() >= kMaxConnections) continue;  // closed at once
    Connection c;
    c.fd = std::move(fd);
    c.last_active = std::chrono::steady_clock::now();
    connections_.push_back(std::move(c));
    watch(connections_.back(), false);
  }
}

void MetricsServer::answer(Connection& c, std::string_view head) {
  ++requests_;
  const std::size_t line_end = head.find("\r\n");
  const std::string_view line = head.substr(0, line_end);
  const auto sp1 = line.find(' ');
  const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  std::string_view method, target, version = "HTTP/1.0";
  if (sp2 != std::string_view::npos) {
    method = line.substr(0, sp1);
    target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    version = line.substr(sp2 + 1);
  }
  const std::string connection = lower(header(head, "connection"));
  c.close_after = version == "HTTP/1.1" ? connection == "close" : connection != "keep-alive";
  const std::string_view path = target.substr(0, target.find('?'));

  int status = 200;
  const char* reason = "OK";
  const char* type = kExpositionContentType;
  std::string_view body = metrics_;
  std::string extra;
  if (method.empty() || version.substr(0, 5) != "HTTP/") {
    status = 400, reason = "Bad Request", type = "text/plain", body = "bad request\n";
    c.close_after = true;
  } else if (method != "GET" && method != "HEAD") {
    status = 405, reason = "Method Not Allowed", type = "text/plain", body = "only GET and HEAD\n";
    extra = "Allow: GET, HEAD\r\n";
  } else if (const std::string length = header(head, "content-length");
             !length.empty() && length != "0") {
    status = 400, reason = "Bad Request", type = "text/plain", body = "no request body expected\n";
    c.close_after = true;
  } else if (path == "/") {
    type = "text/plain";
    body = "perfscope monitor: metrics are at /metrics\n";
  } else if (path != "/metrics") {
    status = 404, reason = "Not Found", type = "text/plain", body = "not found: try /metrics\n";
  }
  fmt::format_to(std::back_inserter(c.out),
                 "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}{}\r\n", status,
                 reason, type, body.size(), extra, c.close_after ? "Connection: close\r\n" : "");
  if (method != "HEAD") c.out += body;
}

bool MetricsServer::flush(Connection& c) {
  while (c.sent < c.out.size()) {
    const ssize_t n =
        ::send(c.fd.get(), c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        watch(c, true);
        return true;
      }
      return false;
    }
    c.sent += static_cast<std::size_t>(n);
  }
  c.out.clear();
  c.sent = 0;
  watch(c, false);
  return !c.close_after;
}

bool MetricsServer::on_readable(Connection& c) {
  char buffer[8192];
  bool peer_closed = false;
  while (true) {
    const ssize_t n = ::recv(c.fd.get(), buffer, sizeof buffer, 0);
    if (n == 0) {  // the client is done sending; answer what it sent, then close
      peer_closed = true;
      break;
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return false;
    }
    c.in.append(buffer, static_cast<std::size_t>(n));
    if (c.in.size() > kMaxRequestHead) break;
  }
  // Answer every complete request (pipelining), in order.
  while (true) {
    const auto end = c.in.find("\r\n\r\n");
    if (end == std::string::npos) {
      if (c.in.size() > kMaxRequestHead) {
        c.out +=
            "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n"
            "Connection: close\r\n\r\n";
        c.close_after = true;
        c.in.clear();
      }
      break;
    }
    answer(c, std::string_view(c.in).substr(0, end + 2));
    c.in.erase(0, end + 4);
    if (c.close_after) {
      c.in.clear();
      break;
    }
  }
  if (peer_closed) c.close_after = true;
  return flush(c);
}

void MetricsServer::serve() {
  epoll_event events[16];
  const auto now = std::chrono::steady_clock::now();
  while (true) {
    const int n = ::epoll_wait(epoll_.get(), events, 16, 0);
    if (n <= 0) break;
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == listener_.get()) {
        accept_all();
        continue;
      }
      auto it = std::find_if(connections_.begin(), connections_.end(),
                             [fd](const Connection& c) { return c.fd.get() == fd; });
      if (it == connections_.end()) continue;
      it->last_active = now;
      bool keep = true;
      if (events[i].events & (EPOLLERR | EPOLLHUP)) {
        keep = false;
      } else {
        if (events[i].events & EPOLLOUT) keep = flush(*it);
        if (keep && (events[i].events & (EPOLLIN | EPOLLRDHUP))) keep = on_readable(*it);
      }
      if (!keep) drop(static_cast<std::size_t>(it - connections_.begin()));
    }
    if (n < 16) break;
  }
  for (std::size_t i = connections_.size(); i-- > 0;) {
    if (now - connections_[i].last_active > kIdleTimeout) drop(i);
  }
}

}  // namespace perfscope::monitor
