// Profile -> profile.proto (through the generated classes), and the file I/O around pprof files.
// Reading the message is pprof_decode.cpp.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>

#include "core/output_file.hpp"
#include "profile.pb.h"
#include "profile/gzip.hpp"
#include "profile/profile.hpp"

namespace perfscope::profile {
namespace {

namespace pb = perfscope::pprof;

// protobuf parses messages up to 2 GiB.
constexpr std::size_t kMaxMessage = INT_MAX;
// `gzip -1`: the profile is written while the user waits for `record` to finish; zlib's default
// level (6) took 1.7 to 2.4 times as long for files 11 to 15% smaller (bench/profile_bench.cpp's
// profiles).
constexpr int kGzipLevel = 1;

void fill(pb::ValueType* out, const ValueType& t) {
  out->set_type(t.type);
  out->set_unit(t.unit);
}

Result<std::string> read_all(int fd, const std::string& path) {
  std::string data;
  struct stat st;
  if (::fstat(fd, &st) == 0) {
    if (S_ISDIR(st.st_mode)) return Error{"cannot read profile " + path, EISDIR, {}};
    if (S_ISREG(st.st_mode)) data.reserve(static_cast<std::size_t>(st.st_size));
  }
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("cannot read profile " + path);
    }
    data.append(buf, static_cast<std::size_t>(n));
  }
  return data;
}

}  // namespace

Result<std::string> encode_pprof(const Profile& p) {
  if (auto st = validate(p); !st) return st.error();
  google::protobuf::Arena arena;
  auto* m = google::protobuf::Arena::CreateMessage<pb::Profile>(&arena);
  m->mutable_string_table()->Reserve(static_cast<int>(p.strings().size()));
  for (const auto& s : p.strings()) m->add_string_table(s);
  for (const auto& t : p.sample_types) fill(m->add_sample_type(), t);
  fill(m->mutable_period_type(), p.period_type);
  m->set_period(p.period);
  m->set_time_nanos(p.time_nanos);
  m->set_duration_nanos(p.duration_nanos);
  m->set_default_sample_type(p.default_sample_type);
  for (StringId c : p.comments) m->add_comment(c);
  std::uint64_t id = 0;
  for (const Mapping& mp : p.mappings()) {
    auto* o = m->add_mapping();
    o->set_id(++id);
    o->set_memory_start(mp.start);
    o->set_memory_limit(mp.limit);
    o->set_file_offset(mp.offset);
    o->set_filename(mp.filename);
    o->set_build_id(mp.build_id);
    o->set_has_functions(mp.has_functions);
    o->set_has_filenames(mp.has_filenames);
    o->set_has_line_numbers(mp.has_line_numbers);
    o->set_has_inline_frames(mp.has_inline_frames);
  }
  id = 0;
  for (const Function& f : p.functions()) {
    auto* o = m->add_function();
    o->set_id(++id);
    o->set_name(f.name);
    o->set_system_name(f.system_name);
    o->set_filename(f.filename);
    o->set_start_line(f.start_line);
  }
  id = 0;
  m->mutable_location()->Reserve(static_cast<int>(p.locations().size()));
  for (const Location& l : p.locations()) {
    auto* o = m->add_location();
    o->set_id(++id);
    o->set_mapping_id(l.mapping_id);
    o->set_address(l.address);
    o->set_is_folded(l.is_folded);
    for (const Line& ln : l.lines) {
      auto* ol = o->add_line();
      ol->set_function_id(ln.function_id);
      ol->set_line(ln.line);
      ol->set_column(ln.column);
    }
  }
  m->mutable_sample()->Reserve(static_cast<int>(p.samples().size()));
  for (const Sample& s : p.samples()) {
    auto* o = m->add_sample();
    o->mutable_location_id()->Add(s.location_ids.begin(), s.location_ids.end());
    o->mutable_value()->Add(s.values.begin(), s.values.end());
    for (const Label& l : s.labels) {
      auto* ol = o->add_label();
      ol->set_key(l.key);
      ol->set_str(l.str);
      ol->set_num(l.num);
      ol->set_num_unit(l.num_unit);
    }
  }
  if (m->ByteSizeLong() > kMaxMessage) {
    return Error{"encode profile: more than 2 GiB, the limit of the pprof format", EFBIG, {}};
  }
  std::string out;
  if (!m->SerializeToString(&out)) return Error{"encode profile: protobuf refused it", 0, {}};
  return out;
}

Result<std::string> encode_pprof_gzipped(const Profile& p) {
  auto encoded = encode_pprof(p);
  if (!encoded) return encoded.error();
  return gzip(*encoded, kGzipLevel);
}

Status write_pprof(const Profile& p, const std::string& path) {
  auto compressed = encode_pprof_gzipped(p);
  if (!compressed) return compressed.error();
  return write_output_file(path, *compressed);
}

Result<Profile> read_pprof(const std::string& path, const ReadOptions& options) {
  Result<std::string> data = std::string{};
  if (path == "-") {
    data = read_all(STDIN_FILENO, "from stdin");
  } else {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno_error("cannot read profile " + path);
    data = read_all(fd, path);
    ::close(fd);
  }
  if (!data) return data.error();
  return decode_pprof(*data, path == "-" ? "standard input" : path, options);
}

}  // namespace perfscope::profile
