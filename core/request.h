#pragma once
// One request's life, stamped by the modules it passes through (times in ns; -1 = not reached).
#include <cstdint>
#include <vector>

#include "core/units.h"

namespace servesim {

// How a request was served.
enum class RequestRoute : std::int8_t {
  kAggregated = 0,     // one aggregated worker did everything
  kRemotePrefill = 1,  // prefill worker, KV transfer, decode worker
  kLocalPrefill = 2,   // a decode worker prefilled it itself (conditional disaggregation)
};

enum class RequestStatus : std::int8_t {
  kInFlight = 0,
  kCompleted = 1,
  kUnfinished = 2,  // the simulation stopped (max_time) before it ended
  kFailed = 3,      // its worker died or drained out under it, and it was not retried
  kAborted = 4,     // its client went away (live mode): the engine dropped it and freed its KV
  kRejected = 5,    // never served: see its RejectReason
};

enum class RejectReason : std::int8_t {
  kNone = 0,
  kUnknownModel = 1,  // it names a model no pool serves
  kQueueFull = 2,     // the router's queue for its model was full (router.admission.max_queue)
  kQueueTimeout = 3,  // it waited router.admission.max_wait in the router's queue
  kRateLimited = 4,   // its model's token bucket (router.admission.rate_limits) was empty
};

struct Request {
  std::uint64_t id = 0;
  TimeNs arrival_ns = 0;
  std::uint32_t input_tokens = 0;
  std::uint32_t output_tokens = 0;
  std::uint32_t hash_block_tokens = 0;
  std::vector<std::uint64_t> hash_ids;
  std::uint64_t session_id = 0;
  std::int32_t priority = 0;  // lower is served first under engine.policy: priority
  std::int16_t model = 0;     // index into the cluster's served models
  std::int16_t lora = -1;     // index into the cluster's served LoRA adapters (-1: the base model)
  std::int8_t slo_class = -1;  // index into slo.classes (-1: the default targets)
  RejectReason reject_reason = RejectReason::kNone;
  std::uint64_t client_id = 0;  // live mode: the HTTP request it came from (0 = a trace row)
  std::int32_t pinned_worker = -1;  // live mode: sent to this worker's own endpoint (-1 = the router picks)
  // request graphs (sessions, agent calls): it arrived at deps_done_ns + think_ns + tool_wait_ns
  std::uint64_t trace_id = 0;           // 0 = nothing waits for it
  std::vector<std::uint64_t> wait_for;  // trace ids of the requests it waited for
  TimeNs deps_done_ns = -1;             // the last of those ended (-1 = it waited for none)
  TimeNs think_ns = 0, tool_wait_ns = 0;

  TimeNs routed_ns = -1;
  TimeNs scheduled_ns = -1;    // first admitted to a batch
  TimeNs prefill_end_ns = -1;  // last prompt token computed
  TimeNs first_token_ns = -1;
  TimeNs finish_ns = -1;
  std::int32_t worker = -1;          // the aggregated or decode worker
  std::int32_t prefill_worker = -1;  // the remote prefill worker (kRemotePrefill only)
  // Attention-DP workers (pools[].attention_dp > 1): the rank serving it on `worker` and on
  // `prefill_worker`; chosen by the router under engine.dp_balance router, else by the engine
  // (-1: not on a data-parallel engine)
  std::int32_t dp_rank = -1, prefill_dp_rank = -1;
  RequestRoute route = RequestRoute::kAggregated;
  TimeNs reserve_start_ns = -1;   // the decode worker was asked to reserve room for the KV
  TimeNs reserved_ns = -1;        // the decode worker reserved room
  TimeNs transfer_start_ns = -1;  // the KV starts to move
  TimeNs transfer_end_ns = -1;    // the last byte arrived
  double transfer_bytes = 0;
  double energy_j = 0;  // GPU energy of the iterations that computed its tokens, its share by tokens
  std::uint32_t cached_tokens = 0;   // prompt tokens found in the worker's prefix cache
  std::uint32_t offloaded_tokens = 0;  // of them, loaded back from its host memory (kv_offload)
  TimeNs onboard_ns = 0;               // the time of those loads
  // kv_storage: prompt tokens fetched from a node's disk and from remote storage into its
  // worker's host memory before admission (then loaded as host hits), and the time it waited
  std::uint32_t disk_tokens = 0, remote_tokens = 0;
  TimeNs fetch_ns = 0;
  std::uint32_t expected_cached_tokens = 0;  // what the router expected the worker to have cached
  std::uint32_t tokens_emitted = 0;
  std::uint32_t preemptions = 0;
  std::uint32_t retries = 0;  // times it started over after its worker stopped
  std::int8_t lora_loaded = -1;  // its adapter: 1 loaded for its (last) admission, 0 already resident
  RequestStatus status = RequestStatus::kInFlight;
  // Its prompt's block chain keys at block size `block_keys_size` (0: none yet), computed once by
  // prompt_keys() for the router and the workers of that block size
  mutable std::vector<std::uint64_t> block_keys;
  mutable std::int32_t block_keys_size = 0;

  // Starts over from routing (its worker stopped): everything after arrival is forgotten.
  void restart() {
    Request fresh;
    fresh.id = id;
    fresh.arrival_ns = arrival_ns;
    fresh.input_tokens = input_tokens;
    fresh.output_tokens = output_tokens;
    fresh.hash_block_tokens = hash_block_tokens;
    fresh.hash_ids = std::move(hash_ids);
    fresh.session_id = session_id;
    fresh.priority = priority;
    fresh.model = model;
    fresh.lora = lora;
    fresh.slo_class = slo_class;
    fresh.client_id = client_id;
    fresh.pinned_worker = pinned_worker;
    fresh.trace_id = trace_id;
    fresh.wait_for = std::move(wait_for);
    fresh.deps_done_ns = deps_done_ns;
    fresh.think_ns = think_ns;
    fresh.tool_wait_ns = tool_wait_ns;
    fresh.preemptions = preemptions;
    fresh.energy_j = energy_j;  // spent before its worker stopped
    fresh.retries = retries + 1;
    *this = std::move(fresh);
  }

  double ttft_s() const { return first_token_ns < 0 ? -1 : ns_to_s(first_token_ns - arrival_ns); }
  double e2e_s() const { return finish_ns < 0 ? -1 : ns_to_s(finish_ns - arrival_ns); }
  // Mean gap between consecutive output tokens (undefined, -1, for one-token outputs).
  double mean_itl_s() const {
    if (finish_ns < 0 || output_tokens < 2) return -1;
    return ns_to_s(finish_ns - first_token_ns) / static_cast<double>(output_tokens - 1);
  }
};

}  // namespace servesim
