#include "monitor/config.hpp"

#include <fmt/format.h>

#include <toml++/toml.h>
#include <algorithm>

#include "core/files.hpp"
#include "events/suggest.hpp"
#include "monitor/duration.hpp"

namespace perfscope::monitor {
namespace {

const char* type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    default:
      return "nothing";
  }
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// Reads one table of keys; every error names source:line and the dotted key.
class TableReader {
 public:
  TableReader(const std::string& source, std::string prefix, MonitorConfig& config,
              const events::ParseContext& ctx)
      : source_(source), prefix_(std::move(prefix)), config_(config), ctx_(ctx) {}

  Error error_at(const toml::source_region& where, const std::string& key, const std::string& what,
                 std::string hint) const {
    return Error{fmt::format("{}:{}: {}{}: {}", source_, where.begin.line, prefix_, key, what), 0,
                 std::move(hint)};
  }

  Status unknown_key(const toml::key& key, const std::vector<std::string>& valid) const {
    auto near = events::closest_names(key.str(), valid, 1);
    std::string hint = "  valid keys here: " + join(valid);
    if (!near.empty()) hint = fmt::format("  did you mean {}?\n{}", near.front(), hint);
    return error_at(key.source(), std::string(key.str()), "unknown key", hint);
  }

  Status duration(const std::string& key, const toml::node& node,
                  std::optional<std::chrono::nanoseconds>& out) const {
    const auto* text = node.as_string();
    if (text == nullptr) {
      return error_at(
          node.source(), key,
          fmt::format("expected a duration string such as \"1s\" or \"500ms\", found {}",
                      type_name(node)),
          fmt::format("  write it quoted: {} = \"1s\"", key));
    }
    auto d = parse_setting(text->get(), key != "duration");
    if (!d) return error_at(node.source(), key, d.error().message(), d.error().hint);
    out = *d;
    return {};
  }

  Status boolean(const std::string& key, const toml::node& node, std::optional<bool>& out) const {
    const auto* b = node.as_boolean();
    if (b == nullptr) {
      return error_at(node.source(), key,
                      fmt::format("expected true or false, found {}", type_name(node)),
                      fmt::format("  {} = true", key));
    }
    out = b->get();
    return {};
  }

  // An array of strings, each parsed as an event list. `kind`: the kind every event must have
  // (hardware_events, software_events, cache_events), or nullopt for `events`.
  Status event_list(const std::string& key, const toml::node& node,
                    std::optional<events::EventKind> kind) const {
    const auto* array = node.as_array();
    if (array == nullptr) {
      return error_at(node.source(), key,
                      fmt::format("expected an array of event names, found {}", type_name(node)),
                      fmt::format("  {} = [\"PAGE_FAULTS\", \"CONTEXT_SWITCHES\"]", key));
    }
    for (const auto& element : *array) {
      const auto* text = element.as_string();
      if (text == nullptr) {
        return error_at(
            element.source(), key,
            fmt::format("expected an event name (a string), found {}", type_name(element)),
            "  quote each name: \"PAGE_FAULTS\"");
      }
      auto groups = events::parse_event_list(text->get(), ctx_);
      if (!groups) {
        return error_at(element.source(), key, groups.error().message(),
                        groups.error().hint.empty()
                            ? "  `perfscope list` shows every event this machine knows"
                            : groups.error().hint);
      }
      if (kind) {
        for (const auto& g : *groups) {
          for (const auto& spec : g.events) {
            if (spec.kind != *kind) {
              return error_at(element.source(), key,
                              fmt::format("\"{}\" is a {} event, not a {} one", text->get(),
                                          events::kind_name(spec.kind), events::kind_name(*kind)),
                              fmt::format("  move it to {}_events, or list it under `events`",
                                          events::kind_name(spec.kind)));
            }
          }
        }
      }
      config_.events.push_back({std::string(text->get()), prefix_ + key,
                                static_cast<int>(element.source().begin.line), std::move(*groups)});
    }
    return {};
  }

  Status outputs(const std::string& key, const toml::node& node) const {
    const auto* array = node.as_array();
    if (array == nullptr) {
      return error_at(node.source(), key,
                      fmt::format("expected an array of outputs, found {}", type_name(node)),
                      "  outputs = [\"csv:counts.csv\", \"prometheus:127.0.0.1:9464\"]");
    }
    for (const auto& element : *array) {
      const auto* text = element.as_string();
      if (text == nullptr) {
        return error_at(element.source(), key,
                        fmt::format("expected an output (a string), found {}", type_name(element)),
                        "  outputs = [\"jsonl:-\"]");
      }
      auto spec = parse_output_spec(text->get());
      if (!spec) return error_at(element.source(), key, spec.error().message(), spec.error().hint);
      config_.outputs.push_back(std::move(*spec));
    }
    return {};
  }

