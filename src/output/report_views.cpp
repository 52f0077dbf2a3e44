#include "output/report_views.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>

#include "profile/names.hpp"

namespace perfscope::output {
namespace {

double percent(std::int64_t part, std::int64_t whole) {
  return whole != 0 ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0.0;
}

// The branches under `node`: `prefix` continues the lines of the levels above.
void append_children(std::string& out, const profile::TreeNode& node, const std::string& prefix,
                     std::int64_t total) {
  for (std::size_t i = 0; i < node.children.size(); ++i) {
    const auto& child = node.children[i];
    const bool last = i + 1 == node.children.size();
    fmt::format_to(std::back_inserter(out), "{:>6.2f}%  {}{}{}\n", percent(child.total, total),
                   prefix, last ? "`- " : "|- ", profile::printable(child.name));
    append_children(out, child, prefix + (last ? "   " : "|  "), total);
  }
}

std::string cell_text(std::string_view unit, std::int64_t v) {
  if (unit == "nanoseconds") return fmt::format("{:.3f} s", static_cast<double>(v) / 1e9);
  return fmt::format("{}", v);
}

}  // namespace

std::string render_call_tree(const profile::CallTree& tree) {
  std::string out;
  for (const auto& root : tree.roots) {
    fmt::format_to(std::back_inserter(out), "{:>6.2f}%  {}  (self {:.2f}%)\n",
                   percent(root.total, tree.total), profile::printable(root.name),
                   percent(root.self, tree.total));
    append_children(out, root, "", tree.total);
    out += '\n';
  }
  return out;
}

std::string render_keyed_table(const profile::KeyedTable& table, std::string_view unit) {
  std::vector<std::size_t> widths;
  for (auto key : table.keys) widths.push_back(profile::sort_key_title(key).size());
  std::size_t weight_width = std::string_view("Samples").size();
  std::vector<std::string> weights;
  for (const auto& row : table.rows) {
    weights.push_back(cell_text(unit, row.weight));
    weight_width = std::max(weight_width, weights.back().size());
    for (std::size_t i = 0; i < row.cells.size(); ++i) {
      widths[i] = std::max(widths[i], row.cells[i].size());
    }
  }
  std::string out;
  auto append_cells = [&](auto&& text_of) {
    for (std::size_t i = 0; i < widths.size(); ++i) {
      const std::string text = text_of(i);
      // The last column is not padded: no trailing blanks.
      if (i + 1 == widths.size()) {
        out += "  " + text;
      } else {
        fmt::format_to(std::back_inserter(out), "  {:<{}}", text, widths[i]);
      }
    }
    out += '\n';
  };
  fmt::format_to(std::back_inserter(out), "{:>8}  {:>{}}", "Overhead",
                 unit == "nanoseconds" ? "Time" : "Samples", weight_width);
  append_cells([&](std::size_t i) { return std::string(profile::sort_key_title(table.keys[i])); });
  for (std::size_t r = 0; r < table.rows.size(); ++r) {
    const auto& row = table.rows[r];
    fmt::format_to(std::back_inserter(out), "{:>7.2f}%  {:>{}}", percent(row.weight, table.total),
                   weights[r], weight_width);
    append_cells([&](std::size_t i) { return row.cells[i]; });
  }
  return out;
}

std::string render_timeline(const profile::Timeline& tl) {
  std::int64_t busiest = 0;
  for (const auto& p : tl.periods) busiest = std::max(busiest, p.weight);
  std::vector<std::string> spans;
  std::size_t span_width = 6;
  for (const auto& p : tl.periods) {
    spans.push_back(fmt::format("{:.1f}-{:.1f} s", static_cast<double>(p.start_ms) / 1000.0,
                                static_cast<double>(p.end_ms) / 1000.0));
    span_width = std::max(span_width, spans.back().size());
  }
  std::string out =
      fmt::format("{:<{}}  {:>7}  {:<50}  {}\n", "Period", span_width, "Share", "", "Hottest");
  for (std::size_t i = 0; i < tl.periods.size(); ++i) {
    const auto& p = tl.periods[i];
    const auto bar = busiest > 0 ? static_cast<std::size_t>((p.weight * 50 + busiest / 2) / busiest)
                                 : std::size_t{0};
    std::string line = fmt::format("{:<{}}  {:>6.2f}%  {:<50}", spans[i], span_width,
                                   percent(p.weight, tl.total), std::string(bar, '#'));
    if (!p.hottest.empty()) {
      line += fmt::format("  {} ({:.0f}%)", profile::printable(p.hottest),
                          percent(p.hottest_weight, p.weight));
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + '\n';
  }
  if (tl.unlabelled > 0) {
    fmt::format_to(std::back_inserter(out), "(no time label: {:.2f}%)\n",
                   percent(tl.unlabelled, tl.total));
  }
  return out;
}

std::string render_annotation(const profile::Annotation& a) {
  std::string out;
  if (a.has_lines) {
    std::string file;
    for (const auto& l : a.lines) {
      if (l.file != file) {
        file = l.file;
        fmt::format_to(std::back_inserter(out), "\n{}:\n{:>7}  {:>7}  {:>6}  {}\n",
                       profile::printable(file), "Share", "Samples", "Line", "Source");
      }
      std::string line = l.weight > 0
                             ? fmt::format("{:>6.2f}%  {:>7}", percent(l.weight, a.total), l.weight)
                             : fmt::format("{:>7}  {:>7}", "", "");
      line += fmt::format("  {:>6}  {}", l.line, profile::printable(l.text));
      while (!line.empty() && line.back() == ' ') line.pop_back();
      out += line + '\n';
    }
  }
  if (!a.instructions.empty() && (!a.has_lines || !a.has_source)) {
    fmt::format_to(
        std::back_inserter(out), "\n{}:\n{:>7}  {:>7}  {:>10}  {}\n",
        a.module_path.empty() ? std::string("[unknown file]") : profile::printable(a.module_path),
        "Share", "Samples", "Address", "Instruction");
    for (const auto& ins : a.instructions) {
      const std::string where =
          ins.weight > 0 ? fmt::format("{:>6.2f}%  {:>7}", percent(ins.weight, a.total), ins.weight)
                         : fmt::format("{:>7}  {:>7}", "", "");
      std::string line =
          fmt::format("{}  {:>10x}  {}", where, ins.address != 0 ? ins.address : ins.file_offset,
                      ins.text.empty() ? std::string("(not disassembled)") : ins.text);
      out += line + '\n';
    }
  }
  return out;
}

}  // namespace perfscope::output
