// WebApp: what `perfscope serve` answers, path by path: the page's files (web/serve/, embedded in
// the binary) at "/" and "/NAME", and ProfileApi's JSON under "/api/". Plugged into monitor's
// HTTP server with set_handler().
//
// A page on some web site could make the browser ask a name it controls that it then points at
// 127.0.0.1 (DNS rebinding) and read the profile: requests whose Host is a name other than
// localhost, this machine's host name or one the server was bound to are refused (403). Addresses
// (127.0.0.1:8080, [::1]:8080) are always accepted.
#pragma once

#include <string>
#include <vector>

#include "monitor/http_server.hpp"
#include "serve/profile_api.hpp"

namespace perfscope::serve {

class WebApp {
 public:
  // `host_names`: further names the Host header may carry (the --bind name, the host name).
  WebApp(ProfileApi api, std::vector<std::string> host_names);

  monitor::HttpReply operator()(const monitor::HttpRequest& request);

 private:
  ProfileApi api_;
  std::vector<std::string> host_names_;
};

// Whether a Host header names an address, localhost or one of `names` (case-insensitive, any
// port).
bool host_allowed(std::string_view host, const std::vector<std::string>& names);

}  // namespace perfscope::serve
