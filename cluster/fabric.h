#pragma once
// The KV fabric's flow model: transfers over paths of links share each link's bandwidth
// max-min fairly (progressive filling). When a flow starts or ends, every rate is recomputed and
// each flow's completion moves. A transfer takes its path's latency plus its bytes drained at
// the rates it gets. Plain class (no SystemC): the caller advances time and schedules the next
// completion; time is in ns, rates in bytes per second.
#include <cstdint>
#include <limits>
#include <vector>

#include "core/units.h"

namespace servesim {

struct FabricLink {
  double bytes_per_s = 0;
  TimeNs latency_ns = 0;
};

class Fabric {
 public:
  using FlowId = std::int64_t;
  explicit Fabric(std::vector<FabricLink> links);

  // Starts a transfer of `bytes` over `path` (link indices) at `now`.
  FlowId start(TimeNs now, double bytes, std::vector<std::int32_t> path);
  // When the next flow finishes draining its bytes (kNever if none is active).
  TimeNs next_drain() const;
  // Advances to `now` and returns the flows fully drained by then (rates are then recomputed).
  std::vector<FlowId> drain_until(TimeNs now);
  // A drained flow arrives its path's latency after it drained.
  TimeNs path_latency_ns(FlowId id) const;

  double rate(FlowId id) const;  // current bytes/s of an active flow
  size_t active() const { return active_.size(); }
  // Bytes per second flowing through each link now (utilisation = this / capacity).
  std::vector<double> link_load() const;
  const std::vector<FabricLink>& links() const { return links_; }

  static constexpr TimeNs kNever = std::numeric_limits<TimeNs>::max();

 private:
  struct Flow {
    FlowId id;
    double remaining;  // bytes
    double rate = 0;
    std::vector<std::int32_t> path;
    TimeNs latency_ns;
  };
  void advance(TimeNs now);
  void recompute();

  std::vector<FabricLink> links_;
  std::vector<Flow> active_;
  std::vector<TimeNs> latency_of_;  // by flow id
  TimeNs now_ = 0;
  FlowId next_id_ = 0;
};

}  // namespace servesim
