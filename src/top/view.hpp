// What `perfscope top` shows, as text: the batch refreshes (like top -b), one JSON object per
// refresh, and the full-screen view's lines with its key handling. No terminal calls here: cli/
// paints the lines with ncurses and feeds the keys back.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "top/model.hpp"

namespace perfscope::top {

// The facts of the status line.
struct Status {
  std::uint64_t refresh = 0;
  double interval_s = 0;
  std::uint64_t samples = 0;  // in the window (of the zoomed process)
  std::string event;          // "cpu-clock"
  std::uint64_t frequency = 0;
  std::string backend;          // "bpf (in-kernel aggregation)"
  std::string subject;          // "system wide", "process 1234"
  double own_cpu = 0;           // perfscope's CPU over the last interval, percent of one CPU
  std::string zoom;             // "comm[pid]" when zoomed
  std::uint64_t rss_bytes = 0;  // perfscope's resident memory
  Footprint memory;             // what the model holds
  double half_life_s = kHalfLifeSeconds;
};

// The interactive view's state, changed by keys.
struct UiState {
  Query query;
  std::size_t selected = 0;  // index into the shown rows
  bool paused = false;
  std::string message;  // said once on the status line ("saved ...")
};

enum class KeyAction { none, redraw, quit, save };
inline constexpr int kKeyUp = 0x10000, kKeyDown = 0x10001, kKeyEnter = '\n';

// Applies one key; `shown` are the rows on screen (the selection's row gives zoom and callers).
KeyAction handle_key(UiState& ui, int key, const std::vector<Row>& shown);

// Every key of the interactive view, one line (also in --help).
const std::string& help_line();

// One refresh as plain text: a status line, a header and the rows; ends with an empty line.
std::vector<std::string> batch_lines(const Status& status, const Query& q,
                                     const std::vector<Row>& rows);
// One refresh as one JSON object on one line.
std::string json_line(const Status& status, const Query& q, const std::vector<Row>& rows);

struct Screen {
  std::vector<std::string> lines;  // each at most `width` columns
  int header = -1;                 // index of the column header line
  int selected = -1;               // index of the selected row's line, or -1
  int help = -1;                   // index of the first help line (the last lines)
};
Screen screen(const Status& status, const UiState& ui, const std::vector<Row>& rows, int width,
              int height);

}  // namespace perfscope::top
