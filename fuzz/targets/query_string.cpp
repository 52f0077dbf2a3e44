// The query strings `perfscope serve`'s API reads its parameters from (serve/query_string.cpp):
// QueryString and url_decode() over any text. Decoding never grows a component, a name looked up
// gets its first value, and text with nothing to decode comes back unchanged.
#include "fuzz_support.hpp"
#include "serve/query_string.hpp"

using namespace perfscope;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = fuzz::text(data, size);
  const std::string decoded = serve::url_decode(text);
  fuzz::require(decoded.size() <= text.size(), "decoding never lengthens");
  if (text.find_first_of("%+") == std::string_view::npos) {
    fuzz::require(decoded == text, "text without escapes decodes to itself");
  }
  const serve::QueryString query(text);
  std::size_t separators = 0;
  for (const char c : text) separators += c == '&' ? 1 : 0;
  fuzz::require(query.pairs().size() <= separators + 1, "at most one pair per '&'-separated part");
  for (const auto& [name, value] : query.pairs()) {
    const auto first = query.get(name);
    fuzz::require(first.has_value(), "every decoded name is found");
    for (const auto& [other_name, other_value] : query.pairs()) {
      if (other_name == name) {
        fuzz::require(*first == other_value, "get() answers the name's first value");
        break;
      }
    }
  }
  return 0;
}
