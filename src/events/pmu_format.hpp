// PMU term syntax: "pmu/event=0x3c,umask=0x1/". A PMU publishes how each term maps onto
// attr.config/config1/config2 in sysfs format/ files ("config:0-7,21"), and named events in events/
// files ("event=0x3c,umask=0x00").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace perfscope::events {

struct BitRange {
  int low = 0;
  int high = 0;  // inclusive
};

struct FormatField {
  int config_index = 0;  // 0: config, 1: config1, 2: config2
  std::vector<BitRange> ranges;
};

// Parses a format file's content: "config:0-7", "config1:0-63", "config:0-7,21,32-35".
Result<FormatField> parse_format_field(std::string_view text);

// Scatters `value` into the field's bits (lowest bits of value into the first range, and so on).
// Fails when the value does not fit.
Status apply_format_field(const FormatField& field, std::uint64_t value, std::uint64_t config[3]);

struct PmuEncoding {
  std::uint32_t type = 0;
  std::uint64_t config[3] = {0, 0, 0};
};

// Encodes "event=0x3c,umask=0x1" (terms without '=' mean 1, or name a PMU event alias) for the
// PMU directory `pmu_dir` (…/devices/cpu). `pmu_name` is used in errors.
Result<PmuEncoding> encode_pmu_terms(const std::string& pmu_dir, const std::string& pmu_name,
                                     std::string_view terms);

}  // namespace perfscope::events
