#pragma once
// The planner section of a scenario, and what the planner reads of the rest: the pools it scales
// and the SLO (PlannerScope), so the planner needs no whole scenario.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/slo_config.h"
#include "core/units.h"
#include "models/pool_config.h"
#include "planner/load_predictor.h"

namespace servesim {

using config::at_least;
using config::between;
using config::one_of;
using config::positive;

struct ScriptedStepConfig {
  Duration at{0.0};
  std::string pool;
  int replicas = 0;
  template <class V>
  void visit(V& v) {
    v.field("at", at, "from this time", at_least(0));
    v.field("pool", pool, "pool name");
    v.field("replicas", replicas, "target replicas", at_least(0));
  }
};

struct LoadPolicyConfig {
  double queue_up = 4;     // waiting requests per serving worker
  double queue_down = 0.5;
  double kv_up = 0.85;
  double kv_down = 0.4;
  int step = 1;
  Duration cooldown{120.0};
  template <class V>
  void visit(V& v) {
    v.field("queue_up", queue_up, "scale up when waiting requests per serving worker exceed this", at_least(0));
    v.field("queue_down", queue_down, "scale down only when they are below this", at_least(0));
    v.field("kv_up", kv_up, "or when KV usage exceeds this", between(0, 1));
    v.field("kv_down", kv_down, "scale down only when KV usage is below this", between(0, 1));
    v.field("step", step, "workers added or removed per decision", at_least(1));
    v.field("cooldown", cooldown, "no new decision in a pool for this long after one", at_least(0));
  }
};

struct SlaPolicyConfig {
  bool correction = true;
  double min_correction = 1.0, max_correction = 4.0;
  double max_utilisation = 0.9;
  template <class V>
  void visit(V& v) {
    v.field("max_utilisation", max_utilisation,
            "plan workers no busier than this, whatever the queueing model allows (headroom)", between(0.05, 1));
    v.field("correction", correction,
            "scale the latency targets by observed / expected latency (the model's error, queueing)");
    v.field("min_correction", min_correction, "lower clamp of the correction factor", positive());
    v.field("max_correction", max_correction, "upper clamp of the correction factor", positive());
  }
};

// A planner outside servesim, spoken to in JSON lines (docs/planner_protocol.md): a child process
// on its stdin/stdout, or a ZeroMQ REP socket somewhere else.
struct ExternalPlannerConfig {
  std::string command;
  std::string connect;
  Duration timeout{30.0};
  bool worker_metrics = false;
  int max_queries = 10000;
  template <class V>
  void visit(V& v) {
    v.field("command", command,
            "shell command starting the planner (run with sh -c in the scenario's folder); it reads observations "
            "on stdin and writes decisions on stdout, one JSON object per line");
    v.field("connect", connect, "or: a ZeroMQ REP endpoint the planner listens on (tcp://host:port)");
    v.field("timeout", timeout, "wall time the planner may take to answer one message before the run ends",
            config::greater_than(0));
    v.field("worker_metrics", worker_metrics,
            "also send each worker's forward-pass metrics (iterations, scheduled prefill/decode tokens, queue)");
    v.field("max_queries", max_queries, "capacity queries the planner may ask per tick", at_least(0));
  }
};

// A delay that defaults to none.
inline DurationDistConfig no_delay() {
  DurationDistConfig d;
  d.value = Duration{0.0};
  return d;
}

struct PlannerConfig {
  std::string policy = "static";
  Duration adjustment_interval{60.0};
  Duration scrape_delay{0.0};
  std::optional<int> gpu_budget;
  std::optional<double> power_budget_w;
  Duration scale_down_window{0.0};
  PredictorConfig predictor;
  std::vector<ScriptedStepConfig> scripted;
  LoadPolicyConfig load;
  SlaPolicyConfig sla;
  ExternalPlannerConfig external;
  DurationDistConfig actuation_delay = no_delay();
  DurationDistConfig discovery_delay = no_delay();
  template <class V>
  void visit(V& v) {
    v.field("policy", policy, "autoscaling policy (servesim --list)");
    v.field("adjustment_interval", adjustment_interval, "time between planner decisions", config::greater_than(0));
    v.field("scrape_delay", scrape_delay, "age of the metrics the planner sees (a scraper's lag)", at_least(0));
    v.field("gpu_budget", gpu_budget,
            "GPUs the workers may hold at once, starting and draining included (null = no limit)", at_least(1));
    v.field("power_budget_w", power_budget_w,
            "watts of GPU power limits (catalog tdp_w) the workers may hold at once, starting and draining "
            "included, as a data center provisions power (null = no limit)",
            config::greater_than(0));
    v.field("scale_down_window", scale_down_window,
            "scale down only to the highest target proposed within this window (as Kubernetes' HPA "
            "stabilisation; 0 = follow every proposal)",
            at_least(0));
    v.field("predictor", predictor, "how the next interval's request rate, ISL and OSL are predicted");
    v.field("scripted", scripted, "scripted: replica targets from given times");
    v.field("load", load, "load: thresholds on queue depth and KV usage");
    v.field("sla", sla, "sla: replicas from the capacity that meets the slo targets");
    v.field("external", external, "external: a planner process spoken to over the JSON-lines protocol");
    v.field("actuation_delay", actuation_delay,
            "time from a planner decision to the lifecycle acting on it (the orchestrator's API latency): "
            "fixed | uniform | lognormal, as a start-up phase");
    v.field("discovery_delay", discovery_delay,
            "time from a worker's state change (ready, draining, stopped, failed) to the router seeing it "
            "(service discovery, e.g. Kubernetes endpoint propagation)");
  }
};

// The parts of a scenario the planner reads; references into a ScenarioConfig that outlives it.
struct PlannerScope {
  const PlannerConfig& planner;
  const std::vector<PoolConfig>& pools;
  const SloConfig& slo;
  std::uint64_t seed = 0;
};

}  // namespace servesim
