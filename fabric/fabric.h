#pragma once
// The KV fabric's flow model: transfers over paths of links share each link's bandwidth
// max-min fairly (progressive filling). When a flow starts or ends, every rate is recomputed and
// each flow's completion moves. A transfer takes its path's latency plus its bytes drained at
// the rates it gets. A flow may carry a rate cap (its source's production rate): progressive
// filling then fixes it at its cap once the links' fair share exceeds it. Plain class (no SystemC): the caller advances time and schedules the next
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

  // Starts a transfer of `bytes` over `path` (link indices) at `now`, sending at most
  // `cap_bytes_per_s` (a source that produces its data at that rate; infinity = no cap).
  FlowId start(TimeNs now, double bytes, std::vector<std::int32_t> path,
               double cap_bytes_per_s = std::numeric_limits<double>::infinity());
  // Changes an active flow's cap at `now` (rates are recomputed).
  void set_cap(TimeNs now, FlowId id, double cap_bytes_per_s);
  // When the next flow finishes draining its bytes (kNever if none is active).
  TimeNs next_drain() const;
  struct Drained {
    FlowId id;
    TimeNs latency_ns;  // the flow's last byte arrives its path's latency after it drained
  };
  // Advances to `now` and returns the flows fully drained by then (rates are then recomputed).
  std::vector<Drained> drain_until(TimeNs now);
  // Advances to `now` without ending flows (for sampling).
  void advance(TimeNs now);

  double rate(FlowId id) const;  // current bytes/s of an active flow
  size_t active() const { return active_.size(); }
  // Bytes per second flowing through each link now (utilisation = this / capacity).
  std::vector<double> link_load() const;
  // Bytes each link has carried since the start, up to the last advance.
  const std::vector<double>& link_bytes() const { return link_bytes_; }
  // Active flows crossing each link now.
  std::vector<std::int32_t> link_flows() const;
  const std::vector<FabricLink>& links() const { return links_; }

  static constexpr TimeNs kNever = std::numeric_limits<TimeNs>::max();

 private:
  struct Flow {
    FlowId id;
    double remaining;  // bytes
    double rate = 0;
    double cap;
    std::vector<std::int32_t> path;
    TimeNs latency_ns;
  };
  void recompute();

  std::vector<FabricLink> links_;
  std::vector<Flow> active_;
  std::vector<double> link_bytes_;
  TimeNs now_ = 0;
  FlowId next_id_ = 0;
};

}  // namespace servesim
