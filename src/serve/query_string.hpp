// The query part of a request target ("fn=main&pid=12%2C13") as decoded name/value pairs:
// '+' is a space, %XX a byte. The web UI's API reads its parameters through this.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace perfscope::serve {

class QueryString {
 public:
  // Never fails: a malformed escape ("%G1", a lone '%') is kept as written.
  explicit QueryString(std::string_view query);

  // The first value of `name`; nullopt when absent.
  std::optional<std::string> get(std::string_view name) const;
  // The first value of `name`, or "" when absent.
  std::string value(std::string_view name) const { return get(name).value_or(std::string()); }
  const std::vector<std::pair<std::string, std::string>>& pairs() const { return pairs_; }

 private:
  std::vector<std::pair<std::string, std::string>> pairs_;
};

// Percent-decodes one component ('+' as a space).
std::string url_decode(std::string_view text);

}  // namespace perfscope::serve