 private:
  const std::string& source_;
  std::string prefix_;
  MonitorConfig& config_;
  const events::ParseContext& ctx_;
};

// The keys both forms share; false when `key` is not one of them.
Result<bool> read_common(const TableReader& reader, MonitorConfig& config, const std::string& key,
                         const toml::node& node) {
  Status st;
  if (key == "poll_interval") {
    st = reader.duration(key, node, config.poll_interval);
  } else if (key == "flush_interval") {
    st = reader.duration(key, node, config.flush_interval);
  } else if (key == "hardware_events") {
    st = reader.event_list(key, node, events::EventKind::hardware);
  } else if (key == "software_events") {
    st = reader.event_list(key, node, events::EventKind::software);
  } else if (key == "cache_events") {
    st = reader.event_list(key, node, events::EventKind::cache);
  } else {
    return false;
  }
  if (!st) return st.error();
  return true;
}

}  // namespace

Result<MonitorConfig> parse_config(std::string_view text, const std::string& source,
                                   const events::ParseContext& ctx) {
  MonitorConfig config;
  config.path = source;
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    return Error{
        fmt::format("{}:{}: not valid TOML: {}", source, e.source().begin.line, e.description()), 0,
        "  see https://toml.io for the syntax"};
  }

  if (const auto* plugins_node = root.get("plugins")) {
    // An Alumet configuration: only [plugins.perf] is ours.
    config.alumet = true;
    const auto* plugins = plugins_node->as_table();
    const toml::node* perf_node = plugins != nullptr ? plugins->get("perf") : nullptr;
    if (perf_node == nullptr || perf_node->as_table() == nullptr) {
      return Error{fmt::format("{}:{}: no [plugins.perf] table in this Alumet configuration",
                               source, plugins_node->source().begin.line),
                   0,
                   "  add one:\n  [plugins.perf]\n  poll_interval = \"1s\"\n  flush_interval = "
                   "\"1s\"\n  software_events = [\"PAGE_FAULTS\"]"};
    }
    static const std::vector<std::string> kAlumetKeys{"enable",          "poll_interval",
                                                      "flush_interval",  "hardware_events",
                                                      "software_events", "cache_events"};
    TableReader reader(source, "plugins.perf.", config, ctx);
    for (const auto& [key, node] : *perf_node->as_table()) {
      const std::string k(key.str());
      if (k == "enable") {
        std::optional<bool> enabled;
        if (auto st = reader.boolean(k, node, enabled); !st) return st.error();
        if (!*enabled) {
          return reader.error_at(node.source(), k, "the perf plugin is disabled in this file",
                                 "  set enable = true to monitor with it");
        }
        continue;
      }
      auto known = read_common(reader, config, k, node);
      if (!known) return known.error();
      if (!*known) {
        if (auto st = reader.unknown_key(key, kAlumetKeys); !st) return st.error();
      }
    }
    return config;
  }

  static const std::vector<std::string> kKeys{"events",       "hardware_events", "software_events",
                                              "cache_events", "poll_interval",   "flush_interval",
                                              "duration",     "outputs",         "strict"};
  TableReader reader(source, "", config, ctx);
  for (const auto& [key, node] : root) {
    const std::string k(key.str());
    Status st;
    if (k == "events") {
      st = reader.event_list(k, node, std::nullopt);
    } else if (k == "duration") {
      st = reader.duration(k, node, config.duration);
    } else if (k == "outputs") {
      st = reader.outputs(k, node);
    } else if (k == "strict") {
      st = reader.boolean(k, node, config.strict);
    } else {
      auto known = read_common(reader, config, k, node);
      if (!known) return known.error();
      if (!*known) st = reader.unknown_key(key, kKeys);
    }
    if (!st) return st.error();
  }
  return config;
}

Result<MonitorConfig> load_config(const std::string& path, const events::ParseContext& ctx) {
  auto text = read_text_file(path);
  if (!text) {
    const Error& e = text.error();
    std::string hint = e.errnum == ENOENT   ? "  check the path; the file must exist"
                       : e.errnum == EACCES ? "  make the file readable by this user (chmod a+r)"
                                            : "";
    return Error{"cannot read config " + path, e.errnum, std::move(hint)};
  }
  return parse_config(*text, path, ctx);
}

}  // namespace perfscope::monitor
