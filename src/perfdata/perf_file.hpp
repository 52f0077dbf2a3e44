// PerfFile: the layout of a file `perf record` writes
// (tools/perf/Documentation/perf.data-file-format.txt), read from its bytes without decoding any
// sample: the file header or the pipe header, the events' attrs and ids, the HEADER_BUILD_ID table,
// and where the records are.
//
// Both layouts `perf record` writes are read: the file ("PERFILE2" header, attr section, data
// section, feature sections after the data) and the pipe (`perf record -o -`: a 16-byte header,
// then records only; attrs, build-ids and features come as HEADER_ATTR / HEADER_BUILD_ID /
// HEADER_FEATURE records among the others). Only little-endian files are read (a file recorded on
// a big-endian machine is refused with an Error that says so).
//
// Every offset and size is checked against the bytes: a truncated or hostile file is an Error,
// never a read out of bounds, and nothing is allocated in proportion to a size the file claims
// without that many bytes being there.
#pragma once

#include <linux/perf_event.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace perfscope::perfdata {

// "PERFILE2" as the first 8 bytes of a little-endian file or pipe stream.
inline constexpr std::string_view kMagic = "PERFILE2";

// perf's own record types (tools/perf/util/event.h), which the kernel never writes.
enum PerfUserRecord : std::uint32_t {
  kHeaderAttr = 64,
  kHeaderEventType = 65,
  kHeaderTracingData = 66,
  kHeaderBuildId = 67,
  kFinishedRound = 68,
  kIdIndex = 69,
  kAuxtraceInfo = 70,
  kAuxtrace = 71,
  kAuxtraceError = 72,
  kHeaderFeature = 80,
  kCompressed = 81,
  kFinishedInit = 82,
};

// Feature bits of the file header's bitmap (tools/perf/util/header.h).
inline constexpr unsigned kFeatBuildId = 2;
inline constexpr unsigned kFeatCmdline = 11;
inline constexpr unsigned kFeatBits = 256;

struct EventAttr {
  perf_event_attr attr{};          // as recorded, zero past the size the file gives
  std::vector<std::uint64_t> ids;  // the kernel's sample ids of this event (one per cpu/thread)
  std::string name;                // "cpu-clock", "cycles", ... from type and config
  bool dummy() const { return attr.type == PERF_TYPE_SOFTWARE && attr.config == 9; }
};

struct BuildIdEntry {
  std::int32_t pid = -1;
  bool kernel = false;   // the kernel or a kernel module (cpumode of the entry)
  std::string build_id;  // lowercase hex
  std::string filename;  // as perf names the file: a path, "[kernel.kallsyms]", "[vdso]"
};

struct PerfFile {
  bool pipe = false;
  std::vector<EventAttr> events;
  std::vector<BuildIdEntry> build_ids;
  std::string cmdline;  // HEADER_CMDLINE, words joined with spaces (empty when absent)
  // The file ends inside its feature sections (perf writes them last): every record is there, the
  // features from this one (its bit number) on are not read. -1 when they are whole.
  int features_cut_at = -1;
  // The records: the data section of a file, everything after the header of a pipe stream.
  std::span<const std::byte> data;
};

// Parses the header, attrs and features of `bytes` (which the returned PerfFile points into).
// `source` names the input in errors.
Result<PerfFile> parse_perf_file(std::span<const std::byte> bytes, const std::string& source);

// The next record at `pos` of `data`: its bytes (header.size of them), with `pos` advanced past
// it and past any payload perf writes after a record (HEADER_TRACING_DATA, AUXTRACE). Errors for
// a record whose size is smaller than its header, not a multiple of 8 or past the end.
Result<std::span<const std::byte>> next_record(std::span<const std::byte> data, std::size_t& pos,
                                               const std::string& source);

// The perf name of an event from its attr: "cpu-clock", "cycles", "raw 0x1c2" ...
std::string event_name(const perf_event_attr& attr);

}  // namespace perfscope::perfdata
