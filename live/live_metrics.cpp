#include "live/live_metrics.h"

#include <algorithm>
#include <chrono>

namespace servesim::live {

LiveMetrics::LiveMetrics(const ScenarioConfig& cfg) : cfg_(cfg) {
  for (const PoolConfig& pool : cfg.pools)
    for (int k = 0; k < worker_slots(pool); ++k) {
      PerWorker w;
      w.name = worker_name(pool, k);
      w.pool = pool.name;
      w.model = pool.model;
      if (pool.lora.enabled()) w.max_loras = pool.lora.max_loras;
      workers_.push_back(std::move(w));
    }
  for (const ServedAdapter& a : served_adapters(cfg)) adapters_.push_back(a.name);
}

void LiveMetrics::on_request_done(const Request& r) {
  if (r.worker < 0 || static_cast<size_t>(r.worker) >= workers_.size()) return;
  PerWorker& w = workers_[static_cast<size_t>(r.worker)];
  w.preemptions += r.preemptions;
  if (r.scheduled_ns >= 0) {
    w.cache_queries += r.input_tokens;
    w.cache_hits += r.cached_tokens;
    w.queue.observe(ns_to_s(r.scheduled_ns - r.arrival_ns));
  }
  if (r.status == RequestStatus::kAborted) ++w.success_abort;
  if (r.status != RequestStatus::kCompleted) return;
  ++w.success_length;  // the simulated model stops at max_tokens: vLLM's finished_reason "length"
  w.prompt_tokens += r.input_tokens;
  w.ttft.observe(r.ttft_s());
  w.e2e.observe(r.e2e_s());
}

void LiveMetrics::on_iteration(std::int32_t worker, TimeNs duration, const BatchShape&, const IterationResult& res) {
  if (worker < 0 || static_cast<size_t>(worker) >= workers_.size()) return;
  PerWorker& w = workers_[static_cast<size_t>(worker)];
  w.generation_tokens += res.tokens_emitted;
  // every decode token of the iteration came one iteration after its predecessor
  res.for_each_itl(duration, [&](TimeNs gap, std::int32_t tokens) {
    w.itl.observe(ns_to_s(gap), static_cast<std::uint64_t>(tokens));
  });
}

void LiveMetrics::on_fabric(std::span<const FabricLinkDesc> links) {
  links_.assign(links.begin(), links.end());
  link_utilisation_.assign(links_.size(), 0.0);
}

void LiveMetrics::on_links(TimeNs now, std::span<const LinkSample> samples) {
  const double window_s = ns_to_s(now - links_at_);
  links_at_ = now;
  std::fill(link_utilisation_.begin(), link_utilisation_.end(), 0.0);
  if (window_s <= 0) return;
  for (const LinkSample& s : samples)
    if (static_cast<size_t>(s.link) < links_.size() && links_[static_cast<size_t>(s.link)].bytes_per_s > 0)
      link_utilisation_[static_cast<size_t>(s.link)] = s.bytes / (window_s * links_[static_cast<size_t>(s.link)].bytes_per_s);
}

void LiveMetrics::on_planner(std::span<const PlannerRecord> records) { planner_decisions_ += records.size(); }

std::string LiveMetrics::render(const Cluster& cluster, double sim_now_s, std::int32_t only) const {
  using T = MetricsText::Type;
  MetricsText m;
  std::vector<size_t> shown;
  for (size_t i = 0; i < workers_.size(); ++i)
    if (only < 0 || static_cast<size_t>(only) == i) shown.push_back(i);
  auto labels = [&](size_t i) {
    return Labels{{"model_name", workers_[i].model}, {"engine", std::to_string(i)}, {"worker", workers_[i].name},
                  {"pool", workers_[i].pool}};
  };
  std::vector<EngineLoad> loads(workers_.size());
  for (size_t i = 0; i < workers_.size(); ++i) loads[i] = cluster.workers()[i]->load();
  auto gauge = [&](const char* name, const char* help, auto value) {
    m.family(name, T::kGauge, help);
    for (size_t i : shown) m.sample(labels(i), value(i));
  };
  auto counter = [&](const char* name, const char* help, auto value) {
    m.family(name, T::kCounter, help);
    for (size_t i : shown) m.sample(labels(i), value(i));
  };
  auto kv_usage = [&](size_t i) {
    return loads[i].kv_blocks_total ? static_cast<double>(loads[i].kv_blocks_used) / static_cast<double>(loads[i].kv_blocks_total) : 0.0;
  };
  gauge("vllm:num_requests_running", "Number of requests in model execution batches.",
        [&](size_t i) { return static_cast<double>(loads[i].running); });
  gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.",
        [&](size_t i) { return static_cast<double>(loads[i].waiting); });
  gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", kv_usage);
  gauge("vllm:gpu_cache_usage_perc", "GPU KV-cache usage. 1 means 100 percent usage (name before vLLM 0.10).", kv_usage);
  counter("vllm:prompt_tokens", "Number of prefill tokens processed.", [&](size_t i) { return workers_[i].prompt_tokens; });
  counter("vllm:generation_tokens", "Number of generation tokens processed.",
          [&](size_t i) { return workers_[i].generation_tokens; });
  counter("vllm:num_preemptions", "Cumulative number of preemptions from the engine.",
          [&](size_t i) { return workers_[i].preemptions; });
  counter("vllm:prefix_cache_queries", "Prefix cache queries, in terms of number of queried tokens.",
          [&](size_t i) { return workers_[i].cache_queries; });
  counter("vllm:prefix_cache_hits", "Prefix cache hits, in terms of number of cached tokens.",
          [&](size_t i) { return workers_[i].cache_hits; });
  m.family("vllm:request_success", T::kCounter, "Count of successfully processed requests.");
  for (size_t i : shown) {
    Labels l = labels(i);
    l.emplace_back("finished_reason", "length");
    m.sample(l, workers_[i].success_length);
    l.back().second = "abort";
    m.sample(l, workers_[i].success_abort);
  }
  // vLLM's LoRA gauge: the adapters running and waiting in its labels, the time it was taken (Unix
  // seconds) as its value, as routers such as llm-d's read it; only workers serving adapters
  if (std::any_of(shown.begin(), shown.end(), [&](size_t i) { return workers_[i].max_loras > 0; })) {
    m.family("vllm:lora_requests_info", T::kGauge, "Running stats on lora requests.");
    const double unix_s =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    std::vector<std::int32_t> running, waiting;
    auto names = [&](const std::vector<std::int32_t>& ids) {
      std::string out;
      for (std::int32_t a : ids) out += (out.empty() ? "" : ",") + adapters_.at(static_cast<size_t>(a));
      return out;
    };
    for (size_t i : shown) {
      if (workers_[i].max_loras == 0) continue;
      cluster.workers()[i]->lora_adapters(running, waiting);
      Labels l = labels(i);
      l.emplace_back("max_lora", std::to_string(workers_[i].max_loras));
      l.emplace_back("running_lora_adapters", names(running));
      l.emplace_back("waiting_lora_adapters", names(waiting));
      m.sample(l, unix_s);
    }
  }
  auto histogram = [&](const char* name, const char* help, const PromHistogram PerWorker::*h) {
    m.family(name, T::kHistogram, help);
    for (size_t i : shown) m.histogram(labels(i), workers_[i].*h);
  };
  histogram("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", &PerWorker::ttft);
  histogram("vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.", &PerWorker::itl);
  histogram("vllm:time_per_output_token_seconds", "Histogram of time per output token in seconds (older name).",
            &PerWorker::itl);
  histogram("vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.", &PerWorker::e2e);
  histogram("vllm:request_queue_time_seconds", "Histogram of time spent in WAITING phase for request.",
            &PerWorker::queue);

