#pragma once
// Router: picks a worker per request with its policy, from what it has seen: worker load
// (its own bookkeeping, or periodic reports that arrive late) and, for prefix-aware policies,
// a KvIndexer fed by the workers' KV events over a timed channel (so it can be stale) or by
// its own decisions (approximate mode). With no event latency the events' view is read from the
// workers' own caches (CacheViewIndex), with the same answers.
#include <systemc>

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/messages.h"
#include "core/sim.h"
#include "models/kv_cache.h"
#include "models/pool_config.h"
#include "router/cache_view_index.h"
#include "router/kv_indexer.h"
#include "models/kv_storage.h"
#include "router/router_policy.h"

namespace servesim {

struct KvEventBatch {
  std::int32_t worker = -1;
  std::vector<KvEvent> events;
};

struct LoadReport {
  std::int32_t worker = -1;
  std::int32_t active_seqs = 0;
  std::int64_t active_blocks = 0;
};

struct RouterStats {
  std::uint64_t kv_events = 0;        // KV events applied to the indexer
  std::int64_t indexer_entries = 0;   // (block, worker) pairs the indexer holds
  std::uint64_t load_reports = 0;
  std::uint64_t remote_prefills = 0;  // disaggregated: sent to a prefill worker
  std::uint64_t local_prefills = 0;   // disaggregated: prefilled on the decode worker
};

class RouterModule : public sc_core::sc_module {
 public:
  SC_HAS_PROCESS(RouterModule);
  // `roles[w]` is worker w's role and `models[w]` the model it serves (a request goes only to
  // workers serving its model; `model_names` name them, for the rate limits). The first policy picks among aggregated and decode workers;
  // `prefill_policy` (needed when there are prefill workers) picks the prefill worker.
  RouterModule(sc_core::sc_module_name name, const RouterConfig& cfg, std::unique_ptr<RouterPolicy> policy,
               std::unique_ptr<RouterPolicy> prefill_policy, std::int32_t block_size,
               TimedChannel<Request*>& requests, TimedChannel<RouteRelease>& releases,
               TimedChannel<WorkerStateMsg>& worker_states, std::vector<TimedChannel<WorkerMsg>*> workers,
               std::vector<WorkerRole> roles, std::vector<std::int16_t> models,
               const std::vector<std::string>& model_names);

