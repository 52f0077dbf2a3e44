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

std::string lower(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return out;
}

std::string_view trim(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t' || v.back() == '\r'))
    v.remove_suffix(1);
  return v;
}

// The values of header `name` (lower case) in a request head, in order. Lines end in CRLF or a
// bare LF (RFC 9112 lets a server accept both).
std::vector<std::string_view> header_values(std::string_view head, std::string_view name) {
  std::vector<std::string_view> values;
  std::size_t start = head.find('\n');  // past the request line
  while (start != std::string_view::npos && start + 1 < head.size()) {
    const std::size_t end = head.find('\n', start + 1);
    const std::string_view line =
        head.substr(start + 1, (end == std::string_view::npos ? head.size() : end) - start - 1);
    const auto colon = line.find(':');
    if (colon != std::string_view::npos && lower(line.substr(0, colon)) == name)
      values.push_back(trim(line.substr(colon + 1)));
    start = end;
  }
  return values;
}

// Where the first request head in `in` ends: its length (through the last header line's LF) and
// the bytes it takes with the blank line after it; nullopt while incomplete.
std::optional<std::pair<std::size_t, std::size_t>> find_head_end(std::string_view in) {
  for (std::size_t i = in.find('\n'); i != std::string_view::npos; i = in.find('\n', i + 1)) {
    if (i + 1 < in.size() && in[i + 1] == '\n') return std::pair{i + 1, i + 2};
    if (i + 2 < in.size() && in[i + 1] == '\r' && in[i + 2] == '\n') return std::pair{i + 1, i + 3};
  }
  return std::nullopt;
}

// The fix for a failed bind(2) or listen(2): every failure gets one.
std::string listen_hint(int errnum, const std::string& address, std::uint16_t port,
                        const ListenPurpose& purpose) {
  const std::string spelled =
      address.find(':') != std::string::npos ? "[" + address + "]" : address;
  switch (errnum) {
    case EADDRINUSE:
      return fmt::format("  another program listens on port {}: {}", port,
                         fmt::format(fmt::runtime(purpose.other_port), spelled));
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

const char* reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 413:
      return "Content Too Large";
    case 422:
      return "Unprocessable Content";
    case 500:
      return "Internal Server Error";
    default:
      return "Unknown";
  }
}

}  // namespace

Result<MetricsServer> MetricsServer::listen(const std::string& address, std::uint16_t port,
                                            const ServerLimits& limits,
                                            const ListenPurpose& purpose) {
  const std::string where = fmt::format("{}:{}", address, port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (const int rc = ::getaddrinfo(address.c_str(), service.c_str(), &hints, &found); rc != 0) {
    return Error{fmt::format("cannot resolve the {} address {}: {}", purpose.what, address,
                             ::gai_strerror(rc)),
                 0, "  give a numeric address such as 127.0.0.1, 0.0.0.0 or [::1]"};
  }
  MetricsServer s;
  s.limits_ = limits;
  int last_errno = 0;
  for (addrinfo* ai = found; ai != nullptr && !s.listener_; ai = ai->ai_next) {
    UniqueFd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
      last_errno = errno;
      continue;
    }
    const int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd.get(), 128) != 0) {
      last_errno = errno;
      continue;
    }
    s.listener_ = std::move(fd);
  }
  ::freeaddrinfo(found);
  if (!s.listener_) {
    return Error{"cannot listen on " + where + " for " + purpose.what, last_errno,
                 listen_hint(last_errno, address, port, purpose)};
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

std::size_t MetricsServer::buffered_bytes() const {
  std::size_t n = 0;
  for (const auto& c : connections_) n += c.in.size() + c.out.size();
  return n;
}

// Reading stops while the replies pile up (or the client has closed its side); writing is watched
// while there is something to send.
void MetricsServer::watch(Connection& c) {
  epoll_event ev{};
  const bool backlogged = c.out.size() - c.sent >= limits_.max_queued_bytes;
  ev.events = (backlogged || c.peer_closed ? 0u : EPOLLIN | EPOLLRDHUP) |
              (c.sent < c.out.size() ? EPOLLOUT : 0u);
  ev.data.fd = c.fd.get();
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, c.fd.get(), &ev) != 0) {
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, c.fd.get(), &ev);
  }
}

void MetricsServer::drop(std::size_t index) {
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, connections_[index].fd.get(), nullptr);
  connections_.erase(connections_.begin() + static_cast<std::ptrdiff_t>(index));
}

// Every slot taken: the connection that has gone longest without a complete request goes (one
// with a reply on its way last), so a few slow or silent clients cannot lock everyone else out.
void MetricsServer::evict_slowest() {
  const auto slowest =
      std::min_element(connections_.begin(), connections_.end(), [](const auto& a, const auto& b) {
        const bool a_busy = a.sent < a.out.size(), b_busy = b.sent < b.out.size();
        return a_busy != b_busy ? !a_busy : a.last_request < b.last_request;
      });
  drop(static_cast<std::size_t>(slowest - connections_.begin()));
}

void MetricsServer::accept_all(Clock::time_point now) {
  while (true) {
    UniqueFd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) return;  // EAGAIN, or a connection that went away first
    if (connections_.size() >= limits_.max_connections) evict_slowest();
    Connection c;
    c.fd = std::move(fd);
    c.last_active = c.last_request = now;
    connections_.push_back(std::move(c));
    watch(connections_.back());
    // A request sent with the connect is answered now, before a later arrival could evict it.
    if (!on_readable(connections_.back(), now)) drop(connections_.size() - 1);
  }
}

