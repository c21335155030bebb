#pragma once
// The live endpoint's /metrics: vLLM's metric names and labels (model_name, engine = worker
// index; servesim adds worker and pool), accumulated from the run's observations on the
// simulation thread, rendered between kernel slices (the HTTP thread never reads the model).
#include <cstdint>
#include <string>
#include <vector>

#include "cluster/cluster.h"
#include "core/observer.h"
#include "live/prometheus.h"
#include "scenario/scenario.h"

namespace servesim::live {

class LiveMetrics : public RunObserver {
 public:
  explicit LiveMetrics(const ScenarioConfig& cfg);

  void on_request_done(const Request& r) override;
  void on_iteration(std::int32_t worker, TimeNs duration, const BatchShape&, const IterationResult&) override;
  void on_fabric(std::span<const FabricLinkDesc> links) override;
  void on_links(TimeNs now, std::span<const LinkSample> links) override;
  void on_planner(std::span<const PlannerRecord> records) override;

  // The simulation lag: how long after its due wall time an event's outcome was published.
  void observe_lag(double wall_s) { lag_.observe(wall_s); }
  const PromHistogram& lag() const { return lag_; }

  // The exposition text. `worker` >= 0: that worker's series only (its own endpoint).
  std::string render(const Cluster& cluster, double sim_now_s, std::int32_t worker = -1) const;

 private:
  struct PerWorker {
    std::string name, pool, model;
    int max_loras = 0;  // 0: its pool serves no LoRA adapter
    double prompt_tokens = 0, generation_tokens = 0, preemptions = 0, cache_queries = 0, cache_hits = 0;
    double success_length = 0, success_abort = 0;
    PromHistogram ttft{kTtftBuckets}, itl{kItlBuckets}, e2e{kRequestLatencyBuckets}, queue{kRequestLatencyBuckets};
  };
  const ScenarioConfig& cfg_;
  std::vector<PerWorker> workers_;
  std::vector<std::string> adapters_;  // served LoRA adapters (Request::lora indexes them)
  PromHistogram lag_{kLagBuckets};
  std::vector<FabricLinkDesc> links_;
  std::vector<double> link_utilisation_;
  TimeNs links_at_ = 0;
  std::uint64_t planner_decisions_ = 0;
};

}  // namespace servesim::live
