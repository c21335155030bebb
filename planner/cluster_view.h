#pragma once
// What the planner reads of the cluster, without knowing it (cluster/ implements this): each
// pool's workers by state and their load, as a metrics system and the orchestrator's API would
// report them. Decisions go the other way as ScaleCommand messages (core/messages.h) on a timed
// channel the lifecycle receives.
#include <cstdint>
#include <string>
#include <vector>

#include "core/iteration.h"

namespace servesim {

struct PoolStatus {
  int ready = 0, starting = 0, draining = 0;
  int target = 0;                 // the target the lifecycle works to (the last command that landed)
  std::uint64_t failures = 0;     // workers of the pool that failed so far
  double waiting = 0, running = 0;  // queued and running requests on its serving workers, now
  double kv_usage_sum = 0;        // sum over serving workers of their KV usage (0..1)
  int serving = 0;                // ready + draining workers
};

struct WorkerStatus {
  std::int32_t id = 0, pool = 0;
  std::string name;
  const char* state = "stopped";  // stopped | starting | ready | draining
  EngineLoad load;
};

class ClusterView {
 public:
  virtual ~ClusterView() = default;
  virtual PoolStatus pool_status(size_t pool) const = 0;
  virtual std::int32_t gpus_in_use() const = 0;
  // The power limits (catalog tdp_w) of the GPUs held, in watts.
  virtual double tdp_in_use_w() const { return 0; }
  // Requests the router holds back (admission control, or no worker ready), at the scrape.
  virtual std::int64_t router_queued() const { return 0; }
  virtual void worker_status(std::vector<WorkerStatus>& out) const = 0;
};

}  // namespace servesim
