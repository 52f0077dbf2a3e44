// perf.data files (src/perfdata/): any bytes through parse_perf_file and read_perf_data without
// opening files (PerfDataOptions::resolve = false): the header, attr, feature and record parsers,
// sampling's Decoder for every record, the Collector and its process table.
#include "fuzz_support.hpp"
#include "perfdata/perf_data_reader.hpp"
#include "perfdata/perf_file.hpp"

using namespace perfscope;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto bytes = std::as_bytes(std::span(data, size));
  auto file = perfdata::parse_perf_file(bytes, "fuzz.data");
  if (file) {
    std::size_t pos = 0, records = 0;
    while (pos < file->data.size()) {
      const std::size_t before = pos;
      auto record = perfdata::next_record(file->data, pos, "fuzz.data");
      if (!record) break;
      fuzz::require(pos > before && pos <= file->data.size(), "next_record moves forward, inside");
      ++records;
    }
    fuzz::require(records <= file->data.size() / 8, "a record is at least its header");
  }
  auto p = perfdata::read_perf_data(bytes, "fuzz.data", {.resolve = false});
  if (p) fuzz::require(p->profile.samples().empty(), "resolve = false builds no samples");
  return 0;
}
