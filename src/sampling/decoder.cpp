#include "sampling/decoder.hpp"

#include <fmt/format.h>

#include <bit>
#include <cstring>

namespace perfscope::sampling {
namespace {

// Bounds-checked sequential reads over a record body.
class Reader {
 public:
  explicit Reader(std::span<const std::byte> bytes) : bytes_(bytes) {}

  template <typename T>
  bool read(T& out) {
    if (bytes_.size() - pos_ < sizeof(T)) return false;
    std::memcpy(&out, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool skip(std::size_t n) {
    if (bytes_.size() - pos_ < n) return false;
    pos_ += n;
    return true;
  }
  // `count` u64 values in place. Ring and bounce buffers are 8-byte aligned and every record is a
  // multiple of 8 bytes, so the view is aligned; anything else is reported as a bad record.
  bool u64s(std::size_t count, std::span<const std::uint64_t>& out) {
    if (count > (bytes_.size() - pos_) / 8) return false;
    const std::byte* p = bytes_.data() + pos_;
    if (reinterpret_cast<std::uintptr_t>(p) % alignof(std::uint64_t) != 0) return false;
    out = {reinterpret_cast<const std::uint64_t*>(p), count};
    pos_ += count * 8;
    return true;
  }
  bool bytes(std::size_t n, std::span<const std::byte>& out) {
    if (bytes_.size() - pos_ < n) return false;
    out = bytes_.subspan(pos_, n);
    pos_ += n;
    return true;
  }
  std::span<const std::byte> rest() const { return bytes_.subspan(pos_); }

 private:
  std::span<const std::byte> bytes_;
  std::size_t pos_ = 0;
};

// A NUL-terminated string padded to 8 bytes; without a NUL, the whole field.
std::string_view c_string(std::span<const std::byte> field) {
  const char* p = reinterpret_cast<const char*>(field.data());
  return {p, strnlen(p, field.size())};
}

Error bad_record(const char* what, std::uint32_t type, std::size_t size) {
  return Error{fmt::format("decode perf record (type {}, {} bytes): {}", type, size, what), 0,
               "the ring buffer held a record perfscope could not read; the recording continues "
               "without it"};
}

}  // namespace

Decoder::Decoder(const perf_event_attr& attr)
    : sample_type_(attr.sample_type),
      sample_id_all_(attr.sample_id_all != 0),
      regs_user_count_(static_cast<unsigned>(std::popcount(attr.sample_regs_user))),
      // A fixed period (perf record -c N) is in the attr only; a frequency without the period
      // bit leaves nothing to weigh by: 1 a sample.
      unsampled_period_(attr.freq || attr.sample_period == 0 ? 1 : attr.sample_period) {
  if (sample_id_all_) {
    if (sample_type_ & PERF_SAMPLE_TID) trailer_size_ += 8;
    if (sample_type_ & PERF_SAMPLE_TIME) trailer_size_ += 8;
    if (sample_type_ & PERF_SAMPLE_ID) trailer_size_ += 8;
    if (sample_type_ & PERF_SAMPLE_STREAM_ID) trailer_size_ += 8;
    if (sample_type_ & PERF_SAMPLE_CPU) trailer_size_ += 8;
    if (sample_type_ & PERF_SAMPLE_IDENTIFIER) trailer_size_ += 8;
  }
}

bool Decoder::decode_trailer(std::span<const std::byte> trailer, SampleId& id) const {
  Reader r(trailer);
  std::uint64_t unused = 0;
  std::uint32_t res = 0;
  if ((sample_type_ & PERF_SAMPLE_TID) && !(r.read(id.pid) && r.read(id.tid))) return false;
  if ((sample_type_ & PERF_SAMPLE_TIME) && !r.read(id.time)) return false;
  if ((sample_type_ & PERF_SAMPLE_ID) && !r.read(id.id)) return false;
  if ((sample_type_ & PERF_SAMPLE_STREAM_ID) && !r.read(unused)) return false;
  if ((sample_type_ & PERF_SAMPLE_CPU) && !(r.read(id.cpu) && r.read(res))) return false;
  if ((sample_type_ & PERF_SAMPLE_IDENTIFIER) && !r.read(id.id)) return false;
  return true;
}

Status Decoder::decode_sample(std::span<const std::byte> body, std::uint16_t misc,
                              RecordHandler& handler) const {
  Reader r(body);
  Sample s;
  std::uint64_t unused = 0;
  std::uint32_t res = 0;
  const auto fail = [&](const char* what) {
    return bad_record(what, PERF_RECORD_SAMPLE, body.size() + sizeof(perf_event_header));
  };
  if ((sample_type_ & PERF_SAMPLE_IDENTIFIER) && !r.read(s.id.id)) return fail("truncated id");
  if ((sample_type_ & PERF_SAMPLE_IP) && !r.read(s.ip)) return fail("truncated ip");
  if ((sample_type_ & PERF_SAMPLE_TID) && !(r.read(s.id.pid) && r.read(s.id.tid)))
    return fail("truncated pid/tid");
  if ((sample_type_ & PERF_SAMPLE_TIME) && !r.read(s.id.time)) return fail("truncated time");
  if ((sample_type_ & PERF_SAMPLE_ADDR) && !r.read(unused)) return fail("truncated addr");
  if ((sample_type_ & PERF_SAMPLE_ID) && !r.read(s.id.id)) return fail("truncated id");
  if ((sample_type_ & PERF_SAMPLE_STREAM_ID) && !r.read(unused)) return fail("truncated stream id");
  if ((sample_type_ & PERF_SAMPLE_CPU) && !(r.read(s.id.cpu) && r.read(res)))
    return fail("truncated cpu");
  if (!(sample_type_ & PERF_SAMPLE_PERIOD)) {
    s.period = unsampled_period_;
  } else if (!r.read(s.period)) {
    return fail("truncated period");
  }
  if (sample_type_ & PERF_SAMPLE_CALLCHAIN) {
    std::uint64_t nr = 0;
    if (!r.read(nr) || !r.u64s(nr, s.callchain)) return fail("callchain longer than the record");
  }
  if (sample_type_ & PERF_SAMPLE_RAW) {
    std::uint32_t size = 0;
    if (!r.read(size) || !r.skip(size)) return fail("raw data longer than the record");
  }
  if (sample_type_ & PERF_SAMPLE_REGS_USER) {
    if (!r.read(s.regs_abi)) return fail("truncated user registers");
    if (s.regs_abi != 0 && !r.u64s(regs_user_count_, s.regs))
      return fail("truncated user registers");
  }
  if (sample_type_ & PERF_SAMPLE_STACK_USER) {
    std::uint64_t size = 0;
    if (!r.read(size)) return fail("truncated user stack");
    if (size != 0) {
      if (size > body.size() || !r.bytes(size, s.stack) || !r.read(s.stack_dyn_size))
        return fail("user stack longer than the record");
      if (s.stack_dyn_size > size) return fail("user stack dyn_size larger than its copy");
    }
  }
  const auto cpumode = misc & PERF_RECORD_MISC_CPUMODE_MASK;
  s.kernel = cpumode == PERF_RECORD_MISC_KERNEL || cpumode == PERF_RECORD_MISC_GUEST_KERNEL;
  handler.on_sample(s);
  return {};
}

Status Decoder::decode(std::span<const std::byte> record, RecordHandler& handler) const {
  perf_event_header h{};
  if (record.size() < sizeof h) return bad_record("shorter than its header", 0, record.size());
  std::memcpy(&h, record.data(), sizeof h);
  if (h.size != record.size() || h.size % 8 != 0) {
    return bad_record("size does not match the header", h.type, record.size());
  }
  const auto body = record.subspan(sizeof h);
  if (h.type == PERF_RECORD_SAMPLE) return decode_sample(body, h.misc, handler);

  const auto fail = [&](const char* what) { return bad_record(what, h.type, record.size()); };
  SampleId id;
  std::span<const std::byte> fields = body;
  if (sample_id_all_) {
    if (body.size() < trailer_size_) return fail("shorter than its sample_id trailer");
    fields = body.first(body.size() - trailer_size_);
    decode_trailer(body.subspan(body.size() - trailer_size_), id);
  }
  Reader r(fields);
  switch (h.type) {
    case PERF_RECORD_MMAP:
    case PERF_RECORD_MMAP2: {
      MmapRecord m;
      m.id = id;
      if (!(r.read(m.pid) && r.read(m.tid) && r.read(m.addr) && r.read(m.len) && r.read(m.pgoff)))
        return fail("truncated mmap");
      if (h.type == PERF_RECORD_MMAP2) {
        // The build-id and the device/inode fields share 24 bytes, so the file name is at the same
        // place either way. perf 6.1 with -B on kernel 6.18 writes device/inode under the build-id
        // bit (perf itself then aborts reading its file): a size past 20 is read as that layout.
        const Reader ids = r;
        bool device_inode = (h.misc & PERF_RECORD_MISC_MMAP_BUILD_ID) == 0;
        if (!device_inode) {
          std::uint8_t size = 0, res1 = 0;
          std::uint16_t res2 = 0;
          std::span<const std::byte> build_id;
          if (!(r.read(size) && r.read(res1) && r.read(res2) && r.bytes(20, build_id)))
            return fail("truncated mmap2 build-id");
          if (size <= 20) {
            m.build_id = {reinterpret_cast<const std::uint8_t*>(build_id.data()), size};
          } else {
            device_inode = true;
            r = ids;
          }
        }
        if (device_inode) {
          std::uint64_t generation = 0;
          if (!(r.read(m.maj) && r.read(m.min) && r.read(m.ino) && r.read(generation)))
            return fail("truncated mmap2");
        }
        if (!(r.read(m.prot) && r.read(m.flags))) return fail("truncated mmap2");
        m.executable = (m.prot & 0x4 /* PROT_EXEC */) != 0;
      } else {
        m.executable = (h.misc & PERF_RECORD_MISC_MMAP_DATA) == 0;
      }
      m.filename = c_string(r.rest());
      handler.on_mmap(m);
      return {};
    }
    case PERF_RECORD_COMM: {
      CommRecord c;
      c.id = id;
      if (!(r.read(c.pid) && r.read(c.tid))) return fail("truncated comm");
      c.comm = c_string(r.rest());
      c.exec = (h.misc & PERF_RECORD_MISC_COMM_EXEC) != 0;
      handler.on_comm(c);
      return {};
    }
    case PERF_RECORD_FORK:
    case PERF_RECORD_EXIT: {
      TaskRecord t;
      t.id = id;
      if (!(r.read(t.pid) && r.read(t.ppid) && r.read(t.tid) && r.read(t.ptid) && r.read(t.time)))
        return fail("truncated fork/exit");
      if (h.type == PERF_RECORD_FORK) {
        handler.on_fork(t);
      } else {
        handler.on_exit(t);
      }
      return {};
    }
    case PERF_RECORD_LOST: {
      LostRecord l;
      l.id = id;
      std::uint64_t event_id = 0;
      if (!(r.read(event_id) && r.read(l.lost))) return fail("truncated lost");
      handler.on_lost(l);
      return {};
    }
    case PERF_RECORD_LOST_SAMPLES: {
      LostRecord l;
      l.id = id;
      l.samples_only = true;
      if (!r.read(l.lost)) return fail("truncated lost samples");
      handler.on_lost(l);
      return {};
    }
    case PERF_RECORD_THROTTLE:
    case PERF_RECORD_UNTHROTTLE: {
      ThrottleRecord t;
      t.id = id;
      t.throttled = h.type == PERF_RECORD_THROTTLE;
      std::uint64_t event_id = 0, stream_id = 0;
      if (!(r.read(t.time) && r.read(event_id) && r.read(stream_id)))
        return fail("truncated throttle");
      handler.on_throttle(t);
      return {};
    }
    default:
      handler.on_other(h.type);
      return {};
  }
}

}  // namespace perfscope::sampling
