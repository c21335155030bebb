#include "planner/planner.h"

#include <algorithm>
#include <cmath>

#include "core/sample_stats.h"
#include "core/time_grid.h"
#include "models/catalog.h"
#include "models/duration_sample.h"

namespace servesim {

void PlannerMetrics::on_arrival(const Request& r) {
  arrivals_ += 1;
  isl_sum_ += r.input_tokens;
}

void PlannerMetrics::on_request_done(const Request& r) {
  if (r.status == RequestStatus::kRejected) rejected_ += 1;
  if (r.status != RequestStatus::kCompleted) return;
  completions_ += 1;
  osl_sum_ += r.output_tokens;
  prompt_tokens_done_ += r.input_tokens;
  cached_tokens_done_ += r.cached_tokens;
  const double itl = r.mean_itl_s();
  if (r.ttft_s() <= slo_.ttft_s(r.slo_class) && (itl < 0 || itl <= slo_.itl_s(r.slo_class))) meeting_slo_ += 1;
  ttft_.push_back(r.ttft_s());
}

void PlannerMetrics::on_iteration(std::int32_t worker, TimeNs duration, const BatchShape& b,
                                  const IterationResult& res) {
  ForwardPasses& f = forward_.at(static_cast<size_t>(worker));
  f.iterations += 1;
  f.prefill_tokens += static_cast<double>(b.prefill_tokens);
  f.decode_tokens += static_cast<double>(b.decode_computed_tokens());
  output_tokens_ += res.tokens_emitted;
  spec_verified_ += res.spec_verified_seqs;
  spec_accepted_ += res.spec_accepted_tokens;
  res.for_each_itl(duration, [&](TimeNs gap, std::int32_t tokens) {
    itl_sum_s_ += ns_to_s(gap) * tokens;
    itl_tokens_ += tokens;
    itl_.emplace_back(ns_to_s(gap), tokens);
  });
}

namespace {
// The q-quantile of `v` (nearest rank below), NaN when empty; reorders v.
double quantile(std::vector<double>& v, double q) {
  if (v.empty()) return std::nan("");
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

// The q-quantile of step times weighted by the tokens each gave (what a per-token ITL histogram shows).
double weighted_quantile(std::vector<std::pair<double, double>>& v, double total, double q) {
  return weighted_select(v, [&](double seen) { return seen > q * total; });
}
}  // namespace

void PlannerMetrics::scrape(PlannerObservation& obs, bool reset) {
  obs.requests = arrivals_;
  obs.completions = completions_;
  obs.mean_isl = arrivals_ > 0 ? isl_sum_ / arrivals_ : std::nan("");
  obs.mean_osl = completions_ > 0 ? osl_sum_ / completions_ : std::nan("");
  double sum = 0;
  for (double t : ttft_) sum += t;
  obs.ttft_mean_s = ttft_.empty() ? std::nan("") : sum / static_cast<double>(ttft_.size());
  obs.ttft_p50_s = quantile(ttft_, 0.5);
  obs.ttft_p90_s = quantile(ttft_, 0.9);
  obs.ttft_p99_s = quantile(ttft_, 0.99);
  obs.itl_mean_s = itl_tokens_ > 0 ? itl_sum_s_ / itl_tokens_ : std::nan("");
  obs.itl_p50_s = weighted_quantile(itl_, itl_tokens_, 0.5);
  obs.itl_p90_s = weighted_quantile(itl_, itl_tokens_, 0.9);
  obs.itl_p99_s = weighted_quantile(itl_, itl_tokens_, 0.99);
  obs.output_tokens_per_s = obs.interval_s > 0 ? output_tokens_ / obs.interval_s : 0;
  obs.prefix_hit_rate = prompt_tokens_done_ > 0 ? cached_tokens_done_ / prompt_tokens_done_ : std::nan("");
  obs.slo_attainment = completions_ > 0 ? meeting_slo_ / completions_ : std::nan("");
  obs.rejected = rejected_;
  obs.spec_acceptance_length = spec_verified_ > 0 ? 1 + spec_accepted_ / spec_verified_ : std::nan("");
  if (!reset) return;
  rejected_ = spec_verified_ = spec_accepted_ = 0;
  arrivals_ = isl_sum_ = completions_ = osl_sum_ = itl_sum_s_ = itl_tokens_ = 0;
  output_tokens_ = prompt_tokens_done_ = cached_tokens_done_ = meeting_slo_ = 0;
  ttft_.clear();
  itl_.clear();
  for (auto& f : forward_) f = ForwardPasses{};
}

Planner::Planner(sc_core::sc_module_name name, PlannerScope cfg, const std::string& base_dir,
                 const ClusterView& cluster, TimedChannel<ScaleCommand>& commands, PlannerMetrics& metrics,
                 RunObserver& observer, std::function<bool()> drained, InProcessPlanner in_process)
    : sc_core::sc_module(name),
      cfg_(cfg),
      cluster_(cluster),
      commands_(commands),
      metrics_(metrics),
      observer_(observer),
      drained_(std::move(drained)),
      policy_(PlannerPolicyRegistry::instance().create(cfg.planner.policy,
                                                       PlannerPolicyContext{cfg, base_dir, std::move(in_process)})),
      requests_(PredictorRegistry::instance().create(cfg.planner.predictor.name, cfg.planner.predictor)),
      isl_(PredictorRegistry::instance().create(cfg.planner.predictor.name, cfg.planner.predictor)),
      osl_(PredictorRegistry::instance().create(cfg.planner.predictor.name, cfg.planner.predictor)),
      failures_seen_(cfg.pools.size(), 0),
      rng_(make_rng(cfg.seed, "planner.actuation")) {
  for (const auto& p : cfg.pools) sent_.push_back(p.replicas);
  SC_METHOD(on_tick);
  sensitive << tick_;
  dont_initialize();
  SC_METHOD(on_observation);
  sensitive << observations_.event();
  dont_initialize();
}

void Planner::start_of_simulation() { tick_.notify(ns_time(cfg_.planner.adjustment_interval.ns())); }

// The scrape: the window's traffic and each pool's state now.
void Planner::on_tick() {
  observations_.send(observe(true), cfg_.planner.scrape_delay.ns(), 0);
  if (drained_()) return;
  if (!policy_->acts() && idle_ && idle_()) {
    asleep_ = true;
    return;
  }
  tick_.notify(ns_time(cfg_.planner.adjustment_interval.ns()));
}

PlannerObservation Planner::observe(bool reset) {
  const TimeNs now = now_ns();
  PlannerObservation obs;
  obs.window_end_ns = now;
  obs.interval_s = ns_to_s(now - last_scrape_);
  if (reset) last_scrape_ = now;
  if (cfg_.planner.policy == "external" && cfg_.planner.external.worker_metrics) {
    cluster_.worker_status(worker_status_);
    for (const WorkerStatus& w : worker_status_) {
      const auto& f = metrics_.forward(static_cast<size_t>(w.id));
      const EngineLoad& l = w.load;
      obs.workers.push_back(WorkerObservation{
          w.name, w.state, w.pool, f.iterations, f.prefill_tokens, f.decode_tokens,
          static_cast<double>(l.waiting + l.incoming), static_cast<double>(l.running),
          l.kv_blocks_total ? static_cast<double>(l.kv_blocks_used) / static_cast<double>(l.kv_blocks_total) : 0});
    }
  }
  metrics_.scrape(obs, reset);
  obs.gpus_in_use = cluster_.gpus_in_use();
  obs.router_queued = static_cast<double>(cluster_.router_queued());
  obs.gpu_budget = cfg_.planner.gpu_budget.value_or(-1);
  obs.power_budget_w = cfg_.planner.power_budget_w.value_or(std::nan(""));
  obs.power_in_use_w = cluster_.tdp_in_use_w();
  for (size_t p = 0; p < cfg_.pools.size(); ++p) {
    const PoolStatus s = cluster_.pool_status(p);
    PoolObservation po;
    po.name = cfg_.pools[p].name;
    po.role = role_of(cfg_.pools[p]);
    po.tp = cfg_.pools[p].gpus_per_worker();
    po.ready = s.ready;
    po.starting = s.starting;
    po.draining = s.draining;
    po.failed = static_cast<int>(s.failures - failures_seen_[p]);
    if (reset) failures_seen_[p] = s.failures;
    po.target = s.target;
    po.min_replicas = cfg_.pools[p].lifecycle.min_replicas;
    po.max_replicas = worker_slots(cfg_.pools[p]);
    po.waiting = s.waiting;
    po.waiting_per_worker = s.serving ? s.waiting / s.serving : 0;
    po.running_per_worker = s.serving ? s.running / s.serving : 0;
    po.kv_usage = s.serving ? s.kv_usage_sum / s.serving : 0;
    obs.pools.push_back(po);
  }
  return obs;
}

TimeNs Planner::send(size_t pool, int target, std::vector<std::int32_t> drain) {
  const TimeNs now = now_ns();
  const TimeNs delay = s_to_ns(sample_duration_s(cfg_.planner.actuation_delay, rng_));
  const auto p = static_cast<std::int32_t>(pool);
  commands_.send(ScaleCommand{p, target, std::move(drain)}, delay, 0);
  observer_.on_control(ControlRecord{ns_to_s(now), ns_to_s(now + delay), p, -1, target,
                                     static_cast<std::int32_t>(ControlKind::kScale)});
  return delay;
}

void Planner::command(size_t pool, int target) {
  if (target != sent_.at(pool)) ++scale_events_;
  sent_[pool] = target;
  send(pool, target, {});
}

void Planner::wake() {
  if (!asleep_) return;
  asleep_ = false;
  const TimeNs interval = cfg_.planner.adjustment_interval.ns(), now = now_ns();
  tick_.notify(ns_time(next_on_grid(last_scrape_, interval, now) - now));
}

void Planner::on_observation() {
  observations_.drain([&](PlannerObservation&& seen) { decide(seen); });
}

void Planner::decide(const PlannerObservation& seen) {
  requests_->observe(seen.requests);
  if (!std::isnan(seen.mean_isl)) isl_->observe(seen.mean_isl);
  if (!std::isnan(seen.mean_osl)) osl_->observe(seen.mean_osl);
  PlannerForecast next;
  next.requests = requests_->predict().value_or(std::nan(""));
  next.isl = isl_->predict().value_or(std::nan(""));
  next.osl = osl_->predict().value_or(std::nan(""));
  std::vector<PoolDecision> d = policy_->decide(now_ns(), seen, next);
  if (d.size() != cfg_.pools.size()) throw InvariantError("planner policy decided for the wrong number of pools");
  std::vector<int> target(d.size());
  for (size_t p = 0; p < d.size(); ++p)
    target[p] = std::clamp(d[p].target, cfg_.pools[p].lifecycle.min_replicas, worker_slots(cfg_.pools[p]));
  // over a budget: trim from the last pool backwards, keeping minimums (cost: one worker's, per pool)
  auto trim_to = [&](double budget, auto&& cost) {
    auto total = [&] {
      double t = 0;
      for (size_t p = 0; p < target.size(); ++p) t += target[p] * cost(cfg_.pools[p]);
      return t;
    };
    for (size_t p = target.size(); p-- > 0 && total() > budget;)
      while (target[p] > cfg_.pools[p].lifecycle.min_replicas && total() > budget) --target[p];
  };
  if (cfg_.planner.gpu_budget)
    trim_to(*cfg_.planner.gpu_budget, [](const PoolConfig& p) { return static_cast<double>(p.gpus_per_worker()); });
  if (cfg_.planner.power_budget_w)  // the GPUs' power limits
    trim_to(*cfg_.planner.power_budget_w,
            [](const PoolConfig& p) { return p.gpus_per_worker() * Catalog::builtin().gpu(p.gpu).tdp_w; });
  // stabilisation: a scale-down goes no lower than the highest proposal of the window
  if (cfg_.planner.scale_down_window.ns() > 0) {
    const TimeNs now = now_ns(), window = cfg_.planner.scale_down_window.ns();
    recent_.resize(target.size());
    for (size_t p = 0; p < target.size(); ++p) {
      auto& q = recent_[p];
      q.emplace_back(now, target[p]);
      while (!q.empty() && q.front().first <= now - window) q.pop_front();
      for (const auto& [t, proposal] : q) target[p] = std::max(target[p], proposal);
    }
  }
  records_.clear();
  const TimeNs now = now_ns();
  const std::int32_t gpus = cluster_.gpus_in_use();
  for (size_t p = 0; p < d.size(); ++p) {
    if (target[p] != sent_[p]) ++scale_events_;
    sent_[p] = target[p];
    const TimeNs delay = send(p, target[p], std::move(d[p].drain));
    const auto pool = static_cast<std::int32_t>(p);
    const PoolStatus s = cluster_.pool_status(p);
    records_.push_back(PlannerRecord{ns_to_s(now), seen.requests, seen.mean_isl, seen.mean_osl, seen.ttft_p50_s,
                                     seen.itl_mean_s, next.requests, next.isl, next.osl, d[p].capacity_req_per_s,
                                     d[p].correction, ns_to_s(delay), ns_to_s(now + delay), pool,
                                     d[p].proposed.value_or(d[p].target),
                                     target[p], s.ready, s.starting, s.draining, gpus,
                                     cfg_.planner.gpu_budget.value_or(-1)});
  }
  observer_.on_planner(records_);
}

}  // namespace servesim
