#include "cluster/cluster.h"

#include "models/catalog.h"

namespace servesim {

Cluster::Cluster(sc_core::sc_module_name name, const LoadedScenario& scenario, RunObserver& observer)
    : sc_core::sc_module(name), cfg_(scenario.config), observer_(observer) {
  TraceContext tctx{cfg_.workload, scenario.base_dir, cfg_.seed};
  player_ = std::make_unique<TracePlayer>("trace", make_trace_source(tctx), arrivals_);
  frontend_ = std::make_unique<Frontend>("frontend", arrivals_, to_router_, done_, releases_, observer_,
                                         static_cast<std::uint32_t>(cfg_.workload.hash_block_tokens));
  std::vector<TimedChannel<Request*>*> inputs;
  for (size_t p = 0; p < cfg_.pools.size(); ++p) {
    const PoolConfig& pool = cfg_.pools[p];
    const std::int64_t kv_blocks = kv_capacity(pool, Catalog::builtin()).blocks;
    for (int k = 0; k < pool.replicas; ++k) {
      auto id = static_cast<std::int32_t>(workers_.size());
      SchedulerContext sctx{pool, id, kv_blocks};
      TimingContext timing_ctx{pool, scenario.base_dir};
      workers_.push_back(std::make_unique<Worker>(
          fmt::format("{}_{}", pool.name, k).c_str(), id, static_cast<std::int32_t>(p),
          SchedulerRegistry::instance().create(pool.engine.scheduler, sctx),
          TimingRegistry::instance().create(pool.timing.model, timing_ctx), done_, observer_));
      inputs.push_back(&workers_.back()->input());
      gpus_ += pool.tp;
    }
  }
  RouterContext rctx{cfg_.router, cfg_.seed};
  router_ = std::make_unique<RouterModule>("router", cfg_.router,
                                           RouterRegistry::instance().create(cfg_.router.policy, rctx),
                                           cfg_.pools.front().engine.block_size, to_router_, releases_, std::move(inputs));
  // the indexer is fed only where a policy reads it: other runs pay nothing for KV events
  if (cfg_.router.indexer == "events" && router_->uses_overlap()) {
    kv_bus_ = std::make_unique<KvEventBus>("kv_bus", router_->kv_events(), cfg_.router.kv_event_latency.ns());
    for (auto& w : workers_) w->kv_events.bind(*kv_bus_);
  }
  if (cfg_.router.load_source == "reports") {
    SC_METHOD(report_loads);
    sensitive << report_tick_;
    dont_initialize();
  }
  worker_samples_.resize(workers_.size());
  // the run ends with its last request, not at the next sampler tick
  router_->set_on_idle([this] {
    if (drained()) sc_core::sc_stop();
  });
  SC_METHOD(sample);
  sensitive << tick_;
  dont_initialize();
}

void Cluster::start_of_simulation() {
  tick_.notify(ns_time(cfg_.simulation.sample_interval.ns()));
  if (cfg_.router.load_source == "reports") report_tick_.notify(sc_core::SC_ZERO_TIME);
}

// Each worker reports its load; the router sees it load_report_latency later.
void Cluster::report_loads() {
  for (const auto& w : workers_) {
    EngineLoad l = w->load();
    router_->load_reports().send(LoadReport{w->id(), l.waiting + l.running, l.kv_blocks_used},
                                 cfg_.router.load_report_latency.ns(), static_cast<std::uint32_t>(w->id()));
  }
  if (!drained()) report_tick_.notify(ns_time(cfg_.router.load_report_interval.ns()));
}

ClusterGauges Cluster::gauges() const {
  ClusterGauges g;
  g.in_system = frontend_->in_system();
  g.in_system_area_ns = frontend_->in_system_area_ns();
  g.workers_ready = static_cast<std::int32_t>(workers_.size());
  g.gpus_in_use = gpus_;
  RouterStats rs = router_->stats();
  g.kv_events = rs.kv_events;
  g.indexer_entries = rs.indexer_entries;
  return g;
}

void Cluster::sample() {
  for (size_t i = 0; i < workers_.size(); ++i)
    worker_samples_[i] = WorkerSample{workers_[i]->id(), workers_[i]->pool(), workers_[i]->load()};
  observer_.on_sample(now_ns(), gauges(), worker_samples_);
  last_sample_ns_ = now_ns();
  if (!drained()) tick_.notify(ns_time(cfg_.simulation.sample_interval.ns()));
}

void Cluster::final_sample() {
  if (now_ns() > last_sample_ns_) sample();
}

bool Cluster::drained() const { return player_->exhausted() && frontend_->in_system() == 0; }

void Cluster::finish_run() {
  if (finished_) return;
  finished_ = true;
  frontend_->abandon_in_flight();
}

void Cluster::check_invariants() const {
  const auto arrived = frontend_->arrived(), completed = frontend_->completed();
  const auto in_flight = static_cast<std::uint64_t>(frontend_->in_system());
  if (completed + in_flight != arrived)
    throw InvariantError(fmt::format("requests: {} arrived but {} completed + {} in flight", arrived,
                                     completed, in_flight));
  if (in_flight == 0) {
    for (const auto& w : workers_) {
      EngineLoad l = w->load();
      if (l.waiting != 0 || l.running != 0 || l.kv_blocks_used != 0)
        throw InvariantError(fmt::format("worker {} idle at the end but holds {} waiting, {} running, {} KV blocks",
                                         w->id(), l.waiting, l.running, l.kv_blocks_used));
    }
  }
  for (const auto& v : router_->bookkeeping())
    if (in_flight == 0 && (v.active_seqs != 0 || v.active_tokens != 0))
      throw InvariantError(fmt::format("router still counts {} sequences on worker {} after the run",
                                       v.active_seqs, v.worker_id));
}

}  // namespace servesim
