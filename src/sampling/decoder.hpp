// Decoder: turns the bytes of one perf record into a typed view and hands it to a RecordHandler.
//
// The layout of a SAMPLE and of the sample_id trailer depends on attr.sample_type, so a Decoder is
// built from the attr the events were opened with. Every read is bounds-checked: a truncated or
// garbage record is an Error, never a crash or an out-of-bounds read.
#pragma once

#include <linux/perf_event.h>

#include <cstddef>
#include <cstdint>
#include <span>

#include "core/error.hpp"
#include "sampling/records.hpp"

namespace perfscope::sampling {

class RecordHandler {
 public:
  virtual ~RecordHandler() = default;
  virtual void on_sample(const Sample& sample) = 0;
  virtual void on_mmap(const MmapRecord& mmap) = 0;
  virtual void on_comm(const CommRecord& comm) = 0;
  virtual void on_fork(const TaskRecord& task) = 0;
  virtual void on_exit(const TaskRecord& task) = 0;
  virtual void on_lost(const LostRecord& lost) = 0;
  virtual void on_throttle(const ThrottleRecord& throttle) = 0;
  // Record types perfscope does not use (AUX, KSYMBOL, ...): counted by the caller if it wants.
  virtual void on_other(std::uint32_t /*type*/) {}
  // After a pass over every ring that started at `pass_start` (perf clock): every record stamped
  // earlier than that has now been delivered, whichever ring it was in.
  virtual void on_pass_end(std::uint64_t /*pass_start*/) {}
};

// The sample_type bits the decoder understands. Opening events with others is a programming error
// that the constructor reports through supported().
inline constexpr std::uint64_t kDecodableSampleType =
    PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME |
    PERF_SAMPLE_ADDR | PERF_SAMPLE_ID | PERF_SAMPLE_STREAM_ID | PERF_SAMPLE_CPU |
    PERF_SAMPLE_PERIOD | PERF_SAMPLE_CALLCHAIN | PERF_SAMPLE_RAW | PERF_SAMPLE_REGS_USER |
    PERF_SAMPLE_STACK_USER;

class Decoder {
 public:
  explicit Decoder(const perf_event_attr& attr);

  bool supported() const { return (sample_type_ & ~kDecodableSampleType) == 0; }
  // Size in bytes of the sample_id trailer of non-sample records (0 without sample_id_all).
  std::size_t trailer_size() const { return trailer_size_; }

  // `record` is one whole record, perf_event_header first, exactly header.size bytes.
  Status decode(std::span<const std::byte> record, RecordHandler& handler) const;

 private:
  Status decode_sample(std::span<const std::byte> body, std::uint16_t misc,
                       RecordHandler& handler) const;
  bool decode_trailer(std::span<const std::byte> trailer, SampleId& id) const;

  std::uint64_t sample_type_ = 0;
  bool sample_id_all_ = false;
  unsigned regs_user_count_ = 0;
  // Each sample's period when the samples carry none (no PERF_SAMPLE_PERIOD), as perf report
  // weighs them: the attr's fixed period, else 1.
  std::uint64_t unsampled_period_ = 1;
  std::size_t trailer_size_ = 0;
};

}  // namespace perfscope::sampling
