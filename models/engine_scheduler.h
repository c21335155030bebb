#pragma once
// The engine's scheduler: decides what each iteration computes and applies its results.
// A plain class (no SystemC), driven by the Worker module:
//   enqueue() new requests; plan() the next iteration; the worker waits its duration;
//   complete() stamps tokens and reports first tokens and finished requests.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "core/iteration.h"
#include "core/registry.h"
#include "core/request.h"
#include "models/kv_cache.h"
#include "models/kv_host_tier.h"
#include "models/kv_storage.h"
#include "models/lora_slots.h"
#include "models/pool_config.h"
#include "models/speculative.h"
#include "models/timing/timing_model.h"

namespace servesim {

// What a worker is asked to do with a request.
enum class EngineJob : std::uint8_t {
  kFull,         // prefill, then decode every output token
  kPrefillOnly,  // compute the prompt, then hold its KV blocks until release_prefilled()
};

class EngineScheduler {
 public:
  virtual ~EngineScheduler() = default;
  virtual void enqueue(Request* r, TimeNs now, EngineJob job = EngineJob::kFull) = 0;
  // Plans the next iteration starting at `now`; false when there is nothing to run.
  virtual bool plan(TimeNs now, BatchShape& batch) = 0;
  // Attention data parallelism: after plan(), each rank's batch, which the worker prices one by
  // one (the step lasts as long as the slowest); empty for a single-rank engine, whose batch is
  // the one plan() gave.
  virtual std::span<const BatchShape> rank_batches() const { return {}; }
  // Time the planned iteration spends beyond what the timing model prices from its shape (LoRA
  // adapter loads and weight reads).
  virtual TimeNs planned_extra_ns() const { return 0; }
  // The planned iteration's energy per token it computes: complete() shares the iteration's
  // energy among its requests (Request::energy_j) by the tokens each computed.
  virtual void charge_energy(double /*joules_per_token*/) {}
  // Applies the planned iteration, which ended at `now`.
  virtual void complete(TimeNs now, IterationResult& out) = 0;
  virtual EngineLoad load() const = 0;
  // The LoRA adapters of the requests running and waiting here (Request::lora, each once; as
  // vLLM's lora_requests_info metric gives them). Empty without LoRA.
  virtual void lora_adapters(std::vector<std::int32_t>& running, std::vector<std::int32_t>& waiting) const {
    running.clear();
    waiting.clear();
  }
  // The engine restarts empty (its worker stopped or died): every request it held is returned
  // (in no particular state; the caller starts them over or fails them) and its cache is gone.
  virtual std::vector<Request*> reset() = 0;
  // KV-cache changes since the last call (empty for schedulers without a prefix cache), kept
  // only while record_kv_events(true) (the default): a run without a reader turns them off.
  virtual std::vector<KvEvent> take_kv_events() { return {}; }
  virtual void record_kv_events(bool) {}
  // How many of r's leading prompt blocks its prefix cache holds now (0 without one): what an
  // attention-DP engine's prefix_aware balance compares across ranks.
  virtual std::int64_t cached_prefix_blocks(const Request&) const { return 0; }
  // The chain keys of the blocks its prefix cache holds now (empty without one).
  virtual std::vector<std::uint64_t> cached_block_keys() const { return {}; }
  // The one prefix cache whose changes are this engine's GPU KV events, if it has exactly one
  // (null otherwise): the router reads it in place of a table fed by those events. It stays at
  // this address for the engine's life (reset() empties it in place).
  virtual const KvCache* prefix_cache() const { return nullptr; }

  // Live mode. progress(): the output tokens each running request has produced so far (an
  // engine may keep decoding counts implicit; this makes them explicit between iterations).
  // abort(): drops r between iterations, freeing its blocks, if r waits or runs here; false if
  // not (finished, not arrived yet, or a disaggregated hand-off in progress: try again later).
  struct TokenProgress {
    const Request* request;
    std::uint32_t tokens;
  };
  virtual void progress(std::vector<TokenProgress>& out) const = 0;
  virtual bool abort(Request* r) = 0;

  // Disaggregated serving. A prefill worker runs kPrefillOnly jobs and frees their blocks on
  // release_prefilled(). A decode worker reserve()s blocks for a prompt's KV (reusing what its
  // own prefix cache holds) and returns how many must be sent, or nullopt when there is no room
  // yet; land() says the KV arrived. As in vLLM's KV connectors, the decode engine then computes
  // the prompt's last token itself, so the first token comes from its next iteration.
  virtual bool supports_disaggregation() const { return false; }
  virtual std::optional<std::int64_t> reserve(Request*, TimeNs) { return std::nullopt; }
  virtual void land(Request*, TimeNs) {}
  virtual void release_prefilled(Request*) {}
  // After plan(): the kPrefillOnly requests whose prompt the planned iteration completes (their
  // KV can stream out layer by layer while it runs).
  virtual void completing_prefills(std::vector<Request*>& out) const { out.clear(); }

  // KV tiers shared below host memory (kv_storage). A waiting request whose prompt blocks continue
  // there after its GPU and host hits is fetched into host memory before it is admitted, and other
  // requests go ahead meanwhile (as vLLM's KV connectors load asynchronously). take_fetches(): the
  // fetches plan() started since the last call; fetched(): one arrived, and its request waits for
  // admission again (once: it is not fetched twice).
  struct StorageFetch {
    Request* request;
    std::int64_t disk_blocks, remote_blocks;
  };
  virtual void take_fetches(std::vector<StorageFetch>& out) { out.clear(); }
  virtual void fetched(Request*, TimeNs) {}
};

struct SchedulerContext {
  const PoolConfig& pool;
  std::int32_t worker_id;
  std::int64_t kv_blocks;  // KV-cache capacity of this worker, in blocks of pool.engine.block_size
  LoraCosts lora = {};
  std::shared_ptr<const SpeculativeDecoding> speculative = nullptr;  // the pool's, if it has one
  std::uint64_t seed = 0;  // the run's (the worker derives its own streams by name)
  KvOffloadCosts offload = {};  // pools[].kv_offload (host_blocks 0: none)
  KvStorage* storage = nullptr;  // kv_storage's shared tiers (null: none), on this worker's node:
  std::int32_t storage_node = -1;
  // Blocks each running sequence holds beside its tokens' (a hybrid model's linear-attention
  // state, KvCapacity::state_blocks_per_sequence): taken at admission, kept to its end, carried
  // by a KV hand-off.
  std::int64_t state_blocks = 0;
};

using SchedulerRegistry = Registry<"engine scheduler", EngineScheduler, const SchedulerContext&>;

}  // namespace servesim