void MetricsServer::answer(Connection& c, std::string_view head) {
  ++requests_;
  const std::string_view line = trim(head.substr(0, head.find('\n')));
  const auto sp1 = line.find(' ');
  const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  std::string_view method, target, version = "HTTP/1.0";
  if (sp2 != std::string_view::npos) {
    method = line.substr(0, sp1);
    target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    version = line.substr(sp2 + 1);
  }
  const auto connection = header_values(head, "connection");
  const std::string wanted = connection.empty() ? "" : lower(connection.front());
  c.close_after = version == "HTTP/1.1" ? wanted == "close" : wanted != "keep-alive";
  const std::string_view path = target.substr(0, target.find('?'));
  const std::string_view query =
      path.size() < target.size() ? target.substr(path.size() + 1) : std::string_view();
  const auto lengths = header_values(head, "content-length");

  int status = 200;
  const char* reason = "OK";
  const char* type = kExpositionContentType;
  std::string_view body = metrics_;
  std::string extra;
  auto refuse = [&](const char* why) {
    status = 400, reason = "Bad Request", type = "text/plain", body = why;
    c.close_after = true;  // the body that may follow cannot be told from the next request
  };
  if (method.empty() || version.substr(0, 5) != "HTTP/") {
    refuse("bad request\n");
  } else if (!header_values(head, "transfer-encoding").empty()) {
    refuse("no request body expected (Transfer-Encoding)\n");
  } else if (lengths.size() > 1) {
    refuse("Content-Length given more than once\n");
  } else if (!lengths.empty() && lengths.front() != "0") {
    refuse("no request body expected\n");
  } else if (method != "GET" && method != "HEAD") {
    status = 405, reason = "Method Not Allowed", type = "text/plain", body = "only GET and HEAD\n";
    extra = "Allow: GET, HEAD\r\n";
  } else if (handler_) {
    const auto hosts = header_values(head, "host");
    HttpReply reply = handler_({method, path, query, hosts.empty() ? "" : hosts.front()});
    fmt::format_to(std::back_inserter(c.out),
                   "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}{}\r\n",
                   reply.status, reason_phrase(reply.status), reply.content_type, reply.body.size(),
                   reply.headers, c.close_after ? "Connection: close\r\n" : "");
    if (method != "HEAD") c.out += reply.body;
    return;
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

void MetricsServer::answer_buffered(Connection& c, Clock::time_point now) {
  bool answered = false;
  while (!c.close_after && c.out.size() - c.sent < limits_.max_queued_bytes) {
    // Blank lines before a request line are allowed (RFC 9112 2.2).
    const std::size_t text = c.in.find_first_not_of("\r\n");
    c.in.erase(0, text == std::string::npos ? c.in.size() : text);
    const auto end = find_head_end(c.in);
    if (!end) {
      if (c.in.size() > kMaxRequestHead) {
        c.out +=
            "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n"
            "Connection: close\r\n\r\n";
        c.close_after = true;
      }
      break;
    }
    answer(c, std::string_view(c.in).substr(0, end->first));
    c.in.erase(0, end->second);
    c.last_request = now;
    answered = true;
  }
  if (c.close_after) c.in.clear();
  if (answered || c.in.empty()) c.head_started.reset();
  if (!c.in.empty() && !c.head_started && !find_head_end(c.in)) c.head_started = now;
}

bool MetricsServer::on_readable(Connection& c, Clock::time_point now) {
  char buffer[8192];
  while (c.in.size() <= kMaxRequestHead) {
    const ssize_t n = ::recv(c.fd.get(), buffer, sizeof buffer, 0);
    if (n == 0) {  // the client is done sending; answer what it sent, then close
      c.peer_closed = true;
      break;
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return false;
    }
    c.in.append(buffer, static_cast<std::size_t>(n));
    c.last_active = now;
  }
  answer_buffered(c, now);
  return flush(c, now);
}

bool MetricsServer::flush(Connection& c, Clock::time_point now) {
  while (true) {
    while (c.sent < c.out.size()) {
      const ssize_t n =
          ::send(c.fd.get(), c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK) return false;
        c.out.erase(0, c.sent);  // what a slow reader has taken is not kept while it reads on
        c.sent = 0;
        watch(c);
        return true;
      }
      c.sent += static_cast<std::size_t>(n);
      c.last_active = now;
    }
    c.out.clear();
    c.sent = 0;
    if (c.close_after) return false;
    // Requests that waited for the replies before them to leave.
    answer_buffered(c, now);
    if (c.out.empty()) break;
  }
  if (c.peer_closed) return false;  // everything it sent is answered
  watch(c);
  return true;
}

void MetricsServer::expire(Clock::time_point now) {
  for (std::size_t i = connections_.size(); i-- > 0;) {
    const auto& c = connections_[i];
    const bool late_head = c.head_started && now - *c.head_started > limits_.head_deadline;
    if (late_head || now - c.last_active > limits_.idle_timeout) drop(i);
  }
}

void MetricsServer::serve() {
  epoll_event events[16];
  const auto now = Clock::now();
  while (true) {
    const int n = ::epoll_wait(epoll_.get(), events, 16, 0);
    if (n <= 0) break;
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == listener_.get()) {
        accept_all(now);
        continue;
      }
      auto it = std::find_if(connections_.begin(), connections_.end(),
                             [fd](const Connection& c) { return c.fd.get() == fd; });
      if (it == connections_.end()) continue;
      bool keep = true;
      if (events[i].events & (EPOLLERR | EPOLLHUP)) {
        keep = false;
      } else {
        if (events[i].events & EPOLLOUT) keep = flush(*it, now);
        if (keep && (events[i].events & (EPOLLIN | EPOLLRDHUP))) keep = on_readable(*it, now);
      }
      if (!keep) drop(static_cast<std::size_t>(it - connections_.begin()));
    }
    if (n < 16) break;
  }
  expire(now);
}

}  // namespace perfscope::monitor
