#pragma once
// An autoscaling policy: from what a metrics scraper saw in the last adjustment interval and the
// predicted next interval, a replica target per pool. Plain classes behind a registry; the
// Planner module applies the bounds (min/max replicas, GPU budget) and the lifecycle carries
// the targets out.
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "core/registry.h"
#include "core/units.h"
#include "planner/planner_config.h"

namespace servesim {

struct PoolObservation {
  std::string name;
  WorkerRole role = WorkerRole::kAggregated;
  int tp = 1;
  int ready = 0, starting = 0, draining = 0;
  int target = 0;                    // the target in force
  double waiting_per_worker = 0;     // queued requests per serving worker, at the scrape
  double running_per_worker = 0;     // running sequences per serving worker, at the scrape
  double kv_usage = 0;               // mean KV usage of serving workers, at the scrape
};

struct PlannerObservation {
  TimeNs window_end_ns = 0;  // when the scrape was taken (the planner sees it scrape_delay later)
  double interval_s = 0;
  double requests = 0;       // arrivals in the window
  double mean_isl = std::nan(""), mean_osl = std::nan("");  // of arrivals; of completions
  double ttft_mean_s = std::nan(""), ttft_p50_s = std::nan(""), ttft_p99_s = std::nan("");
  double itl_mean_s = std::nan("");
  std::vector<PoolObservation> pools;
};

struct PlannerForecast {
  double requests = std::nan("");  // next interval's arrivals
  double isl = std::nan(""), osl = std::nan("");
  double rate_req_per_s(double interval_s) const { return requests / interval_s; }
};

struct PoolDecision {
  int target = 0;
  double capacity_req_per_s = std::nan("");  // one worker's estimated capacity (sla)
  double correction = std::nan("");          // latency correction applied (sla)
};

class PlannerPolicy {
 public:
  virtual ~PlannerPolicy() = default;
  // One decision per pool, in pool order; `now` is the decision time.
  virtual std::vector<PoolDecision> decide(TimeNs now, const PlannerObservation& seen, const PlannerForecast& next) = 0;
  // False for a policy that never changes a target: the planner then sleeps through idle time.
  virtual bool acts() const { return true; }
};

struct PlannerPolicyContext {
  PlannerScope scenario;
  std::string base_dir;
};

using PlannerPolicyRegistry = Registry<"planner policy", PlannerPolicy, const PlannerPolicyContext&>;

}  // namespace servesim
