// read_perf_data(): a file `perf record` wrote, as a symbolized Profile, through the same pieces a
// perfscope recording goes through: sampling::Decoder for each event's records, the Collector
// (ProcessTable from MMAP/MMAP2/COMM/FORK/EXIT, StackAggregator), unwind::DwarfUnwinder for
// `--call-graph dwarf` stack copies, and recording::build_profile with symbols::Symbolizer.
//
// Samples weigh their PERIOD, as perf report counts them: the profile's default sample type is
// the period one ("cpu nanoseconds" for cpu-clock and task-clock, "EVENT count" otherwise), with
// "samples count" beside it, as for perf script text. A file of several sampling events (`perf
// record -e task-clock,page-faults`) gives one sample type per event, named by the event, the
// first event's the default (as perf report shows it first): `--sample-type page-faults` picks
// another; perf's side-band dummy event only brings side-band records.
//
// Files are found as perf report finds them: for a mapping whose build-id the file lists
// (HEADER_BUILD_ID), the path recorded when that file there still has that build-id, else perf's
// build-id cache (~/.debug/.build-id/xx/rest/elf), else the debug file /usr/lib/debug/.build-id/
// holds; addresses of a file found nowhere are named "module+0xADDRESS". Kernel addresses are
// resolved with this machine's /proc/kallsyms, through the kallsyms cache of the user's cache
// directory (symbols/kallsyms_cache.hpp) once it has been read; user addresses through the symbol
// cache (symbols/symbol_cache.hpp).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "profile/profile.hpp"

namespace perfscope::perfdata {

struct PerfDataOptions {
  // perf's build-id cache; empty: $HOME/.debug.
  std::string buildid_dir = {};
  std::vector<std::string> debug_dirs = {"/usr/lib/debug"};
  std::string kallsyms_path = "/proc/kallsyms";
  // The kallsyms cache's directory (symbols/kallsyms_cache.hpp): a second read of a file on the
  // same running kernel skips /proc/kallsyms. Nothing: symbols::default_kallsyms_cache_dir() when
  // kallsyms_path is /proc/kallsyms; empty: no cache.
  std::optional<std::string> kallsyms_cache_dir = {};
  // The symbol cache's directory (symbols/symbol_cache.hpp): the frames of the files' addresses
  // by build-id, so a second read names them without opening their DWARF. Nothing:
  // symbols::default_symbol_cache_dir(); empty: no cache.
  std::optional<std::string> symbol_cache_dir = {};
  // false: decode every record and keep the process table and stacks, but open no file (no DWARF
  // unwinding, no symbols) and return a profile without samples: the fuzz target's mode.
  bool resolve = true;
};

struct PerfDataProfile {
  profile::Profile profile;
  std::vector<std::string> notes;  // what a person should know about how it was read
};

// `bytes` is the whole file (or pipe stream); `source` names it in errors and notes.
Result<PerfDataProfile> read_perf_data(std::span<const std::byte> bytes, const std::string& source,
                                       const PerfDataOptions& options = {});

// read_perf_data() as formats::PerfDataReader: the profile, its notes appended to `notes`.
Result<profile::Profile> read_perf_data_input(std::string_view bytes, const std::string& source,
                                              std::vector<std::string>& notes);

// For a command that reads one file and exits (report): from now on read_perf_data_input()
// writes the symbol caches, then leaves its reader's tables (symbols, processes, stacks: a tenth
// of a system-wide file's read) for the exit to drop instead of freeing them one by one. Built
// with AddressSanitizer, every reader is still destroyed, so its teardown stays checked.
void keep_readers_until_exit();

// Holds `object` until the process exits, never destroying it (a command's last big structures:
// freeing them is work the exit does at once); built with AddressSanitizer, drops it now.
void keep_until_exit(std::shared_ptr<void> object);

}  // namespace perfscope::perfdata
