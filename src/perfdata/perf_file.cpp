#include "perfdata/perf_file.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace perfscope::perfdata {
namespace {

constexpr std::size_t kFileHeaderSize = 104;  // struct perf_file_header
constexpr std::size_t kPipeHeaderSize = 16;   // struct perf_pipe_file_header
constexpr std::size_t kSectionSize = 16;      // struct perf_file_section
// More events than any recording has: a bound on what a hostile attr section makes us hold.
constexpr std::size_t kMaxEvents = 4096;
constexpr std::uint16_t kMiscBuildIdSize = 1u << 15;  // PERF_RECORD_MISC_BUILD_ID_SIZE

const char* const kHint =
    "  is the file complete? `perf report --header-only -i FILE` shows what perf makes of it";

Error malformed(const std::string& source, std::string_view what) {
  return Error{fmt::format("{} is not a readable perf.data file: {}", source, what), 0, kHint};
}

template <typename T>
bool read_at(std::span<const std::byte> bytes, std::uint64_t offset, T& out) {
  if (offset > bytes.size() || bytes.size() - offset < sizeof(T)) return false;
  std::memcpy(&out, bytes.data() + offset, sizeof(T));
  return true;
}

// [offset, offset + size) of `bytes`, or an empty optional when it is not all inside.
bool section_at(std::span<const std::byte> bytes, std::uint64_t offset, std::uint64_t size,
                std::span<const std::byte>& out) {
  if (offset > bytes.size() || size > bytes.size() - offset) return false;
  out = bytes.subspan(offset, size);
  return true;
}

std::string hex(std::span<const std::byte> bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (auto b : bytes) {
    const auto c = static_cast<unsigned char>(b);
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string c_string(std::span<const std::byte> field) {
  const char* p = reinterpret_cast<const char*>(field.data());
  return std::string(p, strnlen(p, field.size()));
}

// An attr as the file holds it (`size` bytes, perhaps from an older or newer perf): what fits.
perf_event_attr attr_from(std::span<const std::byte> bytes) {
  perf_event_attr attr{};
  std::memcpy(&attr, bytes.data(), std::min(bytes.size(), sizeof attr));
  return attr;
}

// One struct build_id_event: header, pid, build_id[24] (20 bytes and, with
// PERF_RECORD_MISC_BUILD_ID_SIZE, their count in byte 20), filename.
bool parse_build_id(std::span<const std::byte> record, BuildIdEntry& out) {
  perf_event_header h{};
  if (!read_at(record, 0, h) || record.size() < 8 + 4 + 24) return false;
  std::int32_t pid = 0;
  read_at(record, 8, pid);
  std::size_t size = 20;
  if (h.misc & kMiscBuildIdSize) {
    size = std::min<std::size_t>(20, static_cast<unsigned char>(record[12 + 20]));
  }
  out.pid = pid;
  const auto cpumode = h.misc & PERF_RECORD_MISC_CPUMODE_MASK;
  out.kernel = cpumode == PERF_RECORD_MISC_KERNEL || cpumode == PERF_RECORD_MISC_GUEST_KERNEL;
  out.build_id = hex(record.subspan(12, size));
  out.filename = c_string(record.subspan(36));
  return true;
}

// The build-id table: build_id_event records back to back.
Status parse_build_ids(std::span<const std::byte> section, PerfFile& file,
                       const std::string& source) {
  std::size_t pos = 0;
  while (pos < section.size()) {
    perf_event_header h{};
    if (!read_at(section, pos, h) || h.size < sizeof h || h.size > section.size() - pos) {
      return malformed(source, "a HEADER_BUILD_ID entry runs past its section");
    }
    BuildIdEntry e;
    if (parse_build_id(section.subspan(pos, h.size), e)) file.build_ids.push_back(std::move(e));
    pos += h.size;
  }
  return {};
}

// HEADER_CMDLINE: u32 count, then that many perf strings (u32 length, NUL-padded bytes).
void parse_cmdline(std::span<const std::byte> section, PerfFile& file) {
  std::uint32_t nr = 0;
  if (!read_at(section, 0, nr)) return;
  std::size_t pos = 4;
  std::string out;
  for (std::uint32_t i = 0; i < nr; ++i) {
    std::uint32_t len = 0;
    std::span<const std::byte> s;
    if (!read_at(section, pos, len) || !section_at(section, pos + 4, len, s)) break;
    if (!out.empty()) out += ' ';
    out += c_string(s);
    pos += 4 + std::size_t{len};
  }
  file.cmdline = std::move(out);
}

Status add_event(PerfFile& file, perf_event_attr attr, std::span<const std::byte> ids,
                 const std::string& source) {
  if (file.events.size() >= kMaxEvents) {
    return malformed(source, fmt::format("more than {} events", kMaxEvents));
  }
  EventAttr e;
  e.attr = attr;
  e.name = event_name(attr);
  e.ids.resize(ids.size() / 8);
  if (!e.ids.empty()) std::memcpy(e.ids.data(), ids.data(), e.ids.size() * 8);
  file.events.push_back(std::move(e));
  return {};
}

Status parse_file_layout(std::span<const std::byte> bytes, PerfFile& file,
                         const std::string& source) {
  std::uint64_t header_size = 0, attr_size = 0;
  std::uint64_t attrs_off = 0, attrs_size = 0, data_off = 0, data_size = 0;
  std::uint64_t features[kFeatBits / 64] = {};
  if (!read_at(bytes, 8, header_size) || !read_at(bytes, 16, attr_size) ||
      !read_at(bytes, 24, attrs_off) || !read_at(bytes, 32, attrs_size) ||
      !read_at(bytes, 40, data_off) || !read_at(bytes, 48, data_size) ||
      !read_at(bytes, 72, features)) {
    return malformed(source, "shorter than its header");
  }
  if (header_size < kFileHeaderSize) {
    return malformed(source, fmt::format("header of {} bytes", header_size));
  }
  if (attr_size <= kSectionSize || attr_size > 4096) {
    return malformed(source, fmt::format("attr entries of {} bytes", attr_size));
  }
  std::span<const std::byte> attrs;
  if (!section_at(bytes, attrs_off, attrs_size, attrs)) {
    return malformed(source, "the attr section runs past the end of the file");
  }
  for (std::size_t at = 0; at + attr_size <= attrs.size(); at += attr_size) {
    const auto entry = attrs.subspan(at, attr_size);
    std::uint64_t ids_off = 0, ids_size = 0;
    read_at(entry, attr_size - kSectionSize, ids_off);
    read_at(entry, attr_size - 8, ids_size);
    std::span<const std::byte> ids;
    if (!section_at(bytes, ids_off, ids_size, ids)) {
      return malformed(source, "an event's id list runs past the end of the file");
    }
    auto st = add_event(file, attr_from(entry.first(attr_size - kSectionSize)), ids, source);
    if (!st) return st;
  }
  if (!section_at(bytes, data_off, data_size, file.data)) {
    return malformed(source, "the data section runs past the end of the file (was it cut short?)");
  }
  // The feature sections' table follows the data: one perf_file_section per bit set, in order.
  std::uint64_t table = data_off + data_size;
  for (unsigned bit = 0; bit < kFeatBits; ++bit) {
    if (!(features[bit / 64] >> (bit % 64) & 1)) continue;
    std::uint64_t off = 0, size = 0;
    std::span<const std::byte> section;
    if (!read_at(bytes, table, off) || !read_at(bytes, table + 8, size) ||
        !section_at(bytes, off, size, section)) {
      // perf writes the features last: a file cut there still has all its records (the reader
      // says what was not read).
      file.features_cut_at = static_cast<int>(bit);
      break;
    }
    table += kSectionSize;
    if (bit == kFeatBuildId) {
      if (auto st = parse_build_ids(section, file, source); !st) return st;
    } else if (bit == kFeatCmdline) {
      parse_cmdline(section, file);
    }
  }
  return {};
}

// Pipe mode: attrs, build-ids and features are records; they are gathered here in one pass.
Status parse_pipe_layout(std::span<const std::byte> bytes, PerfFile& file,
                         const std::string& source) {
  std::uint64_t header_size = 0;
  read_at(bytes, 8, header_size);
  if (header_size != kPipeHeaderSize) {
    return malformed(source, fmt::format("header of {} bytes", header_size));
  }
  file.pipe = true;
  file.data = bytes.subspan(kPipeHeaderSize);
  std::size_t pos = 0;
  while (pos < file.data.size()) {
    auto record = next_record(file.data, pos, source);
    if (!record) return record.error();
    perf_event_header h{};
    read_at(*record, 0, h);
    const auto body = record->subspan(sizeof h);
    if (h.type == kHeaderAttr) {
      std::uint32_t attr_size = 0;
      read_at(body, 4, attr_size);
      if (attr_size == 0) attr_size = PERF_ATTR_SIZE_VER0;
      if (attr_size > body.size()) return malformed(source, "a HEADER_ATTR record is cut short");
      auto st = add_event(file, attr_from(body.first(attr_size)), body.subspan(attr_size), source);
      if (!st) return st;
    } else if (h.type == kHeaderBuildId) {
      BuildIdEntry e;
      if (parse_build_id(*record, e)) file.build_ids.push_back(std::move(e));
    } else if (h.type == kHeaderFeature) {
      std::uint64_t feature = 0;
      if (read_at(body, 0, feature) && feature == kFeatCmdline)
        parse_cmdline(body.subspan(8), file);
    }
  }
  return {};
}

}  // namespace

std::string event_name(const perf_event_attr& attr) {
  static constexpr const char* kSoftware[] = {
      "cpu-clock",        "task-clock",   "page-faults",  "context-switches",
      "cpu-migrations",   "minor-faults", "major-faults", "alignment-faults",
      "emulation-faults", "dummy",        "bpf-output",   "cgroup-switches"};
  static constexpr const char* kHardware[] = {"cycles",
                                              "instructions",
                                              "cache-references",
                                              "cache-misses",
                                              "branches",
                                              "branch-misses",
                                              "bus-cycles",
                                              "stalled-cycles-frontend",
                                              "stalled-cycles-backend",
                                              "ref-cycles"};
  if (attr.type == PERF_TYPE_SOFTWARE && attr.config < std::size(kSoftware)) {
    return kSoftware[attr.config];
  }
  if (attr.type == PERF_TYPE_HARDWARE && attr.config < std::size(kHardware)) {
    return kHardware[attr.config];
  }
  if (attr.type == PERF_TYPE_TRACEPOINT) return fmt::format("tracepoint {}", attr.config);
  if (attr.type == PERF_TYPE_RAW) return fmt::format("raw {:#x}", attr.config);
  return fmt::format("event {}:{:#x}", attr.type, attr.config);
}

Result<std::span<const std::byte>> next_record(std::span<const std::byte> data, std::size_t& pos,
                                               const std::string& source) {
  perf_event_header h{};
  if (!read_at(data, pos, h)) return malformed(source, "a record is cut short");
  if (h.size < sizeof h || h.size > data.size() - pos) {
    return malformed(source, fmt::format("a record of type {} claims {} bytes at offset {}", h.type,
                                         h.size, pos));
  }
  auto record = data.subspan(pos, h.size);
  pos += h.size;
  // Records perf follows with a payload of their own.
  std::uint64_t payload = 0;
  if (h.type == kHeaderTracingData) {
    std::uint32_t size = 0;
    read_at(record, 8, size);
    payload = (std::uint64_t{size} + 7) & ~std::uint64_t{7};
  } else if (h.type == kAuxtrace) {
    read_at(record, 8, payload);
  }
  if (payload > data.size() - pos) {
    return malformed(source, fmt::format("a record of type {} claims a payload of {} bytes past "
                                         "the end",
                                         h.type, payload));
  }
  pos += payload;
  return record;
}

Result<PerfFile> parse_perf_file(std::span<const std::byte> bytes, const std::string& source) {
  const auto magic = std::string_view(reinterpret_cast<const char*>(bytes.data()),
                                      std::min<std::size_t>(bytes.size(), 8));
  if (magic == "2ELIFREP") {
    return Error{source + " is a perf.data file from a big-endian machine", 0,
                 "  perfscope reads little-endian perf.data files; on the recording machine, "
                 "`perf script` writes text that perfscope reads anywhere"};
  }
  if (magic == "PERFFILE") {
    return Error{source + " is a perf.data file of the first version (perf before 2.6.39)", 0,
                 "  perfscope reads version 2 files (PERFILE2); `perf script` on it writes text "
                 "that perfscope reads"};
  }
  if (magic != kMagic) return malformed(source, "no PERFILE2 magic");
  PerfFile file;
  std::uint64_t header_size = 0;
  if (!read_at(bytes, 8, header_size)) return malformed(source, "shorter than its header");
  Status st = header_size == kPipeHeaderSize ? parse_pipe_layout(bytes, file, source)
                                             : parse_file_layout(bytes, file, source);
  if (!st) return st.error();
  return file;
}

}  // namespace perfscope::perfdata
