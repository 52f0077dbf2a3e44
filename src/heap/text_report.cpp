#include "heap/text_report.hpp"

#include <algorithm>
#include <array>
#include <functional>

#include <fmt/format.h>

namespace perfscope::heap {

std::string group_digits(std::uint64_t n);

namespace {

std::string base_name(std::string_view path) {
  const auto slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

std::string seconds(std::int64_t ns) {
  return fmt::format("{:.3f} s", static_cast<double>(ns) / 1e9);
}

std::string origin_text(const ProcessImage& img) {
  switch (img.origin) {
    case ImageOrigin::command:
      return "the command";
    case ImageOrigin::forked:
      return fmt::format("fork child of pid {}", img.parent_pid);
    case ImageOrigin::execed:
      return "a program exec'd by the process before it";
    case ImageOrigin::spawned:
      return fmt::format("started by pid {}", img.parent_pid);
    case ImageOrigin::attached:
      return "attached to while running";
  }
  return "";
}

std::string end_text(const ProcessImage& img) {
  switch (img.end) {
    case ImageEnd::running:
      return "ended without a word (killed, or still running)";
    case ImageEnd::exit:
      return "exited";
    case ImageEnd::quick_exit:
      return fmt::format("called _exit({})", img.end_detail);
    case ImageEnd::signal:
      return fmt::format("died of signal {}", img.end_detail);
    case ImageEnd::exec:
      return "replaced itself with exec";
    case ImageEnd::detached:
      return "detached from, still running";
  }
  return "";
}

std::string percent(std::uint64_t part, std::uint64_t whole) {
  if (whole == 0) return "0.0%";
  return fmt::format("{:.1f}%", 100.0 * static_cast<double>(part) / static_cast<double>(whole));
}

std::string blocks_text(std::uint64_t n) {
  return fmt::format("{} block{}", group_digits(n), n == 1 ? "" : "s");
}

struct Column {
  const char* title;
  std::function<std::uint64_t(const SiteStats&)> weight;  // what ranks the rows
  std::function<std::uint64_t(const SiteStats&)> blocks;
  bool bytes;  // weight is bytes (else a count)
  std::uint64_t total;
};

void table(std::string& out, const ProcessImage& img, const profile::Profile& p,
           const std::vector<std::int64_t>& samples, const Column& c, const TextReportOptions& o) {
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < img.sites.size(); ++i) {
    if (c.weight(img.sites[i]) > 0) order.push_back(i);
  }
  if (order.empty()) return;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return c.weight(img.sites[a]) > c.weight(img.sites[b]);
  });
  out += fmt::format("\n{}\n", c.title);
  const std::size_t n = o.top == 0 ? order.size() : std::min(order.size(), o.top);
  for (std::size_t r = 0; r < n; ++r) {
    const SiteStats& st = img.sites[order[r]];
    const std::uint64_t w = c.weight(st);
    const std::string amount = c.bytes ? format_size(w) : group_digits(w);
    const std::string blocks = c.bytes ? " in " + blocks_text(c.blocks(st)) : "";
    out += fmt::format("  {:>2}. {}{} ({})\n", r + 1, amount, blocks, percent(w, c.total));
    const std::int64_t si = order[r] < samples.size() ? samples[order[r]] : -1;
    if (si >= 0) {
      out += fmt::format("      {}\n",
                         stack_line(p, p.samples()[static_cast<std::size_t>(si)], o.max_frames));
    }
  }
  if (order.size() > n) out += fmt::format("      ... and {} more sites\n", order.size() - n);
}

}  // namespace

std::string group_digits(std::uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string format_size(std::uint64_t bytes) {
  if (bytes < 1024) return fmt::format("{} B", bytes);
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes) / 1024.0;
  std::size_t u = 0;
  while (v >= 1024.0 && u + 1 < std::size(kUnits)) {
    v /= 1024.0;
    ++u;
  }
  return fmt::format("{:.1f} {} ({} B)", v, kUnits[u], group_digits(bytes));
}

std::string stack_line(const profile::Profile& p, const profile::Sample& s,
                       std::size_t max_frames) {
  std::vector<std::string> names;
  for (const auto id : s.location_ids) {
    for (const auto& line : p.location(id).lines) {
      const auto& fn = p.function(line.function_id);
      std::string name(p.string(fn.name));
      const auto file = p.string(fn.filename);
      if (!file.empty() && line.line > 0) {
        name += fmt::format(" ({}:{})", base_name(file), line.line);
      }
      names.push_back(std::move(name));
    }
  }
  std::string out;
  const std::size_t n = std::min(names.size(), max_frames);
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0) out += " < ";
    out += names[i];
  }
  if (names.size() > n) out += fmt::format(" < ... ({} more)", names.size() - n);
  if (names.empty()) out = "(no stack)";
  return out;
}

