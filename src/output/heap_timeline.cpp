#include "output/heap_timeline.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <iterator>
#include <string_view>

#include "core/text_escape.hpp"
#include "output/assets.hpp"

namespace perfscope::output {
namespace {

// 128-bit intermediates keep the scaling exact for any int64 time or size (gcc and clang both
// have the type; __extension__ keeps -Wpedantic quiet).
__extension__ using U128 = unsigned __int128;

// floor(a * b / c) for a, b >= 0 and c > 0. Callers keep a <= c or b <= c, so the result fits.
std::int64_t mul_div(std::int64_t a, std::int64_t b, std::int64_t c) {
  return static_cast<std::int64_t>(static_cast<U128>(a) * static_cast<U128>(b) /
                                   static_cast<U128>(c));
}

// The timeline as both charts draw it: points sorted by time, times clamped to [0, span] and sizes
// to >= 0, the x axis span (> 0) and the peak.
struct Prepared {
  std::vector<HeapPoint> points;
  std::int64_t span = 1;  // ns; the x axis runs from 0 to span
  std::int64_t peak_bytes = 0;
  std::int64_t peak_time_ns = 0;
};

Status check_points(const HeapTimeline& t) {
  if (t.points.empty()) {
    return Error{"the heap timeline has no points to draw", 0,
                 "  the recording saw no allocation; check that the program ran and allocated"};
  }
  return {};
}

Prepared prepare(const HeapTimeline& t) {
  Prepared p;
  p.points = t.points;
  // The header promises time order; should a caller break it, a stable sort restores it and
  // keeps points that share a time in their given order (the last is the heap after that instant).
  auto earlier = [](const HeapPoint& a, const HeapPoint& b) { return a.time_ns < b.time_ns; };
  if (!std::is_sorted(p.points.begin(), p.points.end(), earlier)) {
    std::stable_sort(p.points.begin(), p.points.end(), earlier);
  }
  for (HeapPoint& pt : p.points) {
    pt.time_ns = std::max<std::int64_t>(pt.time_ns, 0);
    pt.bytes = std::max<std::int64_t>(pt.bytes, 0);
  }
  // The axis ends at the run time, or at the last point when the run time is missing or too
  // small; an instant (all times 0) still gets a width of 1 ns.
  p.span = std::max({t.end_time_ns, p.points.back().time_ns, std::int64_t{1}});
  p.peak_bytes = std::max<std::int64_t>(t.peak_bytes, 0);
  p.peak_time_ns = std::clamp<std::int64_t>(t.peak_time_ns, 0, p.span);
  // A point above the given peak means the peak fields are stale (or unset): the first highest
  // point is the peak then.
  for (const HeapPoint& pt : p.points) {
    if (pt.bytes > p.peak_bytes) {
      p.peak_bytes = pt.bytes;
      p.peak_time_ns = pt.time_ns;
    }
  }
  return p;
}

// The column (of `columns` over [0, span]) that holds time `t`; the end belongs to the last one.
int column_of(std::int64_t t, std::int64_t span, int columns) {
  return static_cast<int>(std::min<std::int64_t>(mul_div(t, columns, span), columns - 1));
}

// The highest heap within each column, where the heap at time t is the last point at or before t
// (0 before the first point): the heap carried in from before the column, unless a point sits
// exactly on the column's first instant, and every point inside the column, so a spike shorter
// than a column still shows. The peak's column holds at least the peak, even when no point
// reaches it.
std::vector<std::int64_t> column_maxima(const Prepared& p, int columns) {
  std::vector<std::int64_t> out(static_cast<std::size_t>(columns), 0);
  std::int64_t carried = 0;
  std::size_t i = 0;
  for (int c = 0; c < columns; ++c) {
    std::int64_t v = carried;
    if (i < p.points.size()) {
      const std::int64_t t = p.points[i].time_ns;
      const bool on_first_instant =
          column_of(t, p.span, columns) == c && (t == 0 || column_of(t - 1, p.span, columns) < c);
      if (on_first_instant) v = 0;  // the carried heap holds for no time in this column
    }
    while (i < p.points.size() && column_of(p.points[i].time_ns, p.span, columns) == c) {
      v = std::max(v, p.points[i].bytes);
      carried = p.points[i].bytes;
      ++i;
    }
    out[static_cast<std::size_t>(c)] = v;
  }
  auto& at_peak = out[static_cast<std::size_t>(column_of(p.peak_time_ns, p.span, columns))];
  at_peak = std::max(at_peak, p.peak_bytes);
  return out;
}

// "512 B", "1.5 KiB", "64.0 MiB": one decimal above a KiB, and never "1024.0" of a unit.
std::string format_bytes(std::int64_t bytes) {
  if (bytes < 1024) return fmt::format("{} B", bytes);
  static constexpr std::string_view kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(bytes) / 1024.0;
  std::size_t u = 0;
  while (u + 1 < std::size(kUnits) && std::round(v * 10.0) >= 1024.0 * 10.0) {
    v /= 1024.0;
    ++u;
  }
  return fmt::format("{:.1f} {}", v, kUnits[u]);
}

// Times print in one unit per chart, chosen by the span: seconds for runs of a second or more,
// then ms, us and ns.
struct TimeUnit {
  double ns_per_unit;
  int decimals;
  std::string_view suffix;
};

TimeUnit time_unit(std::int64_t span) {
  if (span >= 1'000'000'000) return {1e9, 2, "s"};
  if (span >= 1'000'000) return {1e6, 2, "ms"};
  if (span >= 1'000) return {1e3, 2, "us"};
  return {1.0, 0, "ns"};
}

std::string format_time(std::int64_t t, const TimeUnit& u) {
  return fmt::format("{:.{}f} {}", static_cast<double>(t) / u.ns_per_unit, u.decimals, u.suffix);
}

// An x axis label: the origin is a bare "0".
std::string axis_time(std::int64_t t, const TimeUnit& u) {
  return t == 0 ? std::string("0") : format_time(t, u);
}

std::string peak_text(const Prepared& p, const TimeUnit& u) {
  return fmt::format("{} at {}", format_bytes(p.peak_bytes), format_time(p.peak_time_ns, u));
}

// ---- ASCII ----

constexpr int kLabelWidth = 10;           // "1023.9 KiB"
constexpr int kMargin = kLabelWidth + 2;  // label, a space, the axis character
constexpr int kLabelGap = 2;              // spaces at least between two x labels

// `s` for a terminal line of at most `max_chars` characters: control characters and invalid UTF-8
// become '?', and a longer text ends in "..".
std::string terminal_text(std::string_view s, std::size_t max_chars) {
  std::vector<std::string_view> chars;
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_length(s, i);
    const auto c = static_cast<unsigned char>(s[i]);
    if (n == 0 || c < 0x20 || c == 0x7f) {
      chars.emplace_back("?");
      i += 1;
    } else {
      chars.push_back(s.substr(i, n));
      i += n;
    }
  }
  std::string out;
  const bool cut = chars.size() > max_chars;
  const std::size_t keep = cut ? max_chars - 2 : chars.size();
  for (std::size_t i = 0; i < keep; ++i) out += chars[i];
  if (cut) out += "..";
  return out;
}

void append_line(std::string& out, std::string line) {
  while (!line.empty() && line.back() == ' ') line.pop_back();
  out += line;
  out += '\n';
}

// Rows of `height` a column of `v` bytes fills: rounded to nearest, at least one when v > 0.
int rows_for(std::int64_t v, std::int64_t y_max, int height) {
  if (v <= 0 || y_max <= 0) return 0;
  // floor(v * height / y_max + 1/2), in integers.
  const auto rows = static_cast<std::int64_t>(
      (static_cast<U128>(v) * static_cast<U128>(height) * 2 + static_cast<U128>(y_max)) /
      (static_cast<U128>(y_max) * 2));
  return static_cast<int>(std::clamp<std::int64_t>(rows, 1, height));
}

// The x labels under the axis: "0" at the left, the end at the right edge, and the quarter marks
// (left-aligned at their column) where they fit without touching a neighbour. When even the end
// does not fit beside "0" (a narrow chart of a long run), the end alone is shown.
std::string x_labels(const Prepared& p, int width, const TimeUnit& u) {
  std::string line(static_cast<std::size_t>(kMargin + width), ' ');
  auto put = [&](int at, const std::string& text) {
    line.replace(static_cast<std::size_t>(at), text.size(), text);
  };
  auto size = [](const std::string& text) { return static_cast<int>(text.size()); };
  const std::string first = "0";
  const std::string last = format_time(p.span, u);
  const int last_start = std::max(kMargin + width - size(last), 0);
  put(last_start, last);
  if (last_start < kMargin + size(first) + 1) return line;
  put(kMargin, first);
  int free_from = kMargin + size(first) + kLabelGap;
  std::string previous = first;
  for (int k = 1; k <= 3; ++k) {
    const int column = k * width / 4;
    const std::string text = axis_time(mul_div(p.span, column, width), u);
    const int at = kMargin + column;
    if (at < free_from || at + size(text) + kLabelGap > last_start) continue;
    if (text == previous || text == last) continue;  // a span of a few ns
    put(at, text);
    free_from = at + size(text) + kLabelGap;
    previous = text;
  }
  return line;
}

Status check_ascii(const HeapTimeline& t, const TimelineOptions& o) {
  if (o.width < 10 || o.width > 400) {
    return Error{fmt::format("heap chart width {} is out of range", o.width), 0,
                 "  give a width between 10 and 400 columns"};
  }
  if (o.height < 4 || o.height > 200) {
    return Error{fmt::format("heap chart height {} is out of range", o.height), 0,
                 "  give a height between 4 and 200 rows"};
  }
  return check_points(t);
}

// ---- SVG ----

constexpr int kSvgLeft = 80;  // room for "1023.9 KiB"
constexpr int kSvgRight = 40;
constexpr int kSvgTop = 44;  // title and the peak label
constexpr int kSvgBottom = 36;
constexpr int kSvgMaxSize = 20000;

Status check_svg(const HeapTimeline& t, const TimelineOptions& o) {
  if (o.svg_width < 200 || o.svg_width > kSvgMaxSize) {
    return Error{fmt::format("heap chart SVG width {} is out of range", o.svg_width), 0,
                 fmt::format("  give an SVG width between 200 and {} pixels", kSvgMaxSize)};
  }
  if (o.svg_height < 120 || o.svg_height > kSvgMaxSize) {
    return Error{fmt::format("heap chart SVG height {} is out of range", o.svg_height), 0,
                 fmt::format("  give an SVG height between 120 and {} pixels", kSvgMaxSize)};
  }
  return check_points(t);
}

}  // namespace

Result<std::string> heap_timeline_ascii(const HeapTimeline& timeline,
                                        const TimelineOptions& options) {
  if (Status s = check_ascii(timeline, options); !s) return s.error();
  const int width = options.width;
  const int height = options.height;
  const Prepared p = prepare(timeline);
  const TimeUnit unit = time_unit(p.span);
  const std::vector<std::int64_t> maxima = column_maxima(p, width);
  const int peak_column = column_of(p.peak_time_ns, p.span, width);
  const std::int64_t y_max = p.peak_bytes;

  std::vector<int> rows(maxima.size());
  std::transform(maxima.begin(), maxima.end(), rows.begin(),
                 [&](std::int64_t v) { return rows_for(v, y_max, height); });

  // Labelled rows (1 = bottom, height = top): the top (the peak) and the quarters below it.
  std::vector<bool> labelled(static_cast<std::size_t>(height) + 1, false);
  labelled[static_cast<std::size_t>(height)] = true;
  if (y_max > 0) {
    for (int k = 1; k <= 3; ++k) labelled[static_cast<std::size_t>((height * k + 2) / 4)] = true;
  }

  std::string out;
  append_line(out, terminal_text(options.title, static_cast<std::size_t>(kMargin + width)));
  for (int r = height; r >= 1; --r) {
    const std::string label =
        labelled[static_cast<std::size_t>(r)] ? format_bytes(mul_div(y_max, r, height)) : "";
    std::string line = fmt::format("{:>{}} {}", label, kLabelWidth, r == height ? '^' : '|');
    for (int c = 0; c < width; ++c) {
      const char mark = c == peak_column ? '@' : '#';
      line += rows[static_cast<std::size_t>(c)] >= r ? mark : ' ';
    }
    append_line(out, std::move(line));
  }
  append_line(out, fmt::format("{:>{}} +{}", format_bytes(0), kLabelWidth,
                               std::string(static_cast<std::size_t>(width), '-')));
  append_line(out, x_labels(p, width, unit));
  append_line(out, "peak: " + peak_text(p, unit));
  return out;
}

Result<std::string> heap_timeline_svg(const HeapTimeline& timeline,
                                      const TimelineOptions& options) {
  if (Status s = check_svg(timeline, options); !s) return s.error();
  const int w = options.svg_width;
  const int h = options.svg_height;
  const int plot_w = w - kSvgLeft - kSvgRight;  // one column per pixel
  const int plot_h = h - kSvgTop - kSvgBottom;
  const int base = kSvgTop + plot_h;  // y of 0 bytes
  const Prepared p = prepare(timeline);
  const TimeUnit unit = time_unit(p.span);
  const std::vector<std::int64_t> maxima = column_maxima(p, plot_w);
  const int peak_column = column_of(p.peak_time_ns, p.span, plot_w);
  const std::int64_t y_max = p.peak_bytes;
  auto y_of = [&](std::int64_t v) {
    return y_max > 0 ? base - static_cast<double>(v) / static_cast<double>(y_max) * plot_h
                     : static_cast<double>(base);
  };

  std::string out;
  auto w_out = std::back_inserter(out);
  fmt::format_to(w_out,
                 "<svg version=\"1.1\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
                 "xmlns=\"http://www.w3.org/2000/svg\">\n",
                 w, h);
  const std::string title = xml(options.title);
  fmt::format_to(w_out, "<title>{}</title>\n", title);
  out += "<style>\n";
  out += assets::kHeapTimelineCss;
  out += "</style>\n";
  fmt::format_to(w_out, "<rect x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"#fff\"/>\n", w, h);
  fmt::format_to(w_out, "<text class=\"title\" x=\"{:.1f}\" y=\"24\">{}</text>\n", w / 2.0, title);

  // Grid and y labels: 0, the quarters and the peak (only 0 when the heap never grew).
  for (int k = 0; k <= (y_max > 0 ? 4 : 0); ++k) {
    const double y = base - plot_h * k / 4.0;
    fmt::format_to(w_out,
                   "<line class=\"grid\" x1=\"{}\" y1=\"{:.2f}\" x2=\"{}\" y2=\"{:.2f}\"/>"
                   "<text x=\"{}\" y=\"{:.2f}\" text-anchor=\"end\">{}</text>\n",
                   kSvgLeft, y, kSvgLeft + plot_w, y, kSvgLeft - 6, y + 4,
                   format_bytes(mul_div(y_max, k, 4)));
  }

  // The area: the step curve of the column maxima, one pixel per column, closed along the axis.
  out += "<path class=\"area\" d=\"";
  fmt::format_to(w_out, "M{},{}", kSvgLeft, base);
  for (int c = 0; c < plot_w;) {
    const std::int64_t v = maxima[static_cast<std::size_t>(c)];
    int end = c + 1;
    while (end < plot_w && maxima[static_cast<std::size_t>(end)] == v) ++end;
    fmt::format_to(w_out, "V{:.2f}H{}", y_of(v), kSvgLeft + end);
    c = end;
  }
  fmt::format_to(w_out, "V{}Z\"/>\n", base);

  // Axes and x ticks: 0, the quarters and the end.
  fmt::format_to(w_out, "<path class=\"axis\" d=\"M{0},{1}V{2}M{0},{2}H{3}\"/>\n", kSvgLeft,
                 kSvgTop, base, kSvgLeft + plot_w);
  for (int k = 0; k <= 4; ++k) {
    const double x = kSvgLeft + plot_w * k / 4.0;
    fmt::format_to(w_out,
                   "<line class=\"axis\" x1=\"{0:.2f}\" y1=\"{1}\" x2=\"{0:.2f}\" y2=\"{2}\"/>"
                   "<text x=\"{0:.2f}\" y=\"{3}\" text-anchor=\"middle\">{4}</text>\n",
                   x, base, base + 5, base + 20, axis_time(mul_div(p.span, k, 4), unit));
  }

  // The peak: a dot on top of its column, labelled on the side with more room.
  const std::string peak = "peak " + peak_text(p, unit);
  const double px = kSvgLeft + peak_column + 0.5;
  const double py = y_of(p.peak_bytes);
  const bool left_half = peak_column < plot_w / 2;
  fmt::format_to(w_out,
                 "<g class=\"peak\"><title>{0}</title>"
                 "<circle cx=\"{1:.2f}\" cy=\"{2:.2f}\" r=\"4\"/>"
                 "<text x=\"{3:.2f}\" y=\"{4:.2f}\" text-anchor=\"{5}\">{0}</text></g>\n",
                 peak, px, py, left_half ? px + 8 : px - 8, py - 8, left_half ? "start" : "end");
  out += "</svg>\n";
  return out;
}

}  // namespace perfscope::output