  TimedChannel<KvEventBatch>& kv_events() { return kv_events_; }
  // Workers offload KV to host memory: the router keeps a second index from their kCpu events,
  // and policies see each worker's host-tier overlap beyond its GPU one.
  void track_host_tier() { host_view_ = true; }
  // kv_storage's shared tiers and each worker's node (-1: none), read directly when routing
  // (router.storage_overlap_weight > 0).
  void see_storage(const KvStorage* storage, std::vector<std::int32_t> worker_node) {
    storage_ = storage;
    storage_node_ = std::move(worker_node);
  }
  // Each worker's engine prefix cache (null where it has none or not exactly one), before the
  // simulation starts: with router.index_store auto the events-fed index reads them in place of a
  // table (CacheViewIndex) where every worker has one of the router's block size and no worker's
  // ranks are routed.
  void read_engine_caches(std::vector<const KvCache*> caches) { engine_caches_ = std::move(caches); }
  // A worker's engine is about to restart with an empty cache (before Worker::stop()).
  void engine_resetting(size_t worker);
  // Attention-DP workers whose rank the router picks (engine.dp_balance router): ranks[w] targets
  // for worker w (1 for the others). Each rank is a target of the policy with its own prefix
  // overlap (from KV events naming the rank) and its own load (the router's count); the request
  // carries the rank (Request::dp_rank, prefill_dp_rank). Before the simulation starts.
  void route_ranks(const std::vector<std::int32_t>& ranks);
  // Where requests rejected by admission control go (the frontend's end-of-request channel).
  void set_rejects(TimedChannel<Request*>& rejects) { rejects_ = &rejects; }
  // LoRA: the adapters each worker serves (cluster indices, Request::lora) and its max_loras.
  struct WorkerLora {
    std::vector<std::int32_t> adapters;
    int max_loras = 0;
  };
  // `adapter_names`: the served adapters (Request::lora indexes them); a rate limit naming one
  // gives its requests their own bucket.
  void set_lora(const std::vector<WorkerLora>& workers, const std::vector<std::string>& adapter_names);
  std::uint64_t rejected() const { return rejected_; }
  TimedChannel<LoadReport>& load_reports() { return load_reports_; }
  // The router's own count of requests in flight per worker (for invariants).
  const std::vector<WorkerView>& bookkeeping() const { return own_; }
  bool uses_overlap() const;
  RouterStats stats() const {
    return {kv_events_applied_, view_ ? view_->entries() : indexer_.entries(), load_reports_applied_, remote_prefills_,
            local_prefills_};
  }
  // Whether the router sends new requests to a worker: it is ready as far as the router has heard
  // (worker state messages, service discovery) and no request bounced off it since.
  bool accepting(size_t worker) const { return accepting_.at(worker) != 0; }
  // Requests the router has sent to a worker and not yet seen end there (remote prefills included).
  std::int32_t routed_to(size_t worker) const { return own_.at(worker).active_seqs; }
  // Called for each worker the router sees a request leave (after its bookkeeping is updated).
  void set_on_release(std::function<void(std::int32_t)> f) { on_release_ = std::move(f); }
  // Requests waiting for a worker to accept them.
  std::int64_t pending() const {
    std::int64_t n = 0;
    for (const auto& q : pending_) n += static_cast<std::int64_t>(q.size());
    return n;
  }
  // Called after releases leave no request routed anywhere (the last link of a request's life).
  void set_on_idle(std::function<void()> f) { on_idle_ = std::move(f); }

 private:
  void start_of_simulation() override;
  void on_requests();
  const std::vector<CacheViewIndex::Batch>& events_in_flight();
  void route_pending(size_t model, bool reports, bool overlap);
  void see_storage_overlaps();
  void hold(Request* r);                      // into its model's queue, in the admission order
  void reject(Request* r, RejectReason why);  // ends it unserved
  void on_timeouts();
  bool full(size_t worker) const {
    return cfg_.admission.max_inflight_per_worker && own_[worker].active_seqs >= *cfg_.admission.max_inflight_per_worker;
  }
  void apply_worker_states();
  // A worker and, for one whose ranks the router picks, the rank (else -1).
  struct Target {
    size_t worker;
    std::int32_t rank = -1;
  };
  void route(Request* r, Target first_choice);
  void on_releases();
  void on_kv_events();
  void on_load_reports();
  std::int64_t blocks_of(std::int64_t tokens) const { return (tokens + block_size_ - 1) / block_size_; }
  // The policy's pick among the accepting workers of `candidates` (worker indices; each routed
  // rank of one a target of its own); worker workers_.size() if none accepts. `admission`: skip
  // workers at router.admission.max_inflight_per_worker.
  Target pick(RouterPolicy& policy, const Request& r, std::int64_t request_blocks, const std::vector<size_t>& candidates,
              bool admission = false);
  void occupy(Target t, std::int64_t tokens);
  void vacate(size_t worker, std::int32_t rank, std::int64_t tokens);
  bool prefill_locally(const Request& r, Target decode) const;
  // The indexers' column of a worker's rank: workers in order, a routed worker's ranks side by side.
  size_t column(size_t worker, std::int32_t rank) const {
    return rank_base_[worker] + (rank > 0 && routed_ranks_[worker] > 1 ? static_cast<size_t>(rank) : 0);
  }
  // the request being routed's leading blocks cached at a target (0 unless the policy reads overlaps)
  std::int64_t overlap_at(Target t) const { return overlap_.empty() ? 0 : overlap_[column(t.worker, t.rank)]; }

