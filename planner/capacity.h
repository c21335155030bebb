#pragma once
// What one worker can carry while meeting latency targets, from the pool's timing model and
// engine limits: the figures an SLA planner reads from a profiling table.
#include <memory>
#include <vector>

#include "core/scenario.h"
#include "models/timing/timing_model.h"

namespace servesim {

class CapacityModel {
 public:
  virtual ~CapacityModel() = default;
  // Prompt tokens per second one worker of `pool` computes while a prompt of `isl` tokens still
  // has its first token within `ttft_s` (batched with as many others as that allows).
  virtual double prefill_tokens_per_s(size_t pool, double isl, double ttft_s) const = 0;
  // Output tokens per second one worker generates with each step within `itl_s`, every sequence
  // holding `context` tokens (as many sequences as the target, max_num_seqs and the KV cache allow).
  virtual double decode_tokens_per_s(size_t pool, double context, double itl_s) const = 0;
  // An idle worker's time to first token for one `isl` prompt, and its step time with
  // `concurrency` sequences of `context` tokens (the planner's "expected" latencies).
  virtual double expected_ttft_s(size_t pool, double isl) const = 0;
  virtual double expected_itl_s(size_t pool, double concurrency, double context) const = 0;
};

// From each pool's configured timing model and engine.
class TimingCapacityModel final : public CapacityModel {
 public:
  TimingCapacityModel(const ScenarioConfig& s, const std::string& base_dir);
  double prefill_tokens_per_s(size_t pool, double isl, double ttft_s) const override;
  double decode_tokens_per_s(size_t pool, double context, double itl_s) const override;
  double expected_ttft_s(size_t pool, double isl) const override;
  double expected_itl_s(size_t pool, double concurrency, double context) const override;

 private:
  double prefill_batch_s(size_t pool, double isl, int batch) const;
  const ScenarioConfig& s_;
  std::vector<std::unique_ptr<TimingModel>> timing_;
  std::vector<double> kv_tokens_;
};

struct SlaTargets {
  double rate_req_per_s, isl, osl;  // predicted demand
  double ttft_s, itl_s;             // targets, already divided by the corrections
};

// Workers of pool `pool` (role `role`) that carry the demand within the targets:
// ceil(demand / one worker's capacity). `capacity_req_per_s` returns that capacity.
int sla_replicas(WorkerRole role, size_t pool, const SlaTargets& t, const CapacityModel& cap,
                 double& capacity_req_per_s);

}  // namespace servesim
