#include "perfdata/perf_data_reader.hpp"

#include <elf.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gelf.h>
#include <libelf.h>
#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "core/unique_fd.hpp"
#include "perfdata/perf_file.hpp"
#include "recording/profile_builder.hpp"
#include "sampling/collector.hpp"
#include "sampling/decoder.hpp"
#include "symbols/kallsyms_cache.hpp"
#include "symbols/symbol_cache.hpp"
#include "symbols/symbolizer.hpp"
#include "unwind/dwarf_unwinder.hpp"

namespace perfscope::perfdata {
namespace {

// Samples held before a round ends are released when they reach this many record bytes, even
// without FINISHED_ROUND (a file of one huge round): memory stays bounded.
constexpr std::size_t kMaxPendingBytes = std::size_t{256} << 20;

// Bits in the middle of a sample that the Decoder does not read: cut out before decoding.
constexpr std::uint64_t kCutSampleBits = PERF_SAMPLE_READ | PERF_SAMPLE_BRANCH_STACK;

std::string hex_of(const unsigned char* p, std::size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    out += digits[p[i] >> 4];
    out += digits[p[i] & 15];
  }
  return out;
}

// The GNU build-id note among a 64-bit ELF file's PT_NOTE segments, read with pread (the
// program headers and the notes: a few hundred bytes, where mapping the file for libelf and
// unmapping it again costs more than the read); empty when not found that way.
std::string build_id_from_segments(int fd) {
  Elf64_Ehdr eh;
  if (::pread(fd, &eh, sizeof eh, 0) != static_cast<ssize_t>(sizeof eh) ||
      std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
      eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_phentsize != sizeof(Elf64_Phdr) ||
      eh.e_phnum == 0 || eh.e_phnum >= PN_XNUM) {
    return {};
  }
  std::vector<Elf64_Phdr> ph(eh.e_phnum);
  const auto ph_bytes = static_cast<ssize_t>(ph.size() * sizeof(Elf64_Phdr));
  if (::pread(fd, ph.data(), static_cast<std::size_t>(ph_bytes), static_cast<off_t>(eh.e_phoff)) !=
      ph_bytes) {
    return {};
  }
  std::vector<unsigned char> notes;
  for (const auto& p : ph) {
    if (p.p_type != PT_NOTE || p.p_filesz < sizeof(Elf64_Nhdr) || p.p_filesz > (1 << 16)) continue;
    notes.resize(p.p_filesz);
    if (::pread(fd, notes.data(), notes.size(), static_cast<off_t>(p.p_offset)) !=
        static_cast<ssize_t>(notes.size())) {
      continue;
    }
    const std::size_t align = p.p_align == 8 ? 8 : 4;
    const auto up = [align](std::size_t n) { return (n + align - 1) & ~(align - 1); };
    for (std::size_t off = 0; off <= notes.size() && notes.size() - off >= sizeof(Elf64_Nhdr);) {
      Elf64_Nhdr nh;
      std::memcpy(&nh, notes.data() + off, sizeof nh);
      const std::size_t name_at = off + sizeof nh;
      if (nh.n_namesz > notes.size() - name_at) break;
      const std::size_t desc_at = name_at + up(nh.n_namesz);
      if (desc_at > notes.size() || nh.n_descsz > notes.size() - desc_at) break;
      if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
          std::memcmp(notes.data() + name_at, "GNU", 4) == 0) {
        return hex_of(notes.data() + desc_at, nh.n_descsz);
      }
      off = desc_at + up(nh.n_descsz);
    }
  }
  return {};
}