  const RouterConfig& cfg_;
  std::unique_ptr<RouterPolicy> policy_, prefill_policy_;
  std::int32_t block_size_;
  TimedChannel<Request*>& requests_;
  TimedChannel<RouteRelease>& releases_;
  TimedChannel<WorkerStateMsg>& worker_states_;
  TimedChannel<KvEventBatch> kv_events_{"kv_events"};
  TimedChannel<LoadReport> load_reports_{"load_reports"};
  std::vector<TimedChannel<WorkerMsg>*> workers_;
  std::vector<WorkerRole> roles_;
  // per model: aggregated + decode workers; prefill workers
  std::vector<std::vector<size_t>> entry_, prefill_;
  // LoRA: per adapter, the workers serving it; per worker, the adapters the router last sent it
  // (most recent last, at most its max_loras): what it assumes resident there
  std::vector<std::vector<size_t>> entry_by_adapter_;
  std::vector<std::vector<std::int32_t>> sent_adapters_;
  std::vector<int> max_loras_;
  std::vector<size_t> affine_, roomy_;
  const std::vector<size_t>& lora_candidates(const Request& r, const std::vector<size_t>& serving);
  void note_adapter(size_t worker, std::int32_t adapter);
  bool serves(size_t worker, std::int32_t adapter) const;
  std::vector<WorkerView> candidate_views_;
  std::vector<Target> candidate_ids_;
  std::vector<std::int32_t> routed_ranks_;  // per worker: ranks the router picks among (1: the worker)
  std::vector<size_t> rank_base_;           // per worker: its first indexer column
  std::vector<WorkerView> rank_own_;        // per column: the router's count of what a routed rank runs
  std::vector<char> accepting_;
  std::vector<std::deque<Request*>> pending_;  // per model: waiting for a worker of it to accept
  struct Timeout {
    Request* request;
    std::uint64_t id;        // the slot may hold another request by then,
    std::uint32_t retries;   // or this one again, held anew after its worker failed
  };
  TimedChannel<Timeout> timeouts_{"admission_timeouts"};
  sc_core::sc_event retry_;  // capacity freed while requests wait
  TimedChannel<Request*>* rejects_ = nullptr;
  struct Bucket {
    double rate = 0, size = 0, tokens = 0;  // requests/s, capacity, now held
    TimeNs at = 0;                           // when `tokens` was last brought up to date
  };
  std::vector<std::optional<Bucket>> buckets_;  // per model
  std::vector<std::optional<Bucket>> adapter_buckets_;  // per LoRA adapter (its requests skip the model's)
  bool admit_rate(Request* r);                  // takes a token from its model's bucket, if any
  std::uint64_t rejected_ = 0;
  std::int64_t prefills_outstanding_ = 0;  // sent to prefill workers, prefill not yet done
  std::uint64_t remote_prefills_ = 0, local_prefills_ = 0;
  std::vector<WorkerView> own_;    // the router's bookkeeping
  std::vector<WorkerView> views_;  // what the policy sees
  KvIndexer indexer_;  // a column per worker, or per rank of a routed one (column())
  std::vector<const KvCache*> engine_caches_;
  std::unique_ptr<CacheViewIndex> view_;  // in place of indexer_ where the engines' caches serve
  std::vector<CacheViewIndex::Batch> in_flight_;
  std::vector<std::int64_t> overlap_;  // per column, for the request being routed
  bool host_view_ = false;
  KvIndexer host_indexer_;  // blocks in the workers' host memory (kCpu events), when host_view_
  const KvStorage* storage_ = nullptr;
  std::vector<std::int32_t> storage_node_;
  std::vector<std::int64_t> host_overlap_, storage_overlap_;  // per column
  std::vector<std::uint64_t> keys_;  // the prompt block keys of the request being routed
  std::int64_t active_ = 0;
  std::uint64_t kv_events_applied_ = 0, load_reports_applied_ = 0;
  std::function<void()> on_idle_;
  std::function<void(std::int32_t)> on_release_;
};

}  // namespace servesim
