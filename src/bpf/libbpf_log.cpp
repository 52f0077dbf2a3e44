#include "bpf/libbpf_log.hpp"

#include <bpf/libbpf.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <string_view>
#include <vector>

namespace perfscope::bpf {
namespace {

thread_local std::string libbpf_log;

int keep_libbpf_output(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char line[1024];
  const int n = std::vsnprintf(line, sizeof(line), format, args);
  if (n > 0) {
    libbpf_log.append(line, std::min<std::size_t>(static_cast<std::size_t>(n), sizeof(line) - 1));
    if (libbpf_log.size() > 16384) libbpf_log.erase(0, libbpf_log.size() - 16384);
  }
  return 0;
}

}  // namespace

std::string libbpf_tail() {
  std::vector<std::string_view> lines;
  std::string_view rest = libbpf_log;
  while (!rest.empty()) {
    const auto eol = rest.find('\n');
    lines.push_back(rest.substr(0, eol));
    rest = eol == std::string_view::npos ? std::string_view{} : rest.substr(eol + 1);
  }
  std::string out;
  const std::size_t from = lines.size() > 6 ? lines.size() - 6 : 0;
  for (std::size_t i = from; i < lines.size(); ++i) {
    if (!lines[i].empty()) out += fmt::format("\n  libbpf: {}", lines[i]);
  }
  return out;
}

void capture_libbpf_output() {
  libbpf_set_print(keep_libbpf_output);
  libbpf_log.clear();
}

}  // namespace perfscope::bpf
