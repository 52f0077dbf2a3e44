#include "serve/web_app.hpp"

#include <arpa/inet.h>

#include <algorithm>

#include "serve/web_files.hpp"

namespace perfscope::serve {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return out;
}

std::string_view content_type(std::string_view name) {
  if (name.ends_with(".html")) return "text/html; charset=utf-8";
  if (name.ends_with(".js")) return "text/javascript; charset=utf-8";
  if (name.ends_with(".css")) return "text/css; charset=utf-8";
  return "application/octet-stream";
}

// Every answer: nothing is cached (the profile is the same, but a new serve may show another one
// on the same port), and the page may load nothing from anywhere but this server.
constexpr const char* kHeaders =
    "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
    "Content-Security-Policy: default-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'\r\n";

}  // namespace

bool host_allowed(std::string_view host, const std::vector<std::string>& names) {
  if (host.empty()) return true;         // HTTP/1.0: no Host, no name to rebind
  if (host.front() == '[') return true;  // an IPv6 address
  const std::string name = lower(host.substr(0, host.rfind(':')));
  in_addr a4{};
  if (::inet_pton(AF_INET, name.c_str(), &a4) == 1) return true;
  if (name == "localhost") return true;
  return std::any_of(names.begin(), names.end(),
                     [&](const std::string& n) { return lower(n) == name; });
}

WebApp::WebApp(ProfileApi api, std::vector<std::string> host_names)
    : api_(std::move(api)), host_names_(std::move(host_names)) {}

monitor::HttpReply WebApp::operator()(const monitor::HttpRequest& r) {
  if (!host_allowed(r.host, host_names_)) {
    return {403, "text/plain; charset=utf-8",
            "perfscope serve answers requests for this machine's addresses and names only\n",
            kHeaders};
  }
  if (r.path.starts_with("/api/")) {
    ApiReply a = api_.answer(r.path.substr(5), QueryString(r.query));
    return {a.status, "application/json", std::move(a.json), kHeaders};
  }
  const std::string_view name = r.path == "/" ? std::string_view("index.html") : r.path.substr(1);
  for (const web::File& f : web::kFiles) {
    if (f.name == name) {
      return {200, std::string(content_type(name)), std::string(f.bytes), kHeaders};
    }
  }
  return {404, "text/plain; charset=utf-8", "not found: the page is at /\n", kHeaders};
}

}  // namespace perfscope::serve
