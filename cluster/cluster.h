#pragma once
// Cluster: the top SystemC module. Builds every part from a validated scenario, holds them
// as members, samples gauges at the scenario's interval, and checks run invariants.
#include <systemc>

#include <memory>
#include <vector>

#include "cluster/frontend.h"
#include "cluster/kv_event_bus.h"
#include "cluster/kv_fabric.h"
#include "cluster/kv_storage_module.h"
#include "cluster/lifecycle.h"
#include "core/observer.h"
#include "core/sim.h"
#include "models/worker.h"
#include "planner/planner.h"
#include "router/router_module.h"
#include "scenario/placement.h"
#include "scenario/scenario.h"
#include "traces/trace_player.h"

namespace servesim {

// How the cluster is driven: a workload to its end (run), or open-ended with requests injected
// from outside (live).
struct ClusterMode {
  bool open_ended = false;         // never drains: whoever drives the kernel decides when it ends
  bool replay_workload = true;     // play the scenario's workload (in live mode: background traffic)
  KvEventSink* kv_sink = nullptr;  // also receives every worker's KV events
  InProcessPlanner planner;        // planner.external.connect: inprocess:// (the Python API)
};

// The cluster is also what the planner observes (ClusterView): pools by state and load.
class Cluster : public sc_core::sc_module, public ClusterView {
 public:
  SC_HAS_PROCESS(Cluster);
  Cluster(sc_core::sc_module_name name, const LoadedScenario& scenario, RunObserver& observer,
          ClusterMode mode = {});

  // Live mode, from a process inside the kernel. inject(): a request arrives `delay_ns` from now
  // (its client_id set). abort_client(): asks the worker holding that client's request to drop it; false once
  // the request has ended (call again until then: it may still be on its way to a worker).
  void inject(TraceRequest request, TimeNs delay_ns = 0);
  bool abort_client(std::uint64_t client_id);
  // Live mode, between kernel slices: each running request's output tokens so far.
  void progress(std::vector<EngineScheduler::TokenProgress>& out) const;
  const std::vector<std::unique_ptr<Worker>>& workers() const { return workers_; }

  // True when the trace is exhausted and every request has finished.
  bool drained() const;
  // Ends the run at the current time: requests in flight are reported unfinished.
  void finish_run();
  // Emits the last, partial sample window (if any time passed since the last sample).
  void final_sample();
  // Throws InvariantError if a conservation law is broken (call after finish_run()).
  void check_invariants() const;

  const Lifecycle& lifecycle() const { return *lifecycle_; }
  const Planner& planner() const { return *planner_; }
  Planner& planner() { return *planner_; }
  // Engine iterations run so far, all workers (progress, for stall detection).
  std::uint64_t iterations() const;
  // Timing lookups outside measured data (clamped or extrapolated), all workers.
  std::uint64_t timing_extrapolations() const;
  std::size_t num_workers() const { return workers_.size(); }
  const Frontend& frontend() const { return *frontend_; }
  const TraceSource& trace_source() const { return player_->source(); }
  const TracePlayer& player() const { return *player_; }
  ClusterGauges gauges() const;

  // ClusterView
  PoolStatus pool_status(size_t pool) const override;
  std::int32_t gpus_in_use() const override { return lifecycle_->gpus_in_use(); }
  double tdp_in_use_w() const override { return lifecycle_->tdp_in_use_w(); }
  std::int64_t router_queued() const override { return router_->pending(); }
  void worker_status(std::vector<WorkerStatus>& out) const override;

 private:
  void sample();
  void report_loads();
  void wake();
  bool idle() const;
  void start_of_simulation() override;

  const ScenarioConfig& cfg_;
  ClusterMode mode_;
  std::uint64_t injected_ = 0;
  std::unique_ptr<KvEventFanout> kv_fanout_;
  PlannerMetrics metrics_;
  ObserverTee tee_;
  RunObserver& observer_;  // the tee: the recorder and the planner's scraper
  TimedChannel<TraceRequest> arrivals_{"arrivals"};
  TimedChannel<Request*> to_router_{"to_router"};
  TimedChannel<Request*> done_{"done"};
  TimedChannel<RouteRelease> releases_{"releases"};
  TimedChannel<ScaleCommand> scale_commands_{"scale_commands"};  // planner -> lifecycle
  TimedChannel<WorkerStateMsg> worker_states_{"worker_states"};  // lifecycle -> router
  std::unique_ptr<TracePlayer> player_;
  std::unique_ptr<Frontend> frontend_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<RouterModule> router_;
  std::vector<WorkerSample> worker_samples_;
  bool finished_ = false;
  sc_core::sc_event tick_, report_tick_;
  std::unique_ptr<KvEventBus> kv_bus_;
  std::unique_ptr<KvFabric> fabric_;
  std::unique_ptr<KvStorageModule> storage_;  // kv_storage's tiers and fetcher, if configured
  std::int32_t storage_first_link_ = 0;        // the observer's number of kv_storage's first link
  std::vector<LinkSample> link_samples_;
  std::unique_ptr<Lifecycle> lifecycle_;
  std::unique_ptr<Planner> planner_;
  std::vector<PoolSample> pool_samples_;
  TimeNs last_sample_ns_ = 0;
  bool sampler_asleep_ = false, reports_asleep_ = false;
};

}  // namespace servesim
