#include "core/text_escape.hpp"

#include <fmt/format.h>

#include <iterator>

namespace perfscope {

std::size_t utf8_length(std::string_view s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  std::size_t n = 0;
  if (c < 0x80) return 1;
  if ((c & 0xe0) == 0xc0 && c >= 0xc2)
    n = 2;
  else if ((c & 0xf0) == 0xe0)
    n = 3;
  else if ((c & 0xf8) == 0xf0 && c <= 0xf4)
    n = 4;
  else
    return 0;
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return 0;
  }
  return n;
}

namespace {

// Copies each valid multi-byte UTF-8 sequence as it is, writes '?' for each invalid byte, and
// hands every single-byte character to `ascii`, which escapes it.
template <typename Ascii>
void append_utf8(std::string& out, std::string_view s, Ascii ascii) {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_length(s, i);
    if (n == 0) {
      out += '?';
      ++i;
    } else if (n > 1) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      ascii(static_cast<unsigned char>(s[i]));
      ++i;
    }
  }
}

}  // namespace

void append_xml(std::string& out, std::string_view s) {
  append_utf8(out, s, [&out](unsigned char c) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c < 0x20 || c == 0x7f ? '?' : static_cast<char>(c);
    }
  });
}

std::string xml(std::string_view s) {
  std::string out;
  append_xml(out, s);
  return out;
}

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  append_utf8(out, s, [&out](unsigned char c) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f || c == '<' || c == '>' || c == '&') {
          fmt::format_to(std::back_inserter(out), "\\u{:04x}", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  });
  out += '"';
}

}  // namespace perfscope
