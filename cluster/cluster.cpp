#include "cluster/cluster.h"

#include <algorithm>

#include "core/time_grid.h"
#include "models/catalog.h"
#include "models/data_parallel_scheduler.h"
#include "traces/trace_source.h"

namespace servesim {

namespace {
// Live mode without background traffic: every request comes from outside.
// Live aborts sort after the router's messages due at the same instant.
constexpr std::uint32_t kAbortSender = 0xFFFF0000u;

class NoRequests final : public TraceSource {
 public:
  std::optional<TraceRequest> next() override { return std::nullopt; }
  TraceStats stats() const override { return {}; }
};

// A pool's LoRA costs per cluster adapter: its load (fixed latency + its bytes over the host
// link, each GPU copying its own shard) and one read of its weights at HBM bandwidth.
LoraCosts lora_costs(const PoolConfig& pool, const std::vector<ServedAdapter>& adapters) {
  LoraCosts c;
  if (!pool.lora.enabled()) return c;
  const Catalog& catalog = Catalog::builtin();
  const ModelSpec m = catalog.deployed_model(pool);
  const GpuSpec& g = catalog.gpu(pool.gpu);
  c.max_loras = pool.lora.max_loras;
  c.load_ns.assign(adapters.size(), -1);
  c.read_ns.assign(adapters.size(), 0);
  for (const LoraAdapter& a : lora_adapters(pool)) {
    const auto it = std::find_if(adapters.begin(), adapters.end(), [&](const ServedAdapter& x) { return x.name == a.name; });
    const auto i = static_cast<size_t>(it - adapters.begin());
    const double bytes = lora_bytes_per_gpu(m, a.rank, pool.tp);
    c.load_ns.at(i) = pool.lora.load_latency.ns() + s_to_ns(bytes / (pool.lora.host_gbyte_per_s * 1e9));
    c.read_ns.at(i) = s_to_ns(bytes / (g.hbm_gbps * 1e9));
  }
  return c;
}
}  // namespace

Cluster::Cluster(sc_core::sc_module_name name, const LoadedScenario& scenario, RunObserver& observer,
                 ClusterMode mode)
    : sc_core::sc_module(name),
      cfg_(scenario.config),
      mode_(std::move(mode)),
      metrics_(cfg_.slo, [&] {
        size_t n = 0;
        for (const auto& p : cfg_.pools) n += static_cast<size_t>(worker_slots(p));
        return n;
      }()),
      tee_(observer, metrics_),
      observer_(tee_) {
  TraceContext tctx = trace_context(cfg_, scenario.base_dir);
  const auto& loop = cfg_.workload.closed_loop;
  std::unique_ptr<TraceSource> source =
      mode_.replay_workload ? make_trace_source(tctx) : std::make_unique<NoRequests>();
  TracePlayer::Options play;
  play.concurrency = loop.concurrency;
  play.think_ns = loop.think_time.ns();
  play.ramp_ns = loop.ramp.ns();
  if (loop.ramp_phases == "random") play.random_ramp_seed = cfg_.seed;
  play.desync_ns = loop.desync.ns();
  play.desync_seed = cfg_.seed;
  play.sessions = loop.sessions;
  if (cfg_.workload.graph_horizon) {  // in simulated time, as the knobs scale the trace's; a horizon
    // past the longest run a trace may span (the knobs can push it beyond int64 ns) is that span
    const double horizon_ns = static_cast<double>(cfg_.workload.graph_horizon->ns()) *
                              cfg_.workload.time_scale / cfg_.workload.rate_scale;
    play.graph_horizon_ns = static_cast<TimeNs>(std::min(horizon_ns, kMaxTraceTimeS * 1e9));
  }
  player_ = std::make_unique<TracePlayer>("trace", std::move(source), arrivals_, play);
  const std::vector<std::string> models = served_models(cfg_);
  const std::vector<ServedAdapter> adapters = served_adapters(cfg_);
  std::vector<std::pair<std::string, std::int16_t>> adapter_models;
  for (const ServedAdapter& a : adapters) adapter_models.emplace_back(a.name, a.model);
  frontend_ = std::make_unique<Frontend>("frontend", arrivals_, to_router_, done_, releases_, observer_,
                                         static_cast<std::uint32_t>(cfg_.workload.hash_block_tokens), models,
                                         cfg_.frontend.request_latency.ns(), adapter_models,
                                         FrontendProcessing{cfg_.frontend.processing.processes,
                                                            cfg_.frontend.processing.per_request.ns(),
                                                            cfg_.frontend.processing.per_1k_input_tokens.ns()});
  frontend_->notify_ended(player_->ended(), player_->wants_every_end());
  std::vector<TimedChannel<WorkerMsg>*> inputs;
  std::vector<WorkerRole> roles;
  std::vector<const PoolConfig*> worker_pools;
  std::vector<std::int16_t> worker_models;
  std::vector<RouterModule::WorkerLora> worker_lora;
  // the shared tiers exist before the workers, whose host memory evicts into them; the fetcher
  // learns the workers' inputs once they exist
  const KvStorageLayout storage_layout = kv_storage_layout(cfg_);
  std::unique_ptr<KvStorage> storage_tiers;
  if (storage_layout.enabled()) storage_tiers = std::make_unique<KvStorage>(storage_layout.spec);
  for (size_t p = 0; p < cfg_.pools.size(); ++p) {
    const PoolConfig& pool = cfg_.pools[p];
    const KvCapacity capacity = kv_capacity(pool, Catalog::builtin());
    const std::int64_t kv_blocks = capacity.blocks;
    const LoraCosts lora = lora_costs(pool, adapters);
    const std::shared_ptr<const SpeculativeDecoding> speculative = SpeculativeDecoding::make(pool, scenario.base_dir);
    const auto power = std::make_shared<const PowerModel>(PowerModel::for_pool(pool, Catalog::builtin()));
    const KvOffloadCosts offload = kv_offload_costs(pool, Catalog::builtin());
    for (int k = 0; k < worker_slots(pool); ++k) {
      auto id = static_cast<std::int32_t>(workers_.size());
      SchedulerContext sctx{pool, id, kv_blocks, lora, speculative, cfg_.seed, offload};
      sctx.state_blocks = capacity.state_blocks_per_sequence;
      if (storage_tiers) {
        sctx.storage = storage_tiers.get();
        sctx.storage_node = storage_layout.worker_node.at(static_cast<size_t>(id));
      }
      RouterModule::WorkerLora& wl = worker_lora.emplace_back();
      wl.max_loras = lora.max_loras;
      for (size_t a = 0; a < lora.load_ns.size(); ++a)
        if (lora.load_ns[a] >= 0) wl.adapters.push_back(static_cast<std::int32_t>(a));
      TimingContext timing_ctx{pool, scenario.base_dir};
      workers_.push_back(std::make_unique<Worker>(
          worker_name(pool, k).c_str(), id, static_cast<std::int32_t>(p),
          make_engine_scheduler(sctx),
          TimingRegistry::instance().create(pool.timing.model, timing_ctx), done_, observer_));
      workers_.back()->set_power(power, pool.attention_dp);
      inputs.push_back(&workers_.back()->input());
      roles.push_back(role_of(pool));
      worker_pools.push_back(&pool);
      worker_models.push_back(static_cast<std::int16_t>(
          std::find(models.begin(), models.end(), pool.model) - models.begin()));
    }
  }
  RouterContext rctx{cfg_.router, cfg_.seed};
  std::unique_ptr<RouterPolicy> prefill_policy;
  if (is_disaggregated(cfg_)) {
    // its own instance (and random stream), so prefill picks do not disturb decode picks
    RouterContext pctx{cfg_.router, cfg_.seed ^ 0x9e3779b97f4a7c15ULL};
    prefill_policy = RouterRegistry::instance().create(cfg_.router.policy, pctx);
  }
  router_ = std::make_unique<RouterModule>("router", cfg_.router,
                                           RouterRegistry::instance().create(cfg_.router.policy, rctx),
                                           std::move(prefill_policy), cfg_.pools.front().engine.block_size, to_router_,
                                           releases_, worker_states_, inputs, roles, worker_models, models);
  router_->set_rejects(done_);
  std::vector<std::int32_t> routed_ranks;  // engine.dp_balance router: the router picks the rank
  for (const PoolConfig* pool : worker_pools)
    routed_ranks.push_back(pool->engine.dp_balance == "router" ? pool->attention_dp : 1);
  if (std::any_of(routed_ranks.begin(), routed_ranks.end(), [](std::int32_t n) { return n > 1; }))
    router_->route_ranks(routed_ranks);
  if (std::any_of(cfg_.pools.begin(), cfg_.pools.end(), [](const PoolConfig& p) { return p.kv_offload.enabled(); }))
    router_->track_host_tier();
  if (!adapters.empty()) {
    std::vector<std::string> names;
    for (const ServedAdapter& a : adapters) names.push_back(a.name);
    router_->set_lora(worker_lora, names);
  }
  if (is_disaggregated(cfg_)) {
    const WorkerPlacement& placement = *scenario.placement;  // built by validation
    fabric_ = std::make_unique<KvFabric>("kv_fabric", cfg_.kv_transfer, *placement.topology, worker_pools,
                                         placement.gpus, inputs, releases_, observer_);
    for (auto& w : workers_)
      if (roles[static_cast<size_t>(w->id())] != WorkerRole::kAggregated) w->connect_fabric(fabric_->input());
  }
  if (storage_tiers) {
    storage_ = std::make_unique<KvStorageModule>("kv_storage", cfg_.kv_storage, storage_layout, std::move(storage_tiers),
                                                 inputs);
    for (auto& w : workers_)
      if (storage_layout.worker_node.at(static_cast<size_t>(w->id())) >= 0) w->connect_storage(storage_->input());
    router_->see_storage(&storage_->tiers(), storage_layout.worker_node);
  }
  // the links bytes move over, numbered for the observer: the KV fabric's, then kv_storage's
  std::vector<FabricLinkDesc> links;
  if (fabric_) links = fabric_->links();
  storage_first_link_ = static_cast<std::int32_t>(links.size());
  if (storage_) links.insert(links.end(), storage_->links().begin(), storage_->links().end());
  if (fabric_ || storage_) observer_.on_fabric(links);
  // the indexer is fed only where a policy reads it: other runs pay nothing for KV events
  std::vector<KvEventSink*> kv_sinks;
  if (cfg_.router.indexer == "events" && router_->uses_overlap()) {
    kv_bus_ = std::make_unique<KvEventBus>("kv_bus", router_->kv_events(), cfg_.router.kv_event_latency.ns());
    kv_sinks.push_back(kv_bus_.get());
  }
  if (mode_.kv_sink) kv_sinks.push_back(mode_.kv_sink);
  if (!kv_sinks.empty()) {
    kv_fanout_ = std::make_unique<KvEventFanout>("kv_fanout", std::move(kv_sinks));
    for (auto& w : workers_) w->kv_events.bind(*kv_fanout_);
  }
  if (cfg_.router.load_source == "reports") {
    SC_METHOD(report_loads);
    sensitive << report_tick_;
    dont_initialize();
  }
  std::vector<Worker*> worker_ptrs;
  for (auto& w : workers_) worker_ptrs.push_back(w.get());
  std::vector<const KvCache*> engine_caches;
  for (Worker* w : worker_ptrs) engine_caches.push_back(w->prefix_cache());
  router_->read_engine_caches(std::move(engine_caches));
  lifecycle_ = std::make_unique<Lifecycle>("lifecycle", cfg_, worker_ptrs, *router_, scale_commands_, worker_states_,
                                           releases_, to_router_, done_, observer_);
  planner_ = std::make_unique<Planner>("planner", planner_scope(cfg_), scenario.base_dir, *this, scale_commands_,
                                       metrics_, observer_, [this] { return drained(); }, mode_.planner);
  planner_->set_idle_check([this] { return idle(); });
  worker_samples_.resize(workers_.size());
  // the run ends with its last request, not at the next sampler tick
  router_->set_on_idle([this] {
    if (drained()) sc_core::sc_stop();
  });
  SC_METHOD(sample);
  sensitive << tick_;
  dont_initialize();
  SC_METHOD(wake);
  sensitive << arrivals_.event();
  dont_initialize();
}

// Nothing in the system, nothing in transit, no worker changing state: samples would all be
// empty, so the sampler and load reports sleep until the next arrival (an idle gap costs O(1)).
bool Cluster::idle() const {
  if (frontend_->in_system() != 0 || frontend_->arrived() != player_->sent() + injected_) return false;
  for (size_t p = 0; p < cfg_.pools.size(); ++p)
    if (lifecycle_->count(p, WorkerState::kStarting) || lifecycle_->count(p, WorkerState::kDraining)) return false;
  if (storage_ && (storage_->stats().active != 0 || storage_->stats().writes != 0)) return false;
  return !fabric_ || fabric_->stats().active == 0;
}

void Cluster::wake() {
  planner_->wake();
  if (sampler_asleep_) {
    sampler_asleep_ = false;
    const TimeNs interval = cfg_.simulation.sample_interval.ns(), now = now_ns();
    const TimeNs next = next_on_grid(last_sample_ns_, interval, now);
    if (next - interval > last_sample_ns_) observer_.on_resume(next - interval);
    tick_.notify(ns_time(next - now));
  }
  if (reports_asleep_) {
    reports_asleep_ = false;
    report_tick_.notify(sc_core::SC_ZERO_TIME);
  }
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
  if (drained()) return;
  if (idle()) reports_asleep_ = true;
  else report_tick_.notify(ns_time(cfg_.router.load_report_interval.ns()));
}

PoolStatus Cluster::pool_status(size_t pool) const {
  PoolStatus s;
  s.ready = lifecycle_->count(pool, WorkerState::kReady);
  s.starting = lifecycle_->count(pool, WorkerState::kStarting);
  s.draining = lifecycle_->count(pool, WorkerState::kDraining);
  s.target = lifecycle_->target(pool);
  s.failures = lifecycle_->failures(pool);
  for (const auto& w : workers_) {
    if (static_cast<size_t>(w->pool()) != pool) continue;
    const WorkerState st = lifecycle_->state(static_cast<size_t>(w->id()));
    if (st != WorkerState::kReady && st != WorkerState::kDraining) continue;
    const EngineLoad l = w->load();
    s.waiting += l.waiting + l.incoming;
    s.running += l.running;
    s.kv_usage_sum += l.kv_blocks_total ? static_cast<double>(l.kv_blocks_used) / static_cast<double>(l.kv_blocks_total) : 0;
    ++s.serving;
  }
  return s;
}

void Cluster::worker_status(std::vector<WorkerStatus>& out) const {
  out.clear();
  std::vector<int> k(cfg_.pools.size(), 0);
  for (const auto& w : workers_) {
    const auto pool = static_cast<size_t>(w->pool());
    WorkerStatus s;
    s.id = w->id();
    s.pool = w->pool();
    s.name = worker_name(cfg_.pools[pool], k[pool]++);
    switch (lifecycle_->state(static_cast<size_t>(w->id()))) {
      case WorkerState::kStopped: s.state = "stopped"; break;
      case WorkerState::kStarting: s.state = "starting"; break;
      case WorkerState::kReady: s.state = "ready"; break;
      case WorkerState::kDraining: s.state = "draining"; break;
    }
    s.load = w->load();
    out.push_back(std::move(s));
  }
}

ClusterGauges Cluster::gauges() const {
  ClusterGauges g;
  g.in_system = frontend_->in_system();
  g.in_system_area_ns = frontend_->in_system_area_ns();
  for (size_t p = 0; p < cfg_.pools.size(); ++p) {
    g.workers_ready += lifecycle_->count(p, WorkerState::kReady);
    g.workers_starting += lifecycle_->count(p, WorkerState::kStarting);
    g.workers_draining += lifecycle_->count(p, WorkerState::kDraining);
  }
  g.gpus_in_use = lifecycle_->gpus_in_use();
  g.idle_energy_j = lifecycle_->idle_energy_j();
  g.router_pending = router_->pending();
  RouterStats rs = router_->stats();
  g.kv_events = rs.kv_events;
  g.indexer_entries = rs.indexer_entries;
  g.remote_prefills = rs.remote_prefills;
  g.local_prefills = rs.local_prefills;
  if (fabric_) g.transfers_active = fabric_->stats().active;
  return g;
}

void Cluster::sample() {
  for (size_t i = 0; i < workers_.size(); ++i)
    worker_samples_[i] = WorkerSample{workers_[i]->id(), workers_[i]->pool(), workers_[i]->load(),
                                      lifecycle_->state(i) == WorkerState::kStopped ? 0.0 : workers_[i]->idle_w()};
  observer_.on_sample(now_ns(), gauges(), worker_samples_);
  pool_samples_.clear();
  for (size_t p = 0; p < cfg_.pools.size(); ++p)
    pool_samples_.push_back(PoolSample{static_cast<std::int32_t>(p), lifecycle_->count(p, WorkerState::kReady),
                                       lifecycle_->count(p, WorkerState::kStarting),
                                       lifecycle_->count(p, WorkerState::kDraining), lifecycle_->target(p),
                                       lifecycle_->count(p, WorkerState::kReady) * cfg_.pools[p].gpus_per_worker()});
  observer_.on_pools(now_ns(), pool_samples_);
  if (fabric_ || storage_) {
    link_samples_.clear();
    if (fabric_) fabric_->sample_links(now_ns(), link_samples_);
    if (storage_) storage_->sample_links(now_ns(), link_samples_, storage_first_link_);
    observer_.on_links(now_ns(), link_samples_);
  }
  last_sample_ns_ = now_ns();
  if (drained()) return;
  if (idle()) sampler_asleep_ = true;
  else tick_.notify(ns_time(cfg_.simulation.sample_interval.ns()));
}

void Cluster::final_sample() {
  if (now_ns() > last_sample_ns_) sample();
}

bool Cluster::drained() const {
  return !mode_.open_ended && player_->exhausted() && frontend_->arrived() == player_->sent() + injected_ &&
         frontend_->in_system() == 0;
}

void Cluster::inject(TraceRequest request, TimeNs delay_ns) {
  ++injected_;
  arrivals_.send(std::move(request), delay_ns, 1);  // sender 1: after the trace's arrivals at the same instant
}

bool Cluster::abort_client(std::uint64_t client_id) {
  Request* r = frontend_->find_client_request(client_id);
  if (!r) return false;
  if (r->worker >= 0)
    workers_[static_cast<size_t>(r->worker)]->input().send(WorkerMsg{WorkerMsg::Kind::kAbort, r}, 0, kAbortSender);
  return true;
}

void Cluster::progress(std::vector<EngineScheduler::TokenProgress>& out) const {
  out.clear();
  for (const auto& w : workers_) w->progress(out);
}

void Cluster::finish_run() {
  if (finished_) return;
  finished_ = true;
  frontend_->abandon_in_flight();
}

std::uint64_t Cluster::iterations() const {
  std::uint64_t n = 0;
  for (const auto& w : workers_) n += w->iterations();
  return n;
}

std::uint64_t Cluster::timing_extrapolations() const {
  std::uint64_t n = 0;
  for (const auto& w : workers_) n += w->timing_extrapolations();
  return n;
}

void Cluster::check_invariants() const {
  const auto arrived = frontend_->arrived(), completed = frontend_->completed(), failed = frontend_->failed(),
             aborted = frontend_->aborted(), rejected = frontend_->rejected();
  const auto in_flight = static_cast<std::uint64_t>(frontend_->in_system());
  if (completed + failed + aborted + rejected + in_flight != arrived)
    throw InvariantError(fmt::format(
        "requests: {} arrived but {} completed + {} failed + {} aborted + {} rejected + {} in flight", arrived,
        completed, failed, aborted, rejected, in_flight));
  if (lifecycle_->gpus_in_use() > cfg_.planner.gpu_budget.value_or(lifecycle_->gpus_in_use()))
    throw InvariantError(fmt::format("{} GPUs in use, above the budget of {}", lifecycle_->gpus_in_use(),
                                     *cfg_.planner.gpu_budget));
  if (in_flight == 0) {
    for (const auto& w : workers_) {
      EngineLoad l = w->load();
      if (l.waiting != 0 || l.running != 0 || l.kv_blocks_used != 0 || l.held != 0 || l.incoming != 0)
        throw InvariantError(fmt::format(
            "worker {} idle at the end but holds {} waiting, {} running, {} held for transfer, {} incoming, {} KV blocks",
            w->id(), l.waiting, l.running, l.held, l.incoming, l.kv_blocks_used));
    }
  }
  if (in_flight == 0 && fabric_ && fabric_->stats().active != 0)
    throw InvariantError(fmt::format("{} KV transfers still open after the run", fabric_->stats().active));
  for (const auto& v : router_->bookkeeping())
    if (in_flight == 0 && (v.active_seqs != 0 || v.active_tokens != 0))
      throw InvariantError(fmt::format("router still counts {} sequences on worker {} after the run",
                                       v.active_seqs, v.worker_id));
}

}  // namespace servesim
