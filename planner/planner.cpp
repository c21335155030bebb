#include "planner/planner.h"

#include <algorithm>
#include <cmath>

#include "core/time_grid.h"

namespace servesim {

void PlannerMetrics::on_arrival(const Request& r) {
  arrivals_ += 1;
  isl_sum_ += r.input_tokens;
}

void PlannerMetrics::on_request_done(const Request& r) {
  if (r.status != RequestStatus::kCompleted) return;
  completions_ += 1;
  osl_sum_ += r.output_tokens;
  ttft_.push_back(r.ttft_s());
}

void PlannerMetrics::on_iteration(std::int32_t, TimeNs duration, const BatchShape&, const IterationResult& res) {
  if (res.decode_tokens == 0) return;
  itl_sum_s_ += ns_to_s(duration) * res.decode_tokens;
  itl_tokens_ += res.decode_tokens;
}

void PlannerMetrics::scrape(PlannerObservation& obs) {
  obs.requests = arrivals_;
  obs.mean_isl = arrivals_ > 0 ? isl_sum_ / arrivals_ : std::nan("");
  obs.mean_osl = completions_ > 0 ? osl_sum_ / completions_ : std::nan("");
  auto pct = [&](double q) {
    if (ttft_.empty()) return std::nan("");
    const size_t k = std::min(ttft_.size() - 1, static_cast<size_t>(q * static_cast<double>(ttft_.size())));
    std::nth_element(ttft_.begin(), ttft_.begin() + static_cast<std::ptrdiff_t>(k), ttft_.end());
    return ttft_[k];
  };
  double sum = 0;
  for (double t : ttft_) sum += t;
  obs.ttft_mean_s = ttft_.empty() ? std::nan("") : sum / static_cast<double>(ttft_.size());
  obs.ttft_p50_s = pct(0.5);
  obs.ttft_p99_s = pct(0.99);
  obs.itl_mean_s = itl_tokens_ > 0 ? itl_sum_s_ / itl_tokens_ : std::nan("");
  arrivals_ = isl_sum_ = completions_ = osl_sum_ = itl_sum_s_ = itl_tokens_ = 0;
  ttft_.clear();
}

Planner::Planner(sc_core::sc_module_name name, PlannerScope cfg, const std::string& base_dir,
                 Lifecycle& lifecycle, std::vector<Worker*> workers, PlannerMetrics& metrics, RunObserver& observer,
                 std::function<bool()> drained)
    : sc_core::sc_module(name),
      cfg_(cfg),
      lifecycle_(lifecycle),
      workers_(std::move(workers)),
      metrics_(metrics),
      observer_(observer),
      drained_(std::move(drained)),
      policy_(PlannerPolicyRegistry::instance().create(cfg.planner.policy, PlannerPolicyContext{cfg, base_dir})),
      requests_(PredictorRegistry::instance().create(cfg.planner.predictor.name, cfg.planner.predictor)),
      isl_(PredictorRegistry::instance().create(cfg.planner.predictor.name, cfg.planner.predictor)),
      osl_(PredictorRegistry::instance().create(cfg.planner.predictor.name, cfg.planner.predictor)) {
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
  const TimeNs now = now_ns();
  PlannerObservation obs;
  obs.window_end_ns = now;
  obs.interval_s = ns_to_s(now - last_scrape_);
  last_scrape_ = now;
  metrics_.scrape(obs);
  for (size_t p = 0; p < cfg_.pools.size(); ++p) {
    PoolObservation po;
    po.name = cfg_.pools[p].name;
    po.role = role_of(cfg_.pools[p]);
    po.tp = cfg_.pools[p].tp;
    po.ready = lifecycle_.count(p, WorkerState::kReady);
    po.starting = lifecycle_.count(p, WorkerState::kStarting);
    po.draining = lifecycle_.count(p, WorkerState::kDraining);
    po.target = lifecycle_.target(p);
    double waiting = 0, running = 0, kv = 0;
    int serving = 0;
    for (Worker* w : workers_) {
      if (static_cast<size_t>(w->pool()) != p) continue;
      const WorkerState s = lifecycle_.state(static_cast<size_t>(w->id()));
      if (s != WorkerState::kReady && s != WorkerState::kDraining) continue;
      EngineLoad l = w->load();
      waiting += l.waiting + l.incoming;
      running += l.running;
      kv += l.kv_blocks_total ? static_cast<double>(l.kv_blocks_used) / static_cast<double>(l.kv_blocks_total) : 0;
      ++serving;
    }
    po.waiting_per_worker = serving ? waiting / serving : 0;
    po.running_per_worker = serving ? running / serving : 0;
    po.kv_usage = serving ? kv / serving : 0;
    obs.pools.push_back(po);
  }
  observations_.send(std::move(obs), cfg_.planner.scrape_delay.ns(), 0);
  if (drained_()) return;
  if (!policy_->acts() && idle_ && idle_()) {
    asleep_ = true;
    return;
  }
  tick_.notify(ns_time(cfg_.planner.adjustment_interval.ns()));
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
  if (cfg_.planner.gpu_budget) {  // over budget: trim from the last pool backwards, keeping minimums
    auto gpus = [&] {
      int g = 0;
      for (size_t p = 0; p < target.size(); ++p) g += target[p] * cfg_.pools[p].tp;
      return g;
    };
    for (size_t p = target.size(); p-- > 0 && gpus() > *cfg_.planner.gpu_budget;)
      while (target[p] > cfg_.pools[p].lifecycle.min_replicas && gpus() > *cfg_.planner.gpu_budget) --target[p];
  }
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
  for (size_t p = 0; p < d.size(); ++p) {
    if (target[p] != lifecycle_.target(p)) ++scale_events_;
    lifecycle_.set_target(p, target[p]);
    records_.push_back(PlannerRecord{ns_to_s(now_ns()), seen.requests, seen.mean_isl, seen.mean_osl, seen.ttft_p50_s,
                                     seen.itl_mean_s, next.requests, next.isl, next.osl, d[p].capacity_req_per_s,
                                     d[p].correction, static_cast<std::int32_t>(p), d[p].target, target[p],
                                     lifecycle_.count(p, WorkerState::kReady), lifecycle_.count(p, WorkerState::kStarting),
                                     lifecycle_.count(p, WorkerState::kDraining), lifecycle_.gpus_in_use(),
                                     cfg_.planner.gpu_budget.value_or(-1)});
  }
  observer_.on_planner(records_);
}

}  // namespace servesim
