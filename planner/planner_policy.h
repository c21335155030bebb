#pragma once
// An autoscaling policy: from what a metrics scraper saw in the last adjustment interval and the
// predicted next interval, a replica target per pool. Plain classes behind a registry; the
// Planner module applies the bounds (min/max replicas, GPU budget) and the lifecycle carries
// the targets out.
#include <cmath>
#include <cstdint>
#include <functional>
#include <optional>
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
  int tp = 1;                        // GPUs per worker
  int ready = 0, starting = 0, draining = 0;
  int failed = 0;                    // workers that failed in the window
  int target = 0;                    // the target in force (the last decision that landed)
  int min_replicas = 0, max_replicas = 0;
  double waiting = 0;                // queued requests on serving workers, at the scrape
  double waiting_per_worker = 0;     // queued requests per serving worker, at the scrape
  double running_per_worker = 0;     // running sequences per serving worker, at the scrape
  double kv_usage = 0;               // mean KV usage of serving workers, at the scrape
};

// One worker's forward passes in the window (sent when the external planner asks for them).
struct WorkerObservation {
  std::string name, state;
  std::int32_t pool = 0;
  double iterations = 0, prefill_tokens = 0, decode_tokens = 0;  // scheduled in the window
  double waiting = 0, running = 0, kv_usage = 0;                 // at the scrape
};

struct PlannerObservation {
  TimeNs window_end_ns = 0;  // when the scrape was taken (the planner sees it scrape_delay later)
  double interval_s = 0;
  double requests = 0;       // arrivals in the window
  double completions = 0;    // requests completed in the window
  double mean_isl = std::nan(""), mean_osl = std::nan("");  // of arrivals; of completions
  double ttft_mean_s = std::nan(""), ttft_p50_s = std::nan(""), ttft_p90_s = std::nan(""),
         ttft_p99_s = std::nan("");
  double itl_mean_s = std::nan(""), itl_p50_s = std::nan(""), itl_p90_s = std::nan(""), itl_p99_s = std::nan("");
  double output_tokens_per_s = 0;          // generated in the window
  double prefix_hit_rate = std::nan("");   // prompt tokens of completed requests found cached
  double slo_attainment = std::nan("");    // completed requests meeting the slo
  double rejected = 0;                     // requests rejected in the window (admission control, unknown model)
  double router_queued = 0;                // requests the router holds back, at the scrape
  double spec_acceptance_length = std::nan("");  // speculative decoding: tokens per sequence and step in the window
  std::int32_t gpus_in_use = 0;
  std::int32_t gpu_budget = -1;            // -1: none
  double power_budget_w = std::nan("");    // NaN: none
  double power_in_use_w = 0;               // the power limits of the GPUs held, at the scrape
  std::vector<PoolObservation> pools;
  std::vector<WorkerObservation> workers;  // filled only when asked (external.worker_metrics)
};

struct PlannerForecast {
  double requests = std::nan("");  // next interval's arrivals
  double isl = std::nan(""), osl = std::nan("");
  double rate_req_per_s(double interval_s) const { return requests / interval_s; }
};

struct PoolDecision {
  static PoolDecision keep(int target) {
    PoolDecision d;
    d.target = target;
    return d;
  }
  int target = 0;
  std::optional<int> proposed;               // the policy's own proposal before its bounds (recorded)
  std::vector<std::int32_t> drain;           // workers (cluster-wide ids) to drain first when scaling down
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

// A planner inside the servesim process, spoken to in the same JSON lines as an external one
// (the Python API's callbacks): one message in, one reply out. `ask` sends a query message and
// returns the answers message, so the planner asks its capacity queries inside one call.
using PlannerAsk = std::function<std::string(const std::string& query)>;
using InProcessPlanner = std::function<std::string(const std::string& message, const PlannerAsk& ask)>;

struct PlannerPolicyContext {
  PlannerScope scenario;
  std::string base_dir;
  InProcessPlanner in_process;  // for external.connect: inprocess://
};

using PlannerPolicyRegistry = Registry<"planner policy", PlannerPolicy, const PlannerPolicyContext&>;

}  // namespace servesim