// The build-id note of an ELF file, lowercase hex; empty when there is none or it cannot be read.
std::string file_build_id(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return {};
  if (auto id = build_id_from_segments(fd.get()); !id.empty()) return id;
  elf_version(EV_CURRENT);
  Elf* elf = elf_begin(fd.get(), ELF_C_READ_MMAP, nullptr);
  if (elf == nullptr) return {};
  std::string out;
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr && out.empty();
       scn = elf_nextscn(elf, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr || shdr.sh_type != SHT_NOTE) continue;
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (data == nullptr) continue;
    GElf_Nhdr nhdr;
    std::size_t name_off = 0, desc_off = 0;
    for (std::size_t off = 0;
         (off = gelf_getnote(data, off, &nhdr, &name_off, &desc_off)) > 0 && out.empty();) {
      if (nhdr.n_type != NT_GNU_BUILD_ID || nhdr.n_namesz != 4 ||
          std::memcmp(static_cast<const char*>(data->d_buf) + name_off, "GNU", 4) != 0) {
        continue;
      }
      out = hex_of(static_cast<const unsigned char*>(data->d_buf) + desc_off, nhdr.n_descsz);
    }
  }
  elf_end(elf);
  return out;
}

bool exists(const std::string& path) {
  return ::access(path.c_str(), R_OK) == 0;
}

std::vector<std::uint8_t> bytes_of_hex(const std::string& hex) {
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>(std::strtoul(hex.substr(i, 2).c_str(), nullptr, 16)));
  }
  return out;
}

std::uint64_t u64_at(std::span<const std::byte> bytes, std::size_t offset) {
  std::uint64_t v = 0;
  if (offset <= bytes.size() && bytes.size() - offset >= 8) {
    std::memcpy(&v, bytes.data() + offset, 8);
  }
  return v;
}

// Where the sample id sits: in a SAMPLE (byte offset after the header) and from the end of other
// records (their sample_id trailer), as perf lays them out for the session's sample_type.
struct IdPositions {
  std::optional<std::size_t> in_sample;  // bytes after the header
  std::optional<std::size_t> from_end;   // bytes before the record's end
};

IdPositions id_positions(const perf_event_attr& attr) {
  const std::uint64_t t = attr.sample_type;
  IdPositions p;
  if (t & PERF_SAMPLE_IDENTIFIER) {
    p.in_sample = 0;
    if (attr.sample_id_all) p.from_end = 8;
    return p;
  }
  if (!(t & PERF_SAMPLE_ID)) return p;
  std::size_t before = 0;
  for (auto bit : {PERF_SAMPLE_IP, PERF_SAMPLE_TID, PERF_SAMPLE_TIME, PERF_SAMPLE_ADDR}) {
    if (t & bit) before += 8;
  }
  p.in_sample = before;
  if (attr.sample_id_all) {
    std::size_t after = 8;
    if (t & PERF_SAMPLE_STREAM_ID) after += 8;
    if (t & PERF_SAMPLE_CPU) after += 8;
    p.from_end = after;
  }
  return p;
}

// Size of PERF_SAMPLE_READ's part of a sample (read_format decides it), from `at`.
std::optional<std::size_t> read_part_size(std::span<const std::byte> rec, std::size_t at,
                                          std::uint64_t read_format) {
  constexpr std::uint64_t kFormatLost = 1u << 4;  // PERF_FORMAT_LOST (Linux 6.0)
  std::size_t per_value = 8;
  if (read_format & PERF_FORMAT_ID) per_value += 8;
  if (read_format & kFormatLost) per_value += 8;
  std::size_t times = 0;
  if (read_format & PERF_FORMAT_TOTAL_TIME_ENABLED) times += 8;
  if (read_format & PERF_FORMAT_TOTAL_TIME_RUNNING) times += 8;
  if (!(read_format & PERF_FORMAT_GROUP)) return per_value + times;
  if (at + 8 > rec.size()) return std::nullopt;
  const std::uint64_t nr = u64_at(rec, at);
  if (nr > rec.size() / per_value) return std::nullopt;
  return 8 + times + nr * per_value;
}

