#pragma once
// Observations the simulation fires (STYLE practice 4): models never write files; the
// recorder subscribes and decides what is written, how often and where.
#include <cstdint>
#include <span>
#include <string>

#include "core/iteration.h"
#include "core/request.h"

namespace servesim {

struct WorkerSample {
  std::int32_t worker = 0;
  std::int32_t pool = 0;
  EngineLoad load;
  double idle_w = 0;  // what its GPUs draw idle while it holds them (0: it holds none)
};

struct ClusterGauges {
  std::int64_t in_system = 0;        // arrived and not yet finished
  double in_system_area_ns = 0;      // integral of in_system over simulated time so far
  std::int32_t workers_ready = 0, workers_starting = 0, workers_draining = 0;
  std::int64_t router_pending = 0;    // requests waiting at the router for a worker to take them
  std::int32_t gpus_in_use = 0;
  std::uint64_t kv_events = 0;        // KV events the router has applied so far
  std::int64_t indexer_entries = 0;   // (block, worker) pairs in the router's indexer
  std::int32_t transfers_active = 0;  // KV transfers reserved and not yet landed
  std::uint64_t remote_prefills = 0, local_prefills = 0;  // disaggregation decisions so far
  double idle_energy_j = 0;           // what the GPUs held would have drawn idle, so far
};

// One KV transfer, from the decode worker's reservation to the last byte's arrival.
struct TransferRecord {
  std::uint64_t request_id = 0;
  std::int32_t from_worker = -1, to_worker = -1;
  std::int64_t blocks = 0;
  double bytes = 0;
  std::int32_t flows = 0;  // rank-to-rank flows it was split into
  std::int32_t hops = 0;   // links on its longest flow's path
  std::int32_t path = -1;  // index into the fabric's paths (on_fabric)
  TimeNs start_ns = 0, end_ns = 0;
};

struct FabricLinkDesc {
  std::string name, kind;
  double bytes_per_s = 0;
  TimeNs latency_ns = 0;
};

struct LinkSample {
  std::int32_t link = 0;
  double bytes = 0;          // carried during the sample window
  std::int32_t flows = 0;    // active at the sample time
};

// One planner decision for one pool.
// (Doubles first, then an even number of int32s: no padding, so files compare bitwise.)
struct PlannerRecord {
  double time_s;
  double observed_requests, observed_isl, observed_osl, observed_ttft_p50_s, observed_itl_mean_s;
  double predicted_requests, predicted_isl, predicted_osl;
  double capacity_req_per_s, correction;
  double actuation_delay_s;  // the decision's time in transit to the lifecycle
  double lands_s;            // when the lifecycle acts on it (time_s + actuation_delay_s)
  std::int32_t pool, proposed, target, ready, starting, draining, gpus_in_use, gpu_budget;
};

// One control-plane message (planner -> lifecycle, lifecycle -> router), as sent.
enum class ControlKind : std::int8_t { kScale = 0, kReady, kDraining, kStopped, kFailed, kUnreachable };
struct ControlRecord {
  double sent_s = 0, lands_s = 0;
  std::int32_t pool = -1, worker = -1;  // worker -1: a whole pool (kScale)
  std::int32_t target = -1;             // kScale: the replica target
  std::int32_t kind = 0;                // ControlKind
};

// A pool's workers by state, at a sample time.
struct PoolSample {
  std::int32_t pool = 0;
  std::int32_t ready = 0, starting = 0, draining = 0, target = 0, gpus = 0;
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
  // The KV fabric's links (once, before the run) and, per sample, the links that carried bytes.
  virtual void on_fabric(std::span<const FabricLinkDesc>) {}
  virtual void on_transfer(const TransferRecord&) {}
  virtual void on_links(TimeNs /*now*/, std::span<const LinkSample>) {}
  // A route's text (the first flow's hops), named by TransferRecord::path.
  virtual void on_fabric_path(std::int32_t /*path*/, const std::string& /*text*/) {}
  virtual void on_planner(std::span<const PlannerRecord>) {}
  virtual void on_pools(TimeNs /*now*/, std::span<const PoolSample>) {}
  virtual void on_control(const ControlRecord&) {}
  // Sampling resumes after an idle stretch; the next window starts at `window_start`.
  virtual void on_resume(TimeNs /*window_start*/) {}
};

// Passes every observation to two observers (the recorder and the planner's metrics scraper).
class ObserverTee final : public RunObserver {
 public:
  ObserverTee(RunObserver& a, RunObserver& b) : a_(a), b_(b) {}
  void on_arrival(const Request& r) override { a_.on_arrival(r), b_.on_arrival(r); }
  void on_request_done(const Request& r) override { a_.on_request_done(r), b_.on_request_done(r); }
  void on_iteration(std::int32_t w, TimeNs d, const BatchShape& b, const IterationResult& r) override {
    a_.on_iteration(w, d, b, r), b_.on_iteration(w, d, b, r);
  }
  void on_sample(TimeNs now, const ClusterGauges& g, std::span<const WorkerSample> w) override {
    a_.on_sample(now, g, w), b_.on_sample(now, g, w);
  }
  void on_fabric(std::span<const FabricLinkDesc> l) override { a_.on_fabric(l), b_.on_fabric(l); }
  void on_transfer(const TransferRecord& t) override { a_.on_transfer(t), b_.on_transfer(t); }
  void on_links(TimeNs now, std::span<const LinkSample> l) override { a_.on_links(now, l), b_.on_links(now, l); }
  void on_fabric_path(std::int32_t p, const std::string& t) override { a_.on_fabric_path(p, t), b_.on_fabric_path(p, t); }
  void on_planner(std::span<const PlannerRecord> r) override { a_.on_planner(r), b_.on_planner(r); }
  void on_pools(TimeNs now, std::span<const PoolSample> p) override { a_.on_pools(now, p), b_.on_pools(now, p); }
  void on_control(const ControlRecord& c) override { a_.on_control(c), b_.on_control(c); }
  void on_resume(TimeNs t) override { a_.on_resume(t), b_.on_resume(t); }

 private:
  RunObserver &a_, &b_;
};

}  // namespace servesim
