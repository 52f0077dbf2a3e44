#include "sampling/background_decoder.hpp"

#include <pthread.h>
#include <signal.h>

#include <cstring>

namespace perfscope::sampling {

BackgroundDecoder::BackgroundDecoder(const perf_event_attr& attr, RecordHandler& handler,
                                     std::size_t max_queued_bytes)
    : decoder_(attr), handler_(handler), max_queued_bytes_(max_queued_bytes) {
  // The worker takes no process signals (SIGINT must reach the thread that stops the recording):
  // it starts with every signal blocked, inherited from the mask set around its creation.
  sigset_t all{}, old{};
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  worker_ = std::thread([this] { run(); });
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

BackgroundDecoder::~BackgroundDecoder() {
  finish();
}

void BackgroundDecoder::on_record(std::span<const std::byte> record) {
  perf_event_header h{};
  if (record.size() >= sizeof h) std::memcpy(&h, record.data(), sizeof h);
  if (record.size() < sizeof h || record.size() % 8 != 0 || h.size != record.size()) {
    ++bad_records_;  // cannot be queued as whole words; the ring reader never produces these
    return;
  }
  if (h.type == PERF_RECORD_SAMPLE) {
    std::size_t queued = 0;
    {
      std::lock_guard lock(mutex_);
      queued = queued_bytes_;
    }
    if (queued + current_.words.size() * 8 > max_queued_bytes_) {
      ++dropped_samples_;
      return;
    }
  }
  const std::size_t at = current_.words.size();
  current_.words.resize(at + record.size() / 8);
  std::memcpy(current_.words.data() + at, record.data(), record.size());
}

void BackgroundDecoder::on_pass_end(std::uint64_t pass_start) {
  current_.pass_start = pass_start;
  std::vector<std::uint64_t> next;
  {
    std::lock_guard lock(mutex_);
    queued_bytes_ += current_.words.size() * 8;
    if (queued_bytes_ > peak_queued_bytes_) peak_queued_bytes_ = queued_bytes_;
    queue_.push_back(std::move(current_));
    if (!spare_.empty()) {
      next = std::move(spare_.back());
      spare_.pop_back();
    }
  }
  ready_.notify_one();
  current_ = Batch{};
  current_.words = std::move(next);
  current_.words.clear();
}

void BackgroundDecoder::finish() {
  if (!worker_.joinable()) return;
  if (!current_.words.empty()) on_pass_end(current_.pass_start);
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  ready_.notify_one();
  worker_.join();
}

void BackgroundDecoder::run() {
  for (;;) {
    Batch batch;
    {
      std::unique_lock lock(mutex_);
      ready_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything handed over is decoded
      batch = std::move(queue_.front());
      queue_.pop_front();
    }
    const auto* bytes = reinterpret_cast<const std::byte*>(batch.words.data());
    const std::size_t size = batch.words.size() * 8;
    for (std::size_t at = 0; at + sizeof(perf_event_header) <= size;) {
      perf_event_header h{};
      std::memcpy(&h, bytes + at, sizeof h);
      if (auto st = decoder_.decode({bytes + at, h.size}, handler_); !st) {
        ++decode_errors_;
        last_error_ = st.error().message();
      }
      at += h.size;  // on_record only queued whole records of this size
    }
    handler_.on_pass_end(batch.pass_start);
    {
      std::lock_guard lock(mutex_);
      queued_bytes_ -= size;
      if (spare_.size() < 4) spare_.push_back(std::move(batch.words));
    }
  }
}

}  // namespace perfscope::sampling
