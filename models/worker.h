#pragma once
// Worker: one inference engine replica. One timed event per engine iteration; the scheduler
// decides the batch, the timing model its duration.
#include <systemc>

#include <deque>
#include <functional>
#include <memory>
#include <unordered_map>

#include "core/messages.h"
#include "core/observer.h"
#include "core/sim.h"
#include "models/engine_scheduler.h"
#include "models/power.h"
#include "models/timing/timing_model.h"

namespace servesim {

// Where a worker's KV-cache events go (the router's indexer subscribes, over a timed channel).
class KvEventSink : public virtual sc_core::sc_interface {
 public:
  virtual void publish(std::int32_t worker, std::vector<KvEvent>&& events) = 0;
};

class Worker : public sc_core::sc_module {
 public:
  SC_HAS_PROCESS(Worker);
  Worker(sc_core::sc_module_name name, std::int32_t id, std::int32_t pool,
         std::unique_ptr<EngineScheduler> scheduler, std::unique_ptr<TimingModel> timing,
         TimedChannel<Request*>& done, RunObserver& observer);

  // Optional: bind to receive KV events (block stored / removed, with chain keys).
  sc_core::sc_port<KvEventSink, 1, sc_core::SC_ZERO_OR_MORE_BOUND> kv_events{"kv_events"};

  TimedChannel<WorkerMsg>& input() { return input_; }
  // Disaggregated roles: where prefilled requests and reservations are reported.
  void connect_fabric(TimedChannel<FabricMsg>& fabric) { fabric_ = &fabric; }
  void connect_storage(TimedChannel<StorageFetchMsg>& storage) { storage_ = &storage; }
  // Prices each iteration's GPU energy (IterationResult::energy_j, Request::energy_j).
  // `power` prices one rank's GPUs (the whole worker without attention data parallelism)
  void set_power(std::shared_ptr<const PowerModel> power, int ranks = 1) {
    power_ = std::move(power);
    power_ranks_ = ranks;
  }
  double idle_w() const { return power_ ? power_->idle_w() * power_ranks_ : 0; }
  std::int32_t id() const { return id_; }
  std::int32_t pool() const { return pool_; }
  // Requests waiting here for room for their KV count as incoming.
  EngineLoad load() const {
    EngineLoad l = scheduler_->load();
    l.incoming += static_cast<std::int32_t>(reservations_.size());
    return l;
  }
  void lora_adapters(std::vector<std::int32_t>& running, std::vector<std::int32_t>& waiting) const {
    scheduler_->lora_adapters(running, waiting);
  }
  bool supports_disaggregation() const { return scheduler_->supports_disaggregation(); }
  // Nothing queued, running, held or expected, and no iteration in progress.
  bool idle() const;
  // Called after a step that leaves the worker idle (the lifecycle stops draining workers).
  void set_on_idle(std::function<void(std::int32_t)> f) { on_idle_ = std::move(f); }
  // The worker stops: the iteration in progress is lost, the engine restarts empty; returns the
  // requests it held (for the caller to start over elsewhere or fail).
  std::vector<Request*> stop();
  void start() { stopped_ = false; }
  void mark_stopped() { stopped_ = true; }  // before the run, for a worker that does not serve yet
  bool stopped() const { return stopped_; }
  // Requests that reach a stopped worker (sent before it stopped) go back through this.
  void set_on_bounce(std::function<void(Request*)> f) { on_bounce_ = std::move(f); }
  std::uint64_t iterations() const { return iterations_; }
  std::uint64_t timing_extrapolations() const { return timing_->extrapolations(); }
  std::uint64_t kv_events_published() const { return kv_events_published_; }
  // Live mode (read between kernel slices): output tokens of the requests running here, and the
  // chain keys of the blocks its prefix cache holds.
  void progress(std::vector<EngineScheduler::TokenProgress>& out) const { scheduler_->progress(out); }
  std::vector<std::uint64_t> cached_block_keys() const { return scheduler_->cached_block_keys(); }
  const KvCache* prefix_cache() const { return scheduler_->prefix_cache(); }

 private:
  void start_of_simulation() override;
  void step();
  void accept(const WorkerMsg& m, TimeNs now);
  void try_reservations(TimeNs now);
  void publish_kv_events();
  void send_fetches();
  void apply_aborts(TimeNs now);
  TimedChannel<FabricMsg>& fabric();

  std::int32_t id_, pool_;
  std::unique_ptr<EngineScheduler> scheduler_;
  std::unique_ptr<TimingModel> timing_;
  TimedChannel<WorkerMsg> input_;
  TimedChannel<FabricMsg>* fabric_ = nullptr;
  TimedChannel<StorageFetchMsg>* storage_ = nullptr;  // kv_storage's fetcher, if any
  std::vector<EngineScheduler::StorageFetch> fetches_;
  // fetches whose arrival the engine waits for, by request, and their serials: numbered for the
  // worker's whole life, so an arrival from before a restart (or for a request that left, whose
  // memory may hold another by now) never matches
  std::unordered_map<const Request*, std::uint64_t> fetches_in_flight_;
  std::uint64_t fetch_serial_ = 0;
  std::deque<Request*> reservations_;
  std::vector<Request*> completing_;
  std::vector<Request*> aborts_;  // asked for while an iteration runs: applied when it ends
  std::function<void(std::int32_t)> on_idle_;
  std::function<void(Request*)> on_bounce_;
  bool stopped_ = false;  // KV waiting for room here, first come first served
  TimedChannel<Request*>& done_;
  RunObserver& observer_;
  sc_core::sc_event iteration_done_;
  bool busy_ = false;
  TimeNs iteration_end_ = 0, iteration_len_ = 0;
  std::shared_ptr<const PowerModel> power_;
  int power_ranks_ = 1;
  double iteration_energy_j_ = 0;
  BatchShape batch_;
  IterationResult result_;
  void check_progress();
  static constexpr std::uint64_t kBarrenMargin = 10'000;
  std::uint64_t barren_iterations_ = 0, longest_request_tokens_ = 0;
  std::uint64_t iterations_ = 0;
  std::uint64_t kv_events_published_ = 0;
};

}  // namespace servesim
