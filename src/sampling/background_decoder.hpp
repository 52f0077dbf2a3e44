// BackgroundDecoder: a RecordSink that copies records out of the rings and decodes them on its
// own thread, so that slow work in the handler (DWARF unwinding) never delays reading the rings.
//
// The reading thread only copies bytes into a batch; each pass end hands the batch to the worker,
// which decodes the records into the handler in the order they were read and then calls its
// on_pass_end, exactly as Session::drain(RecordHandler&) would have on the reading thread. The
// handler is touched by the worker alone until finish() returns.
//
// The queue is bounded by bytes: when the worker falls that far behind, further SAMPLE records are
// dropped and counted (dropped_samples()); side-band records are always kept.
#pragma once

#include <linux/perf_event.h>

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "sampling/decoder.hpp"
#include "sampling/ring_set.hpp"

namespace perfscope::sampling {

class BackgroundDecoder : public RecordSink {
 public:
  // `attr`: the events' attr (Session::attr()). The handler must outlive finish().
  BackgroundDecoder(const perf_event_attr& attr, RecordHandler& handler,
                    std::size_t max_queued_bytes = std::size_t{1} << 30);
  ~BackgroundDecoder() override;  // finishes if finish() was not called
  BackgroundDecoder(const BackgroundDecoder&) = delete;
  BackgroundDecoder& operator=(const BackgroundDecoder&) = delete;

  void on_record(std::span<const std::byte> record) override;
  void on_pass_end(std::uint64_t pass_start) override;

  // Hands over what is batched, waits until the worker has decoded everything, stops it.
  void finish();

  // Valid after finish().
  std::uint64_t decode_errors() const { return decode_errors_ + bad_records_; }
  const std::string& last_error() const { return last_error_; }
  std::uint64_t dropped_samples() const { return dropped_samples_; }
  std::size_t peak_queued_bytes() const { return peak_queued_bytes_; }

 private:
  struct Batch {
    std::vector<std::uint64_t> words;  // records back to back (sizes are multiples of 8)
    std::uint64_t pass_start = 0;
  };
  void run();

  Decoder decoder_;
  RecordHandler& handler_;
  const std::size_t max_queued_bytes_;
  Batch current_;  // reading thread only

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Batch> queue_;
  std::vector<std::vector<std::uint64_t>> spare_;  // decoded batches' storage, for reuse
  std::size_t queued_bytes_ = 0;
  bool stopping_ = false;

  std::size_t peak_queued_bytes_ = 0;
  std::uint64_t dropped_samples_ = 0;  // reading thread
  std::uint64_t bad_records_ = 0;      // reading thread
  std::uint64_t decode_errors_ = 0;    // worker
  std::string last_error_;             // worker
  std::thread worker_;
};

}  // namespace perfscope::sampling
