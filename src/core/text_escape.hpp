// Text as the SVG, HTML and JSON writers embed it. Frame names come from binaries and input files,
// so they may hold markup characters, control characters or bytes that are not UTF-8; each of these
// would break the document around it (an SVG with one bad byte does not open at all). The functions
// here make any byte string safe for its context and never fail.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace perfscope {

// Length of the valid UTF-8 sequence starting at s[i] (1 for ASCII), or 0 when the bytes there are
// not one (a stray continuation byte, an overlong or truncated sequence).
std::size_t utf8_length(std::string_view s, std::size_t i);

// `s` as XML/HTML character data or attribute text (quotes included): & < > " ' escaped, control
// characters and invalid UTF-8 replaced by '?'.
void append_xml(std::string& out, std::string_view s);
std::string xml(std::string_view s);

// `s` as a JSON string literal, quotes included. Control characters are \u-escaped; invalid UTF-8
// becomes '?'. '<', '>' and '&' are \u-escaped as well, so the literal can sit inside an HTML
// <script> element ("</script>" in a frame name cannot end it).
void append_json_string(std::string& out, std::string_view s);

}  // namespace perfscope
