#include "top/session.hpp"

#include "core/clock.hpp"
#include "events/event_spec.hpp"

namespace perfscope::top {

Live::Live(LiveInfo info)
    : info_(std::move(info)), last_wall_(monotonic_seconds()), last_cpu_(process_cpu_seconds()) {}

void Live::refresh(sampling::Collector& collector) {
  if (!model_) {
    recording::ProfileInfo p;
    p.event = info_.event;
    auto event = events::parse_event(info_.event);
    p.time_based = event ? events::is_time_based(*event) : true;
    p.frequency = info_.frequency;
    p.comments.push_back("perfscope: top, " + info_.subject + ", backend " + info_.backend);
    model_ = std::make_unique<Model>(collector, p, info_.limits);
  }
  const double wall = monotonic_seconds();
  model_->refresh(wall - last_wall_);
  // Measured after the model's update, so symbolizing the window counts as its cost.
  const double cpu = process_cpu_seconds();
  own_cpu_ = wall > last_wall_ ? 100.0 * (cpu - last_cpu_) / (monotonic_seconds() - last_wall_) : 0;
  last_wall_ = wall;
  last_cpu_ = cpu;
}

Status Live::status(const Query& q) const {
  Status s;
  s.event = info_.event;
  s.frequency = info_.frequency;
  s.backend = info_.backend;
  s.subject = info_.subject;
  s.own_cpu = own_cpu_;
  s.half_life_s = info_.limits.half_life_s;
  if (model_) {
    s.refresh = model_->refreshes();
    s.interval_s = model_->interval_s();
    s.samples = model_->window_samples(q.zoom_pid);
    if (q.zoom_pid >= 0) s.zoom = model_->process_name(q.zoom_pid);
    s.memory = model_->footprint();
  }
  s.rss_bytes = model_ ? model_->resident() : resident_bytes();
  return s;
}

}  // namespace perfscope::top
