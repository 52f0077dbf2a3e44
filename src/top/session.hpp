// top::Live: what `top` keeps between refreshes besides the Model: the model itself (made at the
// first refresh, when the Recorder hands out its collector), the refresh clock and perfscope's own
// CPU share over each interval, for the status line.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "sampling/collector.hpp"
#include "top/model.hpp"
#include "top/view.hpp"

namespace perfscope::top {

struct LiveInfo {
  std::string event = "cpu-clock";
  std::uint64_t frequency = 99;
  std::string backend;
  std::string subject;
  Limits limits;
};

class Live {
 public:
  explicit Live(LiveInfo info);
  // One refresh: the model takes what the collector gained since the last one.
  void refresh(sampling::Collector& collector);
  bool ready() const { return model_ != nullptr; }
  const Model& model() const { return *model_; }
  Model& model() { return *model_; }
  // The status line's facts for what `q` shows.
  Status status(const Query& q) const;

 private:
  LiveInfo info_;
  std::unique_ptr<Model> model_;
  double last_wall_ = 0, last_cpu_ = 0, own_cpu_ = 0;
};

}  // namespace perfscope::top
