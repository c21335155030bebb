#include "planner/capacity.h"

#include <algorithm>
#include <cmath>

#include "models/catalog.h"

namespace servesim {

TimingCapacityModel::TimingCapacityModel(const ScenarioConfig& s, const std::string& base_dir) : s_(s) {
  for (const auto& p : s.pools) {
    timing_.push_back(TimingRegistry::instance().create(p.timing.model, TimingContext{p, base_dir}));
    kv_tokens_.push_back(static_cast<double>(kv_capacity(p, Catalog::builtin()).blocks) * p.engine.block_size);
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
  return ns_to_s(timing_[pool]->iteration_ns(b));
}

double TimingCapacityModel::decode_tokens_per_s(size_t pool, double context, double itl_s) const {
  context = std::max(1.0, context);
  const int by_kv = static_cast<int>(std::max(1.0, std::floor(kv_tokens_[pool] / context)));
  const int max_c = std::min(s_.pools[pool].engine.max_num_seqs, by_kv);
  // the step time grows with concurrency: the largest concurrency within the target
  int lo = 1, hi = max_c;
  if (expected_itl_s(pool, 1, context) > itl_s) return 1 / expected_itl_s(pool, 1, context);
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (expected_itl_s(pool, mid, context) <= itl_s) lo = mid;
    else hi = mid - 1;
  }
  return lo / expected_itl_s(pool, lo, context);
}

double TimingCapacityModel::expected_ttft_s(size_t pool, double isl) const { return prefill_batch_s(pool, std::max(1.0, isl), 1); }

int sla_replicas(WorkerRole role, size_t pool, const SlaTargets& t, const CapacityModel& cap,
                 double& capacity_req_per_s) {
  const double context = t.isl + t.osl / 2;
  switch (role) {
    case WorkerRole::kPrefill: capacity_req_per_s = cap.prefill_tokens_per_s(pool, t.isl, t.ttft_s) / t.isl; break;
    case WorkerRole::kDecode:
      capacity_req_per_s = cap.decode_tokens_per_s(pool, context, t.itl_s) / std::max(1.0, t.osl);
      break;
    case WorkerRole::kAggregated:
      // one GPU time-shared by both phases: the seconds a request costs are the sum of both
      capacity_req_per_s = 1 / (t.isl / cap.prefill_tokens_per_s(pool, t.isl, t.ttft_s) +
                                std::max(1.0, t.osl) / cap.decode_tokens_per_s(pool, context, t.itl_s));
      break;
  }
  if (!(t.rate_req_per_s > 0)) return 0;
  return static_cast<int>(std::ceil(t.rate_req_per_s / capacity_req_per_s - 1e-9));
}

}  // namespace servesim