// The profiles of several events of one file as one: "samples count" (every event's samples),
// then one sample type per event, named by the event (its weights: nanoseconds for the clock
// events, else counts), the first event's the default, as perf report shows the first event
// first. Functions, mappings and locations are shared; the comments are the first profile's
// and each other's own.
profile::Profile merge_events(const std::vector<std::pair<std::string, profile::Profile>>& parts) {
  profile::Profile out;
  out.sample_types.push_back({out.intern("samples"), out.intern("count")});
  for (const auto& [name, p] : parts) {
    const std::string_view unit =
        p.sample_types.size() > 1 ? p.string(p.sample_types[1].unit) : std::string_view("count");
    out.sample_types.push_back({out.intern(name), out.intern(unit)});
  }
  out.default_sample_type = out.sample_types[1].type;
  const profile::Profile& first = parts.front().second;
  out.period_type = {out.intern(first.string(first.period_type.type)),
                     out.intern(first.string(first.period_type.unit))};
  out.period = first.period;
  out.time_nanos = first.time_nanos;
  out.duration_nanos = first.duration_nanos;
  std::set<std::string_view> comments;
  std::map<std::tuple<std::uint64_t, std::uint64_t, std::uint64_t, std::uint64_t, std::uint64_t>,
           std::uint64_t>
      mappings;  // (filename, build id, start, limit, offset) -> id
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::vector<std::uint64_t>> locations;
  for (std::size_t e = 0; e < parts.size(); ++e) {
    const profile::Profile& p = parts[e].second;
    const auto str = [&](profile::StringId id) { return out.intern(p.string(id)); };
    for (const auto c : p.comments) {
      if (comments.insert(p.string(c)).second) out.add_comment(p.string(c));
    }
    std::vector<std::uint64_t> mapping_of(p.mappings().size() + 1, 0);
    for (std::size_t m = 1; m <= p.mappings().size(); ++m) {
      profile::Mapping copy = p.mapping(m);
      copy.filename = str(copy.filename);
      copy.build_id = str(copy.build_id);
      auto [it, inserted] = mappings.try_emplace(
          {copy.filename, copy.build_id, copy.start, copy.limit, copy.offset}, 0);
      if (inserted) it->second = out.add_mapping(copy);
      mapping_of[m] = it->second;
    }
    std::vector<std::uint64_t> location_of(p.locations().size() + 1, 0);
    for (std::size_t l = 1; l <= p.locations().size(); ++l) {
      profile::Location copy = p.location(l);
      copy.mapping_id = copy.mapping_id < mapping_of.size() ? mapping_of[copy.mapping_id] : 0;
      for (auto& line : copy.lines) {
        const profile::Function& f = p.function(line.function_id);
        line.function_id = out.add_function(p.string(f.name), p.string(f.system_name),
                                            p.string(f.filename), f.start_line);
      }
      // The same address in the same mapping with the same lines is one location.
      auto& same = locations[{copy.mapping_id, copy.address}];
      for (const auto id : same) {
        const auto& known = out.location(id).lines;
        if (std::equal(known.begin(), known.end(), copy.lines.begin(), copy.lines.end(),
                       [](const profile::Line& a, const profile::Line& b) {
                         return a.function_id == b.function_id && a.line == b.line;
                       })) {
          location_of[l] = id;
        }
      }
      if (location_of[l] == 0) {
        location_of[l] = out.add_location(std::move(copy));
        same.push_back(location_of[l]);
      }
    }
    for (const auto& s : p.samples()) {
      profile::Sample copy;
      copy.location_ids.reserve(s.location_ids.size());
      for (const auto id : s.location_ids) copy.location_ids.push_back(location_of[id]);
      copy.values.assign(out.sample_types.size(), 0);
      if (!s.values.empty()) copy.values[0] = s.values[0];
      if (s.values.size() > 1) copy.values[1 + e] = s.values[1];
      for (const auto& label : s.labels) {
        copy.labels.push_back({str(label.key), label.str == 0 ? 0 : str(label.str), label.num,
                               label.num_unit == 0 ? 0 : str(label.num_unit)});
      }
      out.add_sample(std::move(copy));
    }
  }
  return out;
}

// Reading a file builds some tens of MB of tables (locations, stacks, symbols) in many small
// blocks and vectors that grow by doubling. With glibc's defaults every vector over 128 KiB is a
// fresh mmap, faulted in 4 KiB at a time and unmapped when it grows again, and the heap grows a
// little at a time: page faults, zeroing and munmap were 25-30% of a system-wide file's read here
// (14,000 faults for a 5 MB file). Once per process: large blocks stay on the heap and freed
// memory is kept, the heap grows by kHeapPad at once, and that pad is offered to transparent huge
// pages (MADV_HUGEPAGE: used when THP is "madvise" or "always"), what
// GLIBC_TUNABLES=glibc.malloc.hugetlb=1 would do. Untouched pad costs address space only.
constexpr std::size_t kHeapPad = std::size_t{128} << 20;
constexpr std::size_t kHugePage = std::size_t{2} << 20;

