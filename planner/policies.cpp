// Planner policies: static, scripted, load (thresholds with hysteresis and cooldown), sla (as
// Dynamo's SLA planner: replicas = ceil(predicted demand / capacity per worker at the targets)).
#include <algorithm>
#include <cmath>

#include "planner/capacity.h"
#include "planner/planner_policy.h"

namespace servesim {
namespace {

std::vector<PoolDecision> keep(const PlannerObservation& seen) {
  std::vector<PoolDecision> out;
  for (const auto& p : seen.pools) out.push_back(PoolDecision::keep(p.target));
  return out;
}

class StaticPolicy final : public PlannerPolicy {
 public:
  std::vector<PoolDecision> decide(TimeNs, const PlannerObservation& seen, const PlannerForecast&) override {
    return keep(seen);
  }
  bool acts() const override { return false; }
};

class ScriptedPolicy final : public PlannerPolicy {
 public:
  explicit ScriptedPolicy(PlannerScope s) : s_(s) {}
  std::vector<PoolDecision> decide(TimeNs now, const PlannerObservation& seen, const PlannerForecast&) override {
    std::vector<PoolDecision> out = keep(seen);
    // the latest step at or before now, per pool
    for (size_t i = 0; i < s_.pools.size(); ++i) {
      TimeNs latest = -1;
      for (const auto& step : s_.planner.scripted)
        if (step.pool == s_.pools[i].name && step.at.ns() <= now && step.at.ns() >= latest) {
          latest = step.at.ns();
          out[i].target = step.replicas;
        }
    }
    return out;
  }

 private:
  PlannerScope s_;
};

class LoadPolicy final : public PlannerPolicy {
 public:
  explicit LoadPolicy(PlannerScope s) : cfg_(s.planner.load), last_(s.pools.size(), -1) {}
  std::vector<PoolDecision> decide(TimeNs now, const PlannerObservation& seen, const PlannerForecast&) override {
    std::vector<PoolDecision> out = keep(seen);
    for (size_t i = 0; i < seen.pools.size(); ++i) {
      const auto& p = seen.pools[i];
      if (last_[i] >= 0 && now - last_[i] < cfg_.cooldown.ns()) continue;
      const bool up = p.waiting_per_worker > cfg_.queue_up || p.kv_usage > cfg_.kv_up;
      const bool down = p.waiting_per_worker < cfg_.queue_down && p.kv_usage < cfg_.kv_down;
      if (up) out[i].target = p.target + cfg_.step;
      else if (down && p.target > 0) out[i].target = p.target - cfg_.step;
      if (out[i].target != p.target) last_[i] = now;
    }
    return out;
  }

 private:
  LoadPolicyConfig cfg_;
  std::vector<TimeNs> last_;
};

class SlaPolicy final : public PlannerPolicy {
 public:
  explicit SlaPolicy(const PlannerPolicyContext& ctx)
      : s_(ctx.scenario), cap_(ctx.scenario, ctx.base_dir), p_corr_(s_.pools.size(), 1.0), d_corr_(s_.pools.size(), 1.0) {}

  std::vector<PoolDecision> decide(TimeNs, const PlannerObservation& seen, const PlannerForecast& next) override {
    std::vector<PoolDecision> out = keep(seen);
    if (!(next.requests >= 0) || std::isnan(next.isl) || std::isnan(next.osl)) return out;  // nothing seen yet
    for (size_t i = 0; i < seen.pools.size(); ++i) {
      const auto& p = seen.pools[i];
      if (s_.planner.sla.correction) update_corrections(i, seen);
      SlaTargets t = targets(i, next.rate_req_per_s(seen.interval_s), next.isl, next.osl);
      out[i].target = sla_replicas(p.role, i, t, cap_, out[i].capacity_req_per_s);
      out[i].correction = p.role == WorkerRole::kDecode ? d_corr_[i] : p_corr_[i];
    }
    return out;
  }

 private:
  SlaTargets targets(size_t i, double rate, double isl, double osl) const {
    SlaTargets t{rate, isl, osl, s_.slo.ttft.seconds, s_.slo.itl.seconds};
    t.p_corr = p_corr_[i];
    t.d_corr = d_corr_[i];
    t.max_utilisation = s_.planner.sla.max_utilisation;
    return t;
  }

  // observed / expected latency, the model asked about the load that was observed
  void update_corrections(size_t i, const PlannerObservation& seen) {
    const auto& p = seen.pools[i];
    const auto& sla = s_.planner.sla;
    auto clamp = [&](double c) { return std::clamp(c, sla.min_correction, sla.max_correction); };
    if (p.ready == 0 || !(seen.mean_isl > 0) || std::isnan(seen.mean_osl)) return;
    if (p.role != WorkerRole::kPrefill && seen.itl_mean_s > 0 && p.running_per_worker > 0) {
      const double context = seen.mean_isl + seen.mean_osl / 2;
      d_corr_[i] = clamp(seen.itl_mean_s / cap_.expected_itl_s(i, p.running_per_worker, context));
    }
    if (p.role != WorkerRole::kDecode && seen.ttft_mean_s > 0) {
      // the expectation uses the model as it is (no correction), at the rate that was seen
      SlaTargets t{seen.requests / seen.interval_s, seen.mean_isl, seen.mean_osl, s_.slo.ttft.seconds, s_.slo.itl.seconds};
      const double expected = sla_expected_ttft_s(p.role, i, t, cap_, p.ready);
      if (expected > 0) p_corr_[i] = clamp(seen.ttft_mean_s / expected);
    }
  }

  PlannerScope s_;
  TimingCapacityModel cap_;
  std::vector<double> p_corr_, d_corr_;
};

}  // namespace

SERVESIM_REGISTER(PlannerPolicyRegistry, "static", "no scaling: every pool keeps its replicas",
                  [](const PlannerPolicyContext&) { return std::make_unique<StaticPolicy>(); })
SERVESIM_REGISTER(PlannerPolicyRegistry, "scripted", "replica targets from planner.scripted at given times",
                  [](const PlannerPolicyContext& c) { return std::make_unique<ScriptedPolicy>(c.scenario); })
SERVESIM_REGISTER(PlannerPolicyRegistry, "load",
                  "thresholds on queued requests per worker and KV usage, with hysteresis and a cooldown",
                  [](const PlannerPolicyContext& c) { return std::make_unique<LoadPolicy>(c.scenario); })
SERVESIM_REGISTER(PlannerPolicyRegistry, "sla",
                  "as Dynamo's SLA planner: replicas = ceil(predicted demand / per-worker capacity meeting the slo "
                  "TTFT/ITL at the predicted ISL/OSL), targets corrected by observed / expected latency",
                  [](const PlannerPolicyContext& c) { return std::make_unique<SlaPolicy>(c); })

}  // namespace servesim
