#pragma once
// What one worker can carry while meeting latency targets, from the pool's timing model and
// engine limits: the figures an SLA planner reads from a profiling table.
#include <memory>
#include <vector>

#include "models/speculative.h"
#include "models/timing/timing_model.h"
#include "planner/planner_config.h"

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
  // `concurrency` sequences of `context` tokens (the planner's "expected" latencies): the gap
  // between a request's streamed chunks, as ITL is observed. Under speculative decoding a step
  // verifies and drafts, and gives the mean acceptance length in tokens (decode_tokens_per_s).
  virtual double expected_ttft_s(size_t pool, double isl) const = 0;
  virtual double expected_itl_s(size_t pool, double concurrency, double context) const = 0;
};

// From each pool's configured timing model and engine.
class TimingCapacityModel final : public CapacityModel {
 public:
  TimingCapacityModel(PlannerScope s, const std::string& base_dir);
  double prefill_tokens_per_s(size_t pool, double isl, double ttft_s) const override;
  double decode_tokens_per_s(size_t pool, double context, double itl_s) const override;
  double expected_ttft_s(size_t pool, double isl) const override;
  double expected_itl_s(size_t pool, double concurrency, double context) const override;

 private:
  double prefill_batch_s(size_t pool, double isl, int batch) const;
  PlannerScope s_;
  std::vector<std::unique_ptr<TimingModel>> timing_;
  std::vector<std::shared_ptr<const SpeculativeDecoding>> speculative_;  // null where a pool has none
  std::vector<double> kv_tokens_;
  std::vector<double> state_tokens_;  // per sequence: a hybrid model's state blocks, as tokens
};

struct SlaTargets {
  double rate_req_per_s, isl, osl;  // predicted demand
  double ttft_s, itl_s;             // the slo targets
  double p_corr = 1, d_corr = 1;    // observed / expected TTFT and ITL (1: trust the model)
  double max_utilisation = 0.9;
};

// GPU seconds one request costs a worker of this role (prefill: its prompt; decode: its output
// tokens; aggregated: both), at the corrected targets.
double sla_service_s(WorkerRole role, size_t pool, const SlaTargets& t, const CapacityModel& cap);
// Utilisation at which an M/D/1 queue's mean wait plus the prompt's own prefill stays within the
// TTFT target, capped at max_utilisation. Decode has no queue before it (its ITL target already
// bounds its batch).
double sla_utilisation(WorkerRole role, size_t pool, const SlaTargets& t, const CapacityModel& cap);
// Workers of pool `pool` (role `role`) that carry the demand within the targets:
// ceil(rate / (utilisation / service time)). `capacity_req_per_s` returns one worker's capacity.
int sla_replicas(WorkerRole role, size_t pool, const SlaTargets& t, const CapacityModel& cap,
                 double& capacity_req_per_s);
// The mean TTFT the model expects at `rate` spread over `workers` (M/D/1), or NaN when it
// expects the queue to grow without bound.
double sla_expected_ttft_s(WorkerRole role, size_t pool, const SlaTargets& t, const CapacityModel& cap, int workers);

}  // namespace servesim
