#pragma once
// The engine's scheduler: decides what each iteration computes and applies its results.
// A plain class (no SystemC), driven by the Worker module:
//   enqueue() new requests; plan() the next iteration; the worker waits its duration;
//   complete() stamps tokens and reports first tokens and finished requests.
#include <cstdint>
#include <vector>

#include "core/registry.h"
#include "core/request.h"
#include "core/scenario.h"
#include "models/kv_cache.h"
#include "models/timing/timing_model.h"

namespace servesim {

struct EngineLoad {
  std::int32_t waiting = 0;
  std::int32_t running = 0;
  std::int64_t kv_blocks_used = 0;
  std::int64_t kv_blocks_total = 0;  // 0 when the scheduler models no KV cache
};

struct IterationResult {
  std::vector<Request*> finished;  // completed in this iteration (status set, finish stamped)
  std::int32_t tokens_emitted = 0;  // output tokens produced by the iteration
  std::int32_t decode_tokens = 0;   // of which by sequences past their first token (ITL samples)
};

class EngineScheduler {
 public:
  virtual ~EngineScheduler() = default;
  virtual void enqueue(Request* r, TimeNs now) = 0;
  // Plans the next iteration starting at `now`; false when there is nothing to run.
  virtual bool plan(TimeNs now, BatchShape& batch) = 0;
  // Applies the planned iteration, which ended at `now`.
  virtual void complete(TimeNs now, IterationResult& out) = 0;
  virtual EngineLoad load() const = 0;
  // KV-cache changes since the last call (empty for schedulers without a prefix cache).
  virtual std::vector<KvEvent> take_kv_events() { return {}; }
};

struct SchedulerContext {
  const PoolConfig& pool;
  std::int32_t worker_id;
  std::int64_t kv_blocks;  // KV-cache capacity of this worker, in blocks of pool.engine.block_size
};

using SchedulerRegistry = Registry<"engine scheduler", EngineScheduler, const SchedulerContext&>;

}  // namespace servesim
