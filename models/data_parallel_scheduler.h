#pragma once
// Attention data parallelism (pools[].attention_dp): one engine of N ranks, each a full engine
// scheduler with its own waiting queue and KV cache, stepping together. As SGLang's DP attention
// and vLLM's data-parallel engines do, a new request joins one rank (engine.dp_balance), every
// rank plans its own batch for the same step, and the step lasts as long as the slowest rank's
// batch (the worker prices each rank's batch: rank_batches()). The ranks share a MoE model's
// experts, so each rank's batch carries the tokens of all of them (BatchShape::moe_group_*).
// To the router the engine is one worker whose KV events say which blocks some rank holds, or,
// under dp_balance router, a worker of N ranks it routes to, each with its own KV events.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "models/engine_scheduler.h"

namespace servesim {

class DataParallelScheduler final : public EngineScheduler {
 public:
  // `balance`: least_loaded (vLLM's coordinator: lowest 4 x waiting + running, the first on
  // ties), round_robin, prefix_aware (the rank caching most of the prompt's leading blocks,
  // then least_loaded's rule), or router (the rank the router chose, Request::dp_rank; the
  // engine's KV events then name the rank whose cache changed instead of merging the ranks').
  DataParallelScheduler(std::vector<std::unique_ptr<EngineScheduler>> ranks, std::string balance);

  void enqueue(Request* r, TimeNs now, EngineJob job) override;
  bool plan(TimeNs now, BatchShape& batch) override;
  std::span<const BatchShape> rank_batches() const override { return batches_; }
  TimeNs planned_extra_ns() const override;
  void charge_energy(double joules_per_token) override;
  void complete(TimeNs now, IterationResult& out) override;
  EngineLoad load() const override;
  void lora_adapters(std::vector<std::int32_t>& running, std::vector<std::int32_t>& waiting) const override;
  std::vector<Request*> reset() override;
  std::vector<KvEvent> take_kv_events() override;
  void record_kv_events(bool on) override;
  std::vector<std::uint64_t> cached_block_keys() const override;
  void progress(std::vector<TokenProgress>& out) const override;
  bool abort(Request* r) override;
  bool supports_disaggregation() const override;
  std::optional<std::int64_t> reserve(Request* r, TimeNs now) override;
  void land(Request* r, TimeNs now) override;
  void release_prefilled(Request* r) override;
  void completing_prefills(std::vector<Request*>& out) const override;
  // kv_storage: every rank's fetches (each rank stages into its own host memory); an arrival goes
  // to the rank holding its request
  void take_fetches(std::vector<StorageFetch>& out) override;
  void fetched(Request* r, TimeNs now) override;

  size_t ranks() const { return ranks_.size(); }
  int rank_of(const Request* r) const;  // -1 if none holds it

 private:
  // the rank a request joins (also written to the request: Request::dp_rank, or prefill_dp_rank
  // for a prefill-only job), or under dp_balance router the one the router wrote there
  size_t pick_rank(Request& r, bool prefill_only);
  size_t pick_own_rank(const Request& r);
  bool router_picks() const { return balance_ == "router"; }
  EngineScheduler& holder(const Request* r) const;  // the rank a request joined (InvariantError if none)

  std::vector<std::unique_ptr<EngineScheduler>> ranks_;
  std::string balance_;
  std::uint64_t next_ = 0;  // round_robin
  std::unordered_map<const Request*, size_t> rank_of_;
  std::vector<StorageFetch> rank_fetches_;  // take_fetches()' buffer
  std::vector<BatchShape> batches_;
  std::vector<char> planned_;
  IterationResult rank_out_;
  // blocks held per (medium, key) over the ranks: the worker's events say stored when the first
  // rank caches a block and removed when the last one drops it
  std::unordered_map<std::uint64_t, std::int32_t> holders_[2];
  bool recording_ = true;
};

// The pool's scheduler for one worker: the registered one, or attention_dp of them in a
// DataParallelScheduler (rank k > 0 draws its random streams from a seed of its own).
std::unique_ptr<EngineScheduler> make_engine_scheduler(const SchedulerContext& ctx);

}  // namespace servesim
