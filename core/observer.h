#pragma once
// Observations the simulation fires (STYLE practice 4): models never write files; the
// recorder subscribes and decides what is written, how often and where.
#include <cstdint>
#include <span>

#include "core/request.h"
#include "models/engine_scheduler.h"

namespace servesim {

struct WorkerSample {
  std::int32_t worker = 0;
  std::int32_t pool = 0;
  EngineLoad load;
};

struct ClusterGauges {
  std::int64_t in_system = 0;        // arrived and not yet finished
  double in_system_area_ns = 0;      // integral of in_system over simulated time so far
  std::int32_t workers_ready = 0;
  std::int32_t gpus_in_use = 0;
  std::uint64_t kv_events = 0;        // KV events the router has applied so far
  std::int64_t indexer_entries = 0;   // (block, worker) pairs in the router's indexer
};

class RunObserver {
 public:
  virtual ~RunObserver() = default;
  virtual void on_arrival(const Request&) {}
  virtual void on_request_done(const Request&) {}
  virtual void on_iteration(std::int32_t /*worker*/, TimeNs /*duration*/, const BatchShape&,
                            const IterationResult&) {}
  // Called every sample interval, at the end of the window.
  virtual void on_sample(TimeNs /*now*/, const ClusterGauges&, std::span<const WorkerSample>) {}
};

}  // namespace servesim