void prepare_heap() {
  static std::once_flag once;
  std::call_once(once, [] {
    ::mallopt(M_MMAP_THRESHOLD, 256 << 20);
    ::mallopt(M_TRIM_THRESHOLD, 1 << 30);
    ::mallopt(M_TOP_PAD, static_cast<int>(kHeapPad));
    // A block larger than the heap's free top makes malloc grow the heap now, by the pad.
    const std::size_t top = ::mallinfo2().keepcost;
    void* block = std::malloc(top + (std::size_t{64} << 10));
    if (block == nullptr) return;
    const auto start = reinterpret_cast<std::uintptr_t>(block);
    const auto end = reinterpret_cast<std::uintptr_t>(::sbrk(0));
    std::free(block);
    // Only when the block came from the brk heap (not from an mmap, nor a sanitizer's allocator).
    if (end == ~std::uintptr_t{0} || start >= end ||
        end - start > kHeapPad + top + (std::size_t{4} << 20)) {
      return;
    }
    const auto first = (start + kHugePage - 1) & ~(kHugePage - 1);
    const auto last = end & ~(kHugePage - 1);
    if (last > first) {
      ::madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);  // a hint only
    }
  });
}

std::string kallsyms_cache_dir(const PerfDataOptions& options) {
  if (options.kallsyms_cache_dir) return *options.kallsyms_cache_dir;
  return options.kallsyms_path == "/proc/kallsyms" ? symbols::default_kallsyms_cache_dir() : "";
}

class Reader : public sampling::RecordHandler {
 public:
  Reader(const PerfFile& file, const std::string& source, const PerfDataOptions& options)
      : file_(file), source_(source), options_(options) {}

  Result<PerfDataProfile> run() {
    if (auto st = choose_event(); !st) return st.error();
    // kallsyms is read while the records are: a file whose event samples the kernel needs it.
    if (options_.resolve && !file_.events[*chosen_].attr.exclude_kernel) {
      symbolizer_.prefetch_kernel();
    }
    std::size_t pos = 0;
    while (pos < file_.data.size()) {
      const std::size_t at = pos;
      auto record = next_record(file_.data, pos, source_);
      if (!record) return record.error();
      if (auto st = take(*record, at); !st) return st.error();
    }
    for (auto& c : collectors_) {
      if (c) c->finish();
    }
    return finish();
  }

  // Writes the symbol cache files now, as destroying the reader would.
  void save_symbol_caches() { symbolizer_.save_symbol_caches(); }

  void on_sample(const sampling::Sample& s) override {
    if (s.id.time > max_time_) max_time_ = s.id.time;
    collectors_[current_]->on_sample(s);
  }
  void on_mmap(const sampling::MmapRecord& m) override {
    const auto* found = file_for(m.filename);
    if (found == nullptr) return each([&](sampling::Collector& c) { c.on_mmap(m); });
    sampling::MmapRecord copy = m;
    copy.filename = found->path;
    copy.build_id = found->build_id;
    each([&](sampling::Collector& c) { c.on_mmap(copy); });
  }
  // Side-band records describe the processes every event sampled.
  void on_comm(const sampling::CommRecord& r) override {
    each([&](sampling::Collector& c) { c.on_comm(r); });
  }
  void on_fork(const sampling::TaskRecord& t) override {
    each([&](sampling::Collector& c) { c.on_fork(t); });
  }
  void on_exit(const sampling::TaskRecord& t) override {
    each([&](sampling::Collector& c) { c.on_exit(t); });
  }
  void on_lost(const sampling::LostRecord& l) override {
    each([&](sampling::Collector& c) { c.on_lost(l); });
  }
  void on_throttle(const sampling::ThrottleRecord& t) override {
    each([&](sampling::Collector& c) { c.on_throttle(t); });
  }
  void on_other(std::uint32_t type) override {
    each([&](sampling::Collector& c) { c.on_other(type); });
  }

