#pragma once
// Worker lifecycle: stopped -> starting -> ready -> draining -> stopped. A pool's workers are
// built once (worker_slots); the lifecycle moves them between states to reach the targets the
// planner's ScaleCommand messages carry (they land an actuation delay after the decision). Each
// state change reaches the router as a WorkerStateMsg a discovery delay later: until then the
// router keeps sending to a draining worker, which serves what it gets and stops only once the
// router knows; a request sent to a worker that is gone bounces, the router marks the worker
// unreachable, and the request is routed again. GPUs count from the moment a worker starts starting until it stops; a start that would
// exceed the GPU budget waits for GPUs to free up. A ready worker registers with the router; a
// draining one takes no new requests and stops when idle (or at its drain timeout, its requests
// then migrated or aborted). Failures kill serving workers; their requests are retried elsewhere
// or failed.
#include <systemc>

#include <functional>
#include <optional>
#include <vector>

#include "core/messages.h"
#include "core/observer.h"
#include "core/rng.h"
#include "core/sim.h"
#include "models/worker.h"
#include "router/router_module.h"
#include "scenario/scenario.h"

namespace servesim {

enum class WorkerState : std::uint8_t { kStopped, kStarting, kReady, kDraining };

struct LifecycleStats {
  std::uint64_t starts = 0, stops = 0, failures = 0;
  std::uint64_t retried = 0, failed_requests = 0, migrated = 0, aborted = 0;
};

class Lifecycle : public sc_core::sc_module {
 public:
  SC_HAS_PROCESS(Lifecycle);
  // `requeue`: start a request over (to the router); `fail`: end it as failed (to the frontend).
  Lifecycle(sc_core::sc_module_name name, const ScenarioConfig& cfg, std::vector<Worker*> workers,
            RouterModule& router, TimedChannel<ScaleCommand>& commands, TimedChannel<WorkerStateMsg>& to_router,
            TimedChannel<RouteRelease>& releases, TimedChannel<Request*>& requeue, TimedChannel<Request*>& failed,
            RunObserver& observer);

  int target(size_t pool) const { return targets_.at(pool); }
  std::uint64_t failures(size_t pool) const { return pool_failures_.at(pool); }
  int count(size_t pool, WorkerState s) const;
  WorkerState state(size_t worker) const { return state_.at(worker); }
  std::int32_t gpus_in_use() const { return gpus_; }
  std::int32_t peak_gpus() const { return peak_gpus_; }
  double gpu_seconds() const;            // integral of GPUs in use, up to now
  // Energy: what the GPUs held would have drawn idle, integrated up to now (iterations add their
  // excess over it); and the power limits of the GPUs held, now and at most.
  double idle_energy_j() const;
  double tdp_in_use_w() const { return tdp_w_; }
  double peak_tdp_w() const { return peak_tdp_w_; }
  double underprovisioned_s() const;     // time some pool had fewer ready workers than its target
  const LifecycleStats& stats() const { return stats_; }
  // For the lifecycle's own end-of-run check.
  bool settled() const;

 private:
  struct Timer {
    std::int32_t worker;
    std::uint64_t generation;  // a timer of an earlier state is ignored
  };
  void start_of_simulation() override;
  void on_commands();
  // Starts or drains workers of `pool` until `target` serve (ready + starting), within the bounds;
  // `drain`: workers to drain first.
  void set_target(size_t pool, int target, const std::vector<std::int32_t>& drain);
  // Tells the router of a state change, a discovery delay from now (never before an earlier one),
  // or `at_once` (the starting fleet; a bounce, which the router finds itself).
  void publish(size_t w, WorkerStateKind kind, bool at_once = false);
  void on_discovered();
  void account();
  void hold(size_t pool, int sign);
  void start_worker(size_t w);
  enum class StopCause { kIdle, kFailure, kDrainTimeout };
  void stop_worker(size_t w, StopCause cause);
  void drain_worker(size_t w);
  void try_pending_starts();
  void reconcile(size_t pool);
  void reconcile_pool(size_t pool);
  void on_ready();
  void on_drain_timeout();
  void on_scheduled_failure();
  void on_random_failure();
  void arm_random_failure();
  void on_idle(std::int32_t worker);
  void hand_back(Request* r, bool retry);
  TimeNs sample_startup(const StartupConfig& s);

  const ScenarioConfig& cfg_;
  std::vector<Worker*> workers_;
  RouterModule& router_;
  TimedChannel<ScaleCommand>& commands_;
  TimedChannel<WorkerStateMsg>& to_router_;
  RunObserver& observer_;
  TimedChannel<RouteRelease>& releases_;
  TimedChannel<Request*>& requeue_;
  TimedChannel<Request*>& failed_;
  std::vector<size_t> pool_of_;
  std::vector<std::vector<size_t>> pool_workers_;
  std::vector<WorkerState> state_;
  std::vector<std::uint64_t> generation_;
  std::vector<int> targets_;
  std::vector<int> want_start_;  // starts waiting for GPUs, per pool
  std::int32_t gpus_ = 0, peak_gpus_ = 0;
  std::vector<double> pool_idle_w_, pool_tdp_w_;  // one worker's, per pool
  double idle_w_ = 0, tdp_w_ = 0, peak_tdp_w_ = 0;  // of the workers holding GPUs
  double idle_energy_j_ = 0;
  bool reconciling_ = false;
  double gpu_area_ = 0, under_area_ = 0;
  TimeNs area_at_ = 0;
  Rng rng_;
  TimedChannel<Timer> ready_{"ready"}, drain_timeout_{"drain_timeout"};
  TimedChannel<Timer> discovered_{"discovered"};  // the router has seen a worker's drain
  std::vector<char> drain_known_;                   // per worker: the router knows it drains
  std::vector<TimeNs> published_until_;             // per worker: the latest state message's arrival
  std::vector<std::uint64_t> pool_failures_;
  Rng discovery_rng_;
  std::vector<size_t> failure_order_;  // failures.schedule by time
  size_t next_failure_ = 0;
  sc_core::sc_event failure_tick_, random_failure_;
  LifecycleStats stats_;
};

}  // namespace servesim