  // servesim's own
  m.family("servesim_simulated_time_seconds", T::kGauge, "Simulated time since the live run started.");
  m.sample({}, sim_now_s);
  m.family("servesim_simulation_lag_seconds", T::kHistogram,
           "Wall seconds between an event's due time and the publication of its outcome.");
  m.histogram({}, lag_);
  if (only >= 0) return m.text();
  m.family("servesim_pool_workers", T::kGauge, "Workers of a pool by state.");
  const Lifecycle& life = cluster.lifecycle();
  for (size_t p = 0; p < cfg_.pools.size(); ++p)
    for (auto [state, label] : {std::pair{WorkerState::kReady, "ready"}, std::pair{WorkerState::kStarting, "starting"},
                                std::pair{WorkerState::kDraining, "draining"}})
      m.sample({{"pool", cfg_.pools[p].name}, {"state", label}}, life.count(p, state));
  m.family("servesim_pool_target_workers", T::kGauge, "The planner's target number of workers of a pool.");
  for (size_t p = 0; p < cfg_.pools.size(); ++p) m.sample({{"pool", cfg_.pools[p].name}}, life.target(p));
  m.family("servesim_gpus_in_use", T::kGauge, "GPUs held by starting, ready and draining workers.");
  m.sample({}, life.gpus_in_use());
  m.family("servesim_planner_decisions", T::kCounter, "Planner decisions recorded (one per pool per adjustment).");
  m.sample({}, static_cast<double>(planner_decisions_));
  m.family("servesim_planner_scale_events", T::kCounter, "Planner decisions that changed a target.");
  m.sample({}, static_cast<double>(cluster.planner().scale_events()));
  m.family("servesim_requests_in_flight", T::kGauge, "Requests arrived and not yet ended.");
  m.sample({}, static_cast<double>(cluster.frontend().in_system()));
  m.family("servesim_router_pending", T::kGauge, "Requests waiting at the router for a worker.");
  m.sample({}, static_cast<double>(cluster.gauges().router_pending));
  if (!links_.empty()) {
    m.family("servesim_link_utilisation", T::kGauge, "KV-fabric link utilisation over the last sample window (0-1).");
    for (size_t l = 0; l < links_.size(); ++l) m.sample({{"link", links_[l].name}}, link_utilisation_[l]);
  }
  return m.text();
}

}  // namespace servesim::live