 private:
  struct Event {
    sampling::Decoder decoder;
    bool cut = false;  // samples carry READ or BRANCH_STACK parts, cut out before decoding
  };
  template <typename F>
  void each(F&& f) {
    for (auto& c : collectors_) {
      if (c) f(*c);
    }
  }

  struct KnownFile {
    std::string path;  // where it is read from
    std::vector<std::uint8_t> build_id;
  };

  Status choose_event() {
    if (file_.events.empty()) {
      return Error{source_ + " describes no events", 0,
                   "  was it written by `perf record`? (`perf stat record` files hold counts, "
                   "not samples)"};
    }
    for (std::size_t i = 0; i < file_.events.size(); ++i) {
      const auto& e = file_.events[i];
      perf_event_attr attr = e.attr;
      attr.sample_type &= sampling::kDecodableSampleType;
      events_.push_back({sampling::Decoder(attr), (e.attr.sample_type & kCutSampleBits) != 0});
      for (const auto id : e.ids) by_id_.emplace(id, i);
      if (!chosen_ && !e.dummy()) chosen_ = i;
    }
    if (!chosen_) chosen_ = 0;
    ids_ = id_positions(file_.events[0].attr);
    // A Collector per sampling event (the side-band dummy event has none), each with its stacks.
    collectors_.resize(file_.events.size());
    samples_.assign(file_.events.size(), 0);
    for (std::size_t i = 0; i < file_.events.size(); ++i) {
      if (i == *chosen_ || !file_.events[i].dummy()) {
        collectors_[i] = std::make_unique<sampling::Collector>();
      }
    }
    const auto& attr = file_.events[*chosen_].attr;
    if ((attr.sample_type & PERF_SAMPLE_REGS_USER) && (attr.sample_type & PERF_SAMPLE_STACK_USER) &&
        attr.sample_regs_user != 0 && options_.resolve) {
      unwinder_.emplace(unwind::UnwinderOptions{.regs_mask = attr.sample_regs_user,
                                                .debug_dirs = options_.debug_dirs});
      // Events whose samples copy the same registers share the unwinder.
      for (std::size_t i = 0; i < file_.events.size(); ++i) {
        const auto& a = file_.events[i].attr;
        if (collectors_[i] && (a.sample_type & PERF_SAMPLE_STACK_USER) &&
            a.sample_regs_user == attr.sample_regs_user) {
          collectors_[i]->set_unwinder(&*unwinder_, a.sample_stack_user);
        }
      }
    }
    for (const auto& b : file_.build_ids) {
      if (!b.kernel && !b.build_id.empty()) build_ids_.emplace(b.filename, b.build_id);
    }
    buildid_dir_ = options_.buildid_dir;
    if (buildid_dir_.empty()) {
      const char* home = std::getenv("HOME");
      if (home != nullptr && *home != '\0') buildid_dir_ = std::string(home) + "/.debug";
    }
    return {};
  }

  // The file to read for a mapped path, with the build-id perf recorded for it (once per path).
  const KnownFile* file_for(std::string_view filename) {
    auto it = files_.find(std::string(filename));
    if (it != files_.end()) return it->second ? &*it->second : nullptr;
    std::optional<KnownFile> known;
    auto id = build_ids_.find(std::string(filename));
    if (id != build_ids_.end() && !filename.empty() && filename.front() == '/') {
      known.emplace();
      known->path = std::string(filename);
      known->build_id = bytes_of_hex(id->second);
      if (file_build_id(known->path) != id->second && !buildid_dir_.empty()) {
        const std::string cached = fmt::format("{}/.build-id/{}/{}/elf", buildid_dir_,
                                               id->second.substr(0, 2), id->second.substr(2));
        if (exists(cached)) {
          known->path = cached;
          ++from_cache_;
        }
      }
    }
    auto [pos, _] = files_.emplace(std::string(filename), std::move(known));
    return pos->second ? &*pos->second : nullptr;
  }

