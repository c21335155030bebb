#include "planner/capacity.h"

#include <algorithm>
#include <cmath>

#include "models/catalog.h"

namespace servesim {

TimingCapacityModel::TimingCapacityModel(PlannerScope s, const std::string& base_dir) : s_(s) {
  for (const auto& p : s.pools) {
    timing_.push_back(TimingRegistry::instance().create(p.timing.model, TimingContext{p, base_dir}));
    speculative_.push_back(SpeculativeDecoding::make(p, base_dir));
    const KvCapacity kv = kv_capacity(p, Catalog::builtin());
    kv_tokens_.push_back(static_cast<double>(kv.blocks) * p.engine.block_size);
    state_tokens_.push_back(static_cast<double>(kv.state_blocks_per_sequence) * p.engine.block_size);
  }
}

// `batch` prompts of `isl` tokens admitted together, computed in chunks of the token budget.
double TimingCapacityModel::prefill_batch_s(size_t pool, double isl, int batch) const {
  const auto& e = s_.pools[pool].engine;
  const double total = isl * batch, budget = e.max_num_batched_tokens;
  const double pairs = batch * isl * (isl + 1) / 2;
  double t = 0;
  for (double done = 0; done < total;) {
    const double chunk = std::min(budget, total - done);
    BatchShape b;
    b.prefill_seqs = static_cast<std::int32_t>(std::min<double>(batch, std::ceil(chunk / isl) + 1));
    b.prefill_tokens = static_cast<std::int64_t>(chunk);
    b.prefill_attention_pairs = pairs * chunk / total;
    t += ns_to_s(timing_[pool]->iteration_ns(b));
    done += chunk;
  }
  return t;
}

double TimingCapacityModel::prefill_tokens_per_s(size_t pool, double isl, double ttft_s) const {
  isl = std::max(1.0, isl);
  const int max_batch = s_.pools[pool].engine.max_num_seqs;
  double best = isl / prefill_batch_s(pool, isl, 1);  // one at a time, even when it misses
  for (int b = 2; b <= max_batch; b *= 2) {
    const double t = prefill_batch_s(pool, isl, b);
    if (t > ttft_s) break;
    best = std::max(best, b * isl / t);
  }
  return best;
}

double TimingCapacityModel::expected_itl_s(size_t pool, double concurrency, double context) const {
  BatchShape b;
  b.decode_seqs = std::max<std::int32_t>(1, static_cast<std::int32_t>(std::lround(concurrency)));
  b.decode_context_tokens = static_cast<std::int64_t>(b.decode_seqs * std::max(1.0, context));
  const SpeculativeDecoding* spec = speculative_[pool].get();
  if (!spec) return ns_to_s(timing_[pool]->iteration_ns(b));
  b.decode_query_tokens = 1 + spec->draft_tokens();
  return ns_to_s(timing_[pool]->iteration_ns(b) + spec->draft_ns(b));
}

double TimingCapacityModel::decode_tokens_per_s(size_t pool, double context, double itl_s) const {
  context = std::max(1.0, context);
  // (a hybrid model's sequence also holds its linear-attention state's blocks)
  const int by_kv = static_cast<int>(std::max(1.0, std::floor(kv_tokens_[pool] / (context + state_tokens_[pool]))));
  const int max_c = std::min(s_.pools[pool].engine.max_num_seqs, by_kv);
  // the step time grows with concurrency: the largest concurrency within the target
  int lo = 1, hi = max_c;
  // output tokens a sequence gets per step: 1, or the mean acceptance length
  const double per_step = speculative_[pool] ? speculative_[pool]->mean_acceptance_length() : 1.0;
  if (expected_itl_s(pool, 1, context) > itl_s) return 1 / expected_itl_s(pool, 1, context) * per_step;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (expected_itl_s(pool, mid, context) <= itl_s) lo = mid;
    else hi = mid - 1;
  }
  return lo / expected_itl_s(pool, lo, context) * per_step;
}

double TimingCapacityModel::expected_ttft_s(size_t pool, double isl) const { return prefill_batch_s(pool, std::max(1.0, isl), 1); }

double sla_service_s(WorkerRole role, size_t pool, const SlaTargets& t, const CapacityModel& cap) {
  const double context = t.isl + t.osl / 2, osl = std::max(1.0, t.osl);
  const double prefill = t.isl / cap.prefill_tokens_per_s(pool, t.isl, t.ttft_s) * t.p_corr;
  const double decode = osl / cap.decode_tokens_per_s(pool, context, t.itl_s / t.d_corr);
  switch (role) {
    case WorkerRole::kPrefill: return prefill;
    case WorkerRole::kDecode: return decode;
    case WorkerRole::kAggregated: return prefill + decode;  // one GPU time-shared by both phases
  }
  return prefill + decode;
}

namespace {
// sla_utilisation for a request costing `s` GPU seconds (computed once by the callers).
double utilisation_for(WorkerRole role, size_t pool, const SlaTargets& t, const CapacityModel& cap, double s) {
  if (role == WorkerRole::kDecode) return t.max_utilisation;
  const double slack = t.ttft_s - cap.expected_ttft_s(pool, t.isl) * t.p_corr;  // time left to wait
  if (slack <= 0) return std::min(0.05, t.max_utilisation);  // even an idle worker misses: keep queues short
  // M/D/1: mean wait = rho s / (2 (1 - rho)) <= slack  <=>  rho <= 2 slack / (2 slack + s)
  return std::min(t.max_utilisation, 2 * slack / (2 * slack + s));
}
}  // namespace

double sla_utilisation(WorkerRole role, size_t pool, const SlaTargets& t, const CapacityModel& cap) {
  return utilisation_for(role, pool, t, cap, sla_service_s(role, pool, t, cap));
}

int sla_replicas(WorkerRole role, size_t pool, const SlaTargets& t, const CapacityModel& cap,
                 double& capacity_req_per_s) {
  const double s = sla_service_s(role, pool, t, cap);
  capacity_req_per_s = utilisation_for(role, pool, t, cap, s) / s;
  if (!(t.rate_req_per_s > 0)) return 0;
  return static_cast<int>(std::ceil(t.rate_req_per_s / capacity_req_per_s - 1e-9));
}

double sla_expected_ttft_s(WorkerRole role, size_t pool, const SlaTargets& t, const CapacityModel& cap, int workers) {
  const double s = sla_service_s(role, pool, t, cap);
  const double rho = t.rate_req_per_s * s / std::max(1, workers);
  if (rho >= 1) return std::nan("");
  return cap.expected_ttft_s(pool, t.isl) + rho * s / (2 * (1 - rho));
}

}  // namespace servesim