std::string heap_text_report(const std::vector<ProcessImage>& images, const profile::Profile& p,
                             const std::vector<std::vector<std::int64_t>>& sample_of_site,
                             const TextReportOptions& o) {
  std::string out;
  for (std::size_t i = 0; i < images.size(); ++i) {
    const ProcessImage& img = images[i];
    const auto& samples =
        i < sample_of_site.size() ? sample_of_site[i] : std::vector<std::int64_t>{};
    const std::int64_t run =
        img.end_ns > img.start_ns ? static_cast<std::int64_t>(img.end_ns - img.start_ns) : 0;
    if (i > 0) out += '\n';
    out += fmt::format("== pid {} {} ({}): {} after {} ==\n", img.pid, base_name(img.exe),
                       origin_text(img), end_text(img), seconds(run));
    std::array<std::uint64_t, kLeakKinds> leak_bytes{}, leak_blocks{};
    for (const auto& st : img.sites) {
      for (std::size_t k = 0; k < leak_bytes.size(); ++k) {
        leak_bytes[k] += st.leak_bytes[k];
        leak_blocks[k] += st.leak_count[k];
      }
    }
    out += fmt::format("Allocations:      {} calls, {} requested\n", group_digits(img.allocations),
                       format_size(img.bytes_allocated));
    out += fmt::format("Frees:            {}\n", group_digits(img.frees));
    out += fmt::format("Temporary:        {} allocations freed right after ({} of all)\n",
                       group_digits(img.temporary), percent(img.temporary, img.allocations));
    out += fmt::format("Peak heap:        {} at {}\n", format_size(img.peak_bytes),
                       seconds(img.peak_time_ns));
    if (img.peak_snapshot_bytes != img.peak_bytes) {
      out += fmt::format(
          "                  (sites at peak measured at {}: the heap crept up in "
          "steps under 0.5%)\n",
          format_size(img.peak_snapshot_bytes));
    }
    if (img.missing_events > 0) {
      out += fmt::format(
          "                  ({} events never arrived (a batch lost when the process was "
          "killed?): the order around them is assumed)\n",
          group_digits(img.missing_events));
    }
    if (img.bad_stack_ids > 0) {
      out += fmt::format(
          "                  ({} stack definitions with an impossible id were left out: the "
          "tracker's stream was corrupt)\n",
          group_digits(img.bad_stack_ids));
    }
    out += fmt::format("Not freed at end: {} in {}\n", format_size(img.current_bytes),
                       blocks_text(img.current_blocks));
    if (img.reachability == Reachability::classified) {
      // memcheck's LEAK SUMMARY order.
      for (const LeakKind k : {LeakKind::definitely_lost, LeakKind::indirectly_lost,
                               LeakKind::possibly_lost, LeakKind::still_reachable}) {
        const auto ki = static_cast<std::size_t>(k);
        out += fmt::format("  {}: {} in {}\n", leak_kind_name(k), format_size(leak_bytes[ki]),
                           blocks_text(leak_blocks[ki]));
      }
    } else if (img.current_blocks > 0) {
      out += fmt::format("  reachability not checked: {}\n", img.reachability_note);
    }
    if (img.unknown_frees > 0) {
      out += fmt::format("Unmatched frees:  {} (memory this image did not allocate{})\n",
                         group_digits(img.unknown_frees),
                         img.origin == ImageOrigin::forked     ? ": inherited from the parent"
                         : img.origin == ImageOrigin::attached ? ": allocated before attaching"
                                                               : "");
    }
    table(out, img, p, samples,
          {"Heap at peak by allocation site (inuse_space):",
           [](const SiteStats& s) { return s.peak_bytes; },
           [](const SiteStats& s) { return s.peak_count; }, true, img.peak_snapshot_bytes},
          o);
    table(
        out, img, p, samples,
        {"Bytes allocated by site (alloc_space):", [](const SiteStats& s) { return s.alloc_bytes; },
         [](const SiteStats& s) { return s.alloc_count; }, true, img.bytes_allocated},
        o);
    table(out, img, p, samples,
          {"Allocation calls by site (alloc_objects):",
           [](const SiteStats& s) { return s.alloc_count; },
           [](const SiteStats& s) { return s.alloc_count; }, false, img.allocations},
          o);
    table(out, img, p, samples,
          {"Temporary allocations by site (freed right after):",
           [](const SiteStats& s) { return s.temporary_count; },
           [](const SiteStats& s) { return s.temporary_count; }, false, img.allocations},
          o);
    if (img.reachability == Reachability::classified) {
      const auto leak_table = [&](const char* title, LeakKind k) {
        table(out, img, p, samples,
              {title, [k](const SiteStats& s) { return s.leaked(k); },
               [k](const SiteStats& s) { return s.leaked_blocks(k); }, true,
               leak_bytes[static_cast<std::size_t>(k)]},
              o);
      };
      leak_table("Leaks: never freed and unreachable (definitely lost):",
                 LeakKind::definitely_lost);
      leak_table("Indirectly lost: unreachable, pointed to only by lost blocks:",
                 LeakKind::indirectly_lost);
      leak_table("Possibly lost: reached only through a pointer into the middle of a block:",
                 LeakKind::possibly_lost);
      leak_table("Never freed but still reachable at exit:", LeakKind::still_reachable);
    } else {
      table(out, img, p, samples,
            {"Never freed (reachability not checked):",
             [](const SiteStats& s) { return s.live_bytes; },
             [](const SiteStats& s) { return s.live_count; }, true, img.current_bytes},
            o);
    }
  }
  return out;
}

}  // namespace perfscope::heap