  std::size_t event_of(std::span<const std::byte> record, bool sample) const {
    std::optional<std::uint64_t> id;
    if (sample && ids_.in_sample) id = u64_at(record, 8 + *ids_.in_sample);
    if (!sample && ids_.from_end && record.size() >= 8 + *ids_.from_end) {
      id = u64_at(record, record.size() - *ids_.from_end);
    }
    if (id) {
      if (auto it = by_id_.find(*id); it != by_id_.end()) return it->second;
    }
    return *chosen_;
  }

  Status take(std::span<const std::byte> record, std::size_t at) {
    perf_event_header h{};
    std::memcpy(&h, record.data(), sizeof h);
    if (h.type == kFinishedRound) {
      end_round();
      return {};
    }
    if (h.type == kCompressed) {
      return Error{source_ + " holds compressed records (perf record -z)", 0,
                   "  perfscope reads uncompressed recordings: record again without -z"};
    }
    if (h.type >= kHeaderAttr) return {};  // perf's own records: read by parse_perf_file
    const std::size_t index = event_of(record, h.type == PERF_RECORD_SAMPLE);
    if (h.type == PERF_RECORD_SAMPLE) {
      if (!collectors_[index]) return {};  // a side-band event's sample: none are expected
      current_ = index;
      ++samples_[index];
      pending_bytes_ += record.size();
      if (events_[index].cut) {
        auto cut = cut_sample(record, file_.events[index].attr);
        if (!cut) return bad(at, cut.error().op);
        record = *cut;
      }
    }
    if (reinterpret_cast<std::uintptr_t>(record.data()) % alignof(std::uint64_t) != 0) {
      aligned_.resize((record.size() + 7) / 8);
      std::memcpy(aligned_.data(), record.data(), record.size());
      record = std::as_bytes(std::span(aligned_)).first(record.size());
    }
    if (auto st = events_[index].decoder.decode(record, *this); !st) {
      return bad(at, st.error().op);
    }
    if (pending_bytes_ > kMaxPendingBytes) {
      each([](sampling::Collector& c) { c.on_pass_end(~std::uint64_t{0}); });
      pending_bytes_ = 0;
    }
    return {};
  }

  Error bad(std::size_t at, const std::string& what) const {
    return Error{fmt::format("{}: the record at offset {} of the data cannot be read: {}", source_,
                             at, what),
                 0, "  is the file complete? perf report on it shows whether perf can read it"};
  }

  // perf's ordering rule: when a round ends, every sample up to the newest one of the round
  // before has been written, whichever CPU's buffer it came from.
  void end_round() {
    const bool timed = file_.events[*chosen_].attr.sample_type & PERF_SAMPLE_TIME;
    each([&](sampling::Collector& c) {
      c.on_pass_end(timed ? last_round_max_ + 1 : ~std::uint64_t{0});
    });
    last_round_max_ = max_time_;
    pending_bytes_ = 0;
  }

