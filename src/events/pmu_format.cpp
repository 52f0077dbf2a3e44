#include "events/pmu_format.hpp"

#include <charconv>

#include "core/files.hpp"

namespace perfscope::events {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\n' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

bool parse_u64(std::string_view s, std::uint64_t& out) {
  int base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    s.remove_prefix(2);
    base = 16;
  }
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size();
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

Status apply_terms(const std::string& pmu_dir, const std::string& pmu_name, std::string_view terms,
                   std::uint64_t config[3], int depth) {
  std::string_view rest = trim(terms);
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string_view term = trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    if (term.empty()) continue;
    const auto eq = term.find('=');
    const std::string key(trim(term.substr(0, eq)));
    std::uint64_t value = 1;
    if (eq != std::string_view::npos && !parse_u64(trim(term.substr(eq + 1)), value)) {
      return Error{"invalid value in '" + std::string(term) + "' for PMU " + pmu_name, 0,
                   "  values are decimal or 0x-prefixed hexadecimal numbers"};
    }
    if (key == "config" || key == "config1" || key == "config2") {
      config[key == "config" ? 0 : key[6] - '0'] = value;
      continue;
    }
    if (key == "name") continue;
    const std::string format_path = pmu_dir + "/format/" + key;
    if (auto fmt = read_text_file(format_path)) {
      auto field = parse_format_field(*fmt);
      if (!field) return field.error();
      if (auto st = apply_format_field(*field, value, config); !st) {
        return Error{"value of '" + std::string(term) + "' does not fit PMU " + pmu_name +
                         " field " + key + " (" + std::string(trim(*fmt)) + ")",
                     0,
                     {}};
      }
      continue;
    }
    // Not a format term: maybe a named event of this PMU (events/<key>).
    if (eq == std::string_view::npos && depth == 0) {
      if (auto alias = read_text_file(pmu_dir + "/events/" + key)) {
        if (auto st = apply_terms(pmu_dir, pmu_name, *alias, config, depth + 1); !st) return st;
        continue;
      }
    }
    std::vector<std::string> known;
    if (auto f = list_directory(pmu_dir + "/format")) known = *f;
    std::vector<std::string> named;
    if (auto e = list_directory(pmu_dir + "/events")) named = *e;
    std::string hint = "  terms of " + pmu_name + ": " + (known.empty() ? "(none)" : join(known)) +
                       ", config, config1, config2";
    if (!named.empty()) hint += "\n  named events of " + pmu_name + ": " + join(named);
    return Error{"unknown term '" + key + "' for PMU " + pmu_name, 0, hint};
  }
  return {};
}

}  // namespace

Result<FormatField> parse_format_field(std::string_view text) {
  text = trim(text);
  const auto colon = text.find(':');
  const auto bad = [&] {
    return Error{"invalid PMU format '" + std::string(text) + "'", 0,
                 "  expected config[12]:LOW-HIGH[,BIT...]"};
  };
  if (colon == std::string_view::npos) return bad();
  const std::string_view target = text.substr(0, colon);
  FormatField field;
  if (target == "config")
    field.config_index = 0;
  else if (target == "config1")
    field.config_index = 1;
  else if (target == "config2")
    field.config_index = 2;
  else
    return bad();
  std::string_view rest = text.substr(colon + 1);
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    const auto dash = item.find('-');
    std::uint64_t lo = 0, hi = 0;
    if (!parse_u64(item.substr(0, dash), lo)) return bad();
    hi = lo;
    if (dash != std::string_view::npos && !parse_u64(item.substr(dash + 1), hi)) return bad();
    if (hi < lo || hi > 63) return bad();
    field.ranges.push_back({static_cast<int>(lo), static_cast<int>(hi)});
  }
  if (field.ranges.empty()) return bad();
  return field;
}

Status apply_format_field(const FormatField& field, std::uint64_t value, std::uint64_t config[3]) {
  std::uint64_t& target = config[field.config_index];
  for (const auto& r : field.ranges) {
    const int width = r.high - r.low + 1;
    const std::uint64_t mask = width == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << width) - 1;
    target = (target & ~(mask << r.low)) | ((value & mask) << r.low);
    value = width == 64 ? 0 : value >> width;
  }
  if (value != 0) return Error{"value too large for PMU field", EINVAL, {}};
  return {};
}

Result<PmuEncoding> encode_pmu_terms(const std::string& pmu_dir, const std::string& pmu_name,
                                     std::string_view terms) {
  auto type = read_int_file(pmu_dir + "/type");
  if (!type) {
    return Error{"unknown PMU '" + pmu_name + "'", 0, {}};
  }
  PmuEncoding enc;
  enc.type = static_cast<std::uint32_t>(*type);
  if (auto st = apply_terms(pmu_dir, pmu_name, terms, enc.config, 0); !st) return st.error();
  return enc;
}

}  // namespace perfscope::events