  // The sample without its READ and BRANCH_STACK parts, as the Decoder reads it.
  Result<std::span<const std::byte>> cut_sample(std::span<const std::byte> rec,
                                                const perf_event_attr& attr) {
    const std::uint64_t t = attr.sample_type;
    std::size_t pos = 8;
    for (auto bit : {PERF_SAMPLE_IDENTIFIER, PERF_SAMPLE_IP, PERF_SAMPLE_TID, PERF_SAMPLE_TIME,
                     PERF_SAMPLE_ADDR, PERF_SAMPLE_ID, PERF_SAMPLE_STREAM_ID, PERF_SAMPLE_CPU,
                     PERF_SAMPLE_PERIOD}) {
      if (t & bit) pos += 8;
    }
    const auto fail = [] { return Error{"a sample is shorter than its sample_type says", 0, {}}; };
    if (pos > rec.size()) return fail();
    std::size_t read_start = pos, read_size = 0;
    if (t & PERF_SAMPLE_READ) {
      auto size = read_part_size(rec, pos, attr.read_format);
      if (!size || *size > rec.size() - pos) return fail();
      read_size = *size;
      pos += read_size;
    }
    if (t & PERF_SAMPLE_CALLCHAIN) {
      if (pos + 8 > rec.size()) return fail();
      const std::uint64_t nr = u64_at(rec, pos);
      if (nr > (rec.size() - pos - 8) / 8) return fail();
      pos += 8 + nr * 8;
    }
    if (t & PERF_SAMPLE_RAW) {
      std::uint32_t size = 0;
      if (pos + 4 > rec.size()) return fail();
      std::memcpy(&size, rec.data() + pos, 4);
      if (size > rec.size() - pos - 4) return fail();
      pos += 4 + size;
    }
    std::size_t branch_start = pos, branch_size = 0;
    if (t & PERF_SAMPLE_BRANCH_STACK) {
      if (pos + 8 > rec.size()) return fail();
      const std::uint64_t nr = u64_at(rec, pos);
      std::size_t size = 8;
      if (attr.branch_sample_type & PERF_SAMPLE_BRANCH_HW_INDEX) size += 8;
      if (nr > rec.size() / 24 || size + nr * 24 > rec.size() - pos) return fail();
      branch_size = size + nr * 24;
    }
    cut_.clear();
    cut_.reserve(rec.size());
    const auto append = [&](std::size_t from, std::size_t to) {
      cut_.insert(cut_.end(), rec.begin() + static_cast<std::ptrdiff_t>(from),
                  rec.begin() + static_cast<std::ptrdiff_t>(to));
    };
    append(0, read_start);
    append(read_start + read_size, branch_start);
    append(branch_start + branch_size, rec.size());
    const auto size = static_cast<std::uint16_t>(cut_.size());
    std::memcpy(cut_.data() + offsetof(perf_event_header, size), &size, sizeof size);
    aligned_.resize((cut_.size() + 7) / 8);
    std::memcpy(aligned_.data(), cut_.data(), cut_.size());
    return std::as_bytes(std::span(aligned_)).first(cut_.size());
  }

  // The profile of event `index`'s samples, weighed by period.
  profile::Profile event_profile(std::size_t index) {
    const auto& event = file_.events[index];
    const auto& attr = event.attr;
    recording::ProfileInfo info;
    info.event = event.name;
    info.time_based = attr.type == PERF_TYPE_SOFTWARE && (attr.config == PERF_COUNT_SW_CPU_CLOCK ||
                                                          attr.config == PERF_COUNT_SW_TASK_CLOCK);
    info.frequency = attr.freq ? attr.sample_freq : 0;
    info.period = attr.freq ? 0 : attr.sample_period;
    info.cpus = (attr.sample_type & PERF_SAMPLE_CPU) != 0;
    info.comments.push_back(fmt::format("perf.data: {} samples of {} read from {}{}",
                                        samples_[index], event.name, source_,
                                        file_.pipe ? " (pipe mode)" : ""));
    if (!file_.cmdline.empty())
      info.comments.push_back("perf.data: recorded with " + file_.cmdline);
    auto p = recording::build_profile(*collectors_[index], symbolizer_, info);
    // The period type is the default, as perf report weighs samples.
    if (p.sample_types.size() > 1) p.default_sample_type = p.sample_types[1].type;
    return p;
  }

  Result<PerfDataProfile> finish() {
    const auto& event = file_.events[*chosen_];
    PerfDataProfile out;
    if (!options_.resolve) return out;  // no file opened: the fuzz target's mode
    // The first event, then every other that has samples: each its own sample type.
    std::vector<std::size_t> read{*chosen_};
    for (std::size_t i = 0; i < collectors_.size(); ++i) {
      if (i != *chosen_ && collectors_[i] && samples_[i] > 0) read.push_back(i);
    }
    if (read.size() == 1) {
      out.profile = event_profile(*chosen_);
    } else {
      std::vector<std::pair<std::string, profile::Profile>> parts;
      std::vector<std::string> names;
      for (const auto i : read) {
        parts.emplace_back(file_.events[i].name, event_profile(i));
        names.push_back(file_.events[i].name);
      }
      out.profile = merge_events(parts);
      out.notes.push_back(fmt::format(
          "{}: {} events, each a sample type ({}): {} is shown; --sample-type NAME picks another",
          source_, read.size(), fmt::join(names, ", "), event.name));
    }
    if (file_.features_cut_at >= 0) {
      out.notes.push_back(fmt::format(
          "{}: the file is cut short inside its feature sections: every sample was read, the "
          "features from number {} on were not{}",
          source_, file_.features_cut_at,
          file_.features_cut_at <= 2 ? " (build-ids among them: files are not checked)" : ""));
    }
    for (auto& c : collectors_) {
      if (c && c->lost_records() > 0) {
        out.notes.push_back(fmt::format("{}: perf lost {} records while recording (LOST)", source_,
                                        c->lost_records()));
        break;  // every collector saw the same LOST records
      }
    }
    if (unwinder_) {
      const auto& u = unwinder_->stats();
      const auto complete = u.count(unwind::StopReason::outermost);
      if (u.samples > 0 && complete < u.samples) {
        out.notes.push_back(fmt::format(
            "{}: {} of {} user stacks unwound to their outermost frame (--call-graph dwarf)",
            source_, complete, u.samples));
      }
    }
    return out;
  }

  const PerfFile& file_;
  const std::string& source_;
  const PerfDataOptions& options_;
  std::vector<Event> events_;
  std::unordered_map<std::uint64_t, std::size_t> by_id_;
  std::optional<std::size_t> chosen_;
  IdPositions ids_;
  std::vector<std::unique_ptr<sampling::Collector>> collectors_;  // by event; null: side-band
  std::size_t current_ = 0;  // the event of the sample being decoded
  std::optional<unwind::DwarfUnwinder> unwinder_;
  symbols::Symbolizer symbolizer_{
      {.kallsyms_path = options_.kallsyms_path,
       .kallsyms_cache_dir = kallsyms_cache_dir(options_),
       .symbol_cache_dir = options_.symbol_cache_dir.value_or(symbols::default_symbol_cache_dir()),
       .debug_dirs = options_.debug_dirs}};
  std::unordered_map<std::string, std::string> build_ids_;           // path -> hex
  std::unordered_map<std::string, std::optional<KnownFile>> files_;  // path -> what to read
  std::string buildid_dir_;
  std::size_t from_cache_ = 0;
  std::vector<std::uint64_t> samples_;  // by event
  std::uint64_t max_time_ = 0, last_round_max_ = 0;
  std::size_t pending_bytes_ = 0;
  std::vector<std::byte> cut_;
  std::vector<std::uint64_t> aligned_;
};

}  // namespace

namespace {

// keep: the file's tables and the reader (symbolizer, process table, stacks) are left for the
// exit to drop (keep_until_exit), after the symbol caches are written.
Result<PerfDataProfile> read_file(std::span<const std::byte> bytes, const std::string& source,
                                  const PerfDataOptions& options, bool keep) {
  auto file = parse_perf_file(bytes, source);
  if (!file) return file.error();
  if (options.resolve) prepare_heap();
  auto kept_file = std::make_shared<PerfFile>(std::move(*file));
  auto reader = std::make_shared<Reader>(*kept_file, source, options);
  auto r = reader->run();
  if (keep) {
    reader->save_symbol_caches();
    keep_until_exit(kept_file);
    keep_until_exit(reader);
  }
  return r;
}

}  // namespace

Result<PerfDataProfile> read_perf_data(std::span<const std::byte> bytes, const std::string& source,
                                       const PerfDataOptions& options) {
  return read_file(bytes, source, options, false);
}

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(leak_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

bool keep_readers = false;

}  // namespace

void keep_readers_until_exit() {
  keep_readers = true;
}

void keep_until_exit(std::shared_ptr<void> object) {
  if (kSanitized) return;
  // Never destroyed, and reachable from this list: a leak checker would see nothing lost.
  static auto* kept = new std::vector<std::shared_ptr<void>>;
  kept->push_back(std::move(object));
}

Result<profile::Profile> read_perf_data_input(std::string_view bytes, const std::string& source,
                                              std::vector<std::string>& notes) {
  static const PerfDataOptions defaults;  // a kept reader refers to its options
  auto r = read_file(std::as_bytes(std::span(bytes.data(), bytes.size())), source, defaults,
                     keep_readers && !kSanitized);
  if (!r) return r.error();
  for (auto& n : r->notes) notes.push_back(std::move(n));
  return std::move(r->profile);
}

}  // namespace perfscope::perfdata
