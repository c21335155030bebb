#include "router/router_module.h"

#include <algorithm>

namespace servesim {

RouterModule::RouterModule(sc_core::sc_module_name name, const RouterConfig& cfg, std::unique_ptr<RouterPolicy> policy,
                           std::unique_ptr<RouterPolicy> prefill_policy, std::int32_t block_size,
                           TimedChannel<Request*>& requests, TimedChannel<RouteRelease>& releases,
                           TimedChannel<WorkerStateMsg>& worker_states, std::vector<TimedChannel<WorkerMsg>*> workers,
                           std::vector<WorkerRole> roles, std::vector<std::int16_t> models,
                           const std::vector<std::string>& model_names)
    : sc_core::sc_module(name),
      cfg_(cfg),
      policy_(std::move(policy)),
      prefill_policy_(std::move(prefill_policy)),
      block_size_(block_size),
      requests_(requests),
      releases_(releases),
      worker_states_(worker_states),
      workers_(std::move(workers)),
      roles_(std::move(roles)),
      indexer_(static_cast<std::int32_t>(workers_.size())),
      host_indexer_(static_cast<std::int32_t>(workers_.size())) {
  if (roles_.size() != workers_.size() || models.size() != workers_.size())
    throw InvariantError("router: one role and one model per worker are needed");
  const size_t model_count = models.empty() ? 1 : static_cast<size_t>(*std::max_element(models.begin(), models.end())) + 1;
  entry_.resize(model_count);
  prefill_.resize(model_count);
  pending_.resize(model_count);
  for (size_t i = 0; i < workers_.size(); ++i) {
    own_.push_back(WorkerView{static_cast<std::int32_t>(i), 0, 0, 0, 0, 0});
    const auto m = static_cast<size_t>(models[i]);
    (roles_[i] == WorkerRole::kPrefill ? prefill_[m] : entry_[m]).push_back(i);
  }
  buckets_.resize(model_count);
  for (const auto& limit : cfg_.admission.rate_limits) {
    auto it = std::find(model_names.begin(), model_names.end(), limit.model);
    if (it == model_names.end()) continue;  // validation refuses a model no pool serves
    const auto m = static_cast<size_t>(it - model_names.begin());
    if (m < model_count) buckets_[m] = Bucket{limit.requests_per_s, limit.burst, limit.burst, 0};
  }
  for (size_t m = 0; m < model_count; ++m) {
    if (entry_[m].empty()) throw InvariantError(fmt::format("router: no aggregated or decode worker serves model {}", m));
    if (!prefill_[m].empty() && !prefill_policy_) throw InvariantError("router: prefill workers but no prefill policy");
  }
  views_ = own_;
  accepting_.assign(workers_.size(), 0);
  routed_ranks_.assign(workers_.size(), 1);
  for (size_t i = 0; i < workers_.size(); ++i) rank_base_.push_back(i);
  SC_METHOD(on_requests);
  // one process for both, state changes first: what a request sees never depends on process order
  sensitive << requests_.event() << worker_states_.event() << retry_;
  dont_initialize();
  SC_METHOD(on_timeouts);
  sensitive << timeouts_.event();
  dont_initialize();
  SC_METHOD(on_releases);
  sensitive << releases_.event();
  dont_initialize();
  SC_METHOD(on_kv_events);
  sensitive << kv_events_.event();
  dont_initialize();
  SC_METHOD(on_load_reports);
  sensitive << load_reports_.event();
  dont_initialize();
}

void RouterModule::route_ranks(const std::vector<std::int32_t>& ranks) {
  if (ranks.size() != workers_.size()) throw InvariantError("router: a rank count for every worker is needed");
  routed_ranks_ = ranks;
  rank_base_.clear();
  size_t columns = 0;
  for (std::int32_t n : ranks) {
    if (n < 1) throw InvariantError("router: a worker of no rank");
    rank_base_.push_back(columns);
    columns += static_cast<size_t>(n);
  }
  indexer_ = KvIndexer(static_cast<std::int32_t>(columns));
  host_indexer_ = KvIndexer(static_cast<std::int32_t>(columns));
  rank_own_.assign(columns, WorkerView{});
}

void RouterModule::start_of_simulation() {
  // with a latency, events are in flight at most routings and undoing them each time costs more
  // than the table
  const bool serve = cfg_.indexer == "events" && cfg_.index_store == "auto" && uses_overlap() &&
                     cfg_.kv_event_latency.ns() == 0 &&
                     engine_caches_.size() == workers_.size() &&
                     std::all_of(routed_ranks_.begin(), routed_ranks_.end(), [](std::int32_t n) { return n == 1; }) &&
                     std::all_of(engine_caches_.begin(), engine_caches_.end(),
                                 [&](const KvCache* c) { return c && c->block_size() == block_size_; });
  if (serve) view_ = std::make_unique<CacheViewIndex>(engine_caches_);
}

const std::vector<CacheViewIndex::Batch>& RouterModule::events_in_flight() {
  in_flight_.clear();
  if (!kv_events_.empty())
    kv_events_.for_each_queued([&](const KvEventBatch& b) {
      in_flight_.push_back({static_cast<std::int32_t>(rank_base_[static_cast<size_t>(b.worker)]), b.events});
    });
  return in_flight_;
}

void RouterModule::engine_resetting(size_t worker) {
  if (view_) view_->detach(static_cast<std::int32_t>(rank_base_.at(worker)), events_in_flight());
}

void RouterModule::set_lora(const std::vector<WorkerLora>& workers, const std::vector<std::string>& adapter_names) {
  if (workers.size() != workers_.size()) throw InvariantError("router: LoRA settings for every worker are needed");
  const size_t adapters = adapter_names.size();
  adapter_buckets_.assign(adapters, std::nullopt);
  for (const auto& limit : cfg_.admission.rate_limits) {
    auto it = std::find(adapter_names.begin(), adapter_names.end(), limit.model);
    if (it != adapter_names.end())
      adapter_buckets_[static_cast<size_t>(it - adapter_names.begin())] =
          Bucket{limit.requests_per_s, limit.burst, limit.burst, 0};
  }
  entry_by_adapter_.assign(adapters, {});
  sent_adapters_.assign(workers.size(), {});
  max_loras_.assign(workers.size(), 0);
  for (size_t i = 0; i < workers.size(); ++i) {
    max_loras_[i] = workers[i].max_loras;
    if (roles_[i] == WorkerRole::kPrefill) continue;
    for (std::int32_t a : workers[i].adapters) entry_by_adapter_.at(static_cast<size_t>(a)).push_back(i);
  }
}

// The workers a request naming an adapter may go to: those serving it, narrowed by affinity.
const std::vector<size_t>& RouterModule::lora_candidates(const Request& r, const std::vector<size_t>& serving) {
  if (!cfg_.lora_affinity) return serving;
  affine_.clear();
  roomy_.clear();
  for (size_t i : serving) {
    if (!accepting_[i] || full(i)) continue;
    const auto& sent = sent_adapters_[i];
    if (std::find(sent.begin(), sent.end(), r.lora) != sent.end()) {
      if (views_[i].active_seqs < cfg_.lora_affinity_max_seqs) affine_.push_back(i);
    } else if (static_cast<int>(sent.size()) < max_loras_[i]) {
      roomy_.push_back(i);
    }
  }
  return !affine_.empty() ? affine_ : !roomy_.empty() ? roomy_ : serving;
}

bool RouterModule::serves(size_t worker, std::int32_t adapter) const {
  if (adapter < 0) return true;
  const auto& w = entry_by_adapter_.at(static_cast<size_t>(adapter));
  return std::find(w.begin(), w.end(), worker) != w.end();
}

void RouterModule::note_adapter(size_t worker, std::int32_t adapter) {
  auto& sent = sent_adapters_[worker];
  auto it = std::find(sent.begin(), sent.end(), adapter);
  if (it != sent.end()) sent.erase(it);
  else if (static_cast<int>(sent.size()) >= max_loras_[worker]) sent.erase(sent.begin());
  sent.push_back(adapter);
}

bool RouterModule::uses_overlap() const {
  return policy_->uses_overlap() || (prefill_policy_ && prefill_policy_->uses_overlap());
}

RouterModule::Target RouterModule::pick(RouterPolicy& policy, const Request& r, std::int64_t request_blocks,
                                        const std::vector<size_t>& candidates, bool admission) {
  candidate_views_.clear();
  candidate_ids_.clear();
  for (size_t i : candidates) {
    if (!accepting_[i] || (admission && full(i))) continue;
    if (routed_ranks_[i] == 1) {
      candidate_views_.push_back(views_[i]);
      candidate_ids_.push_back({i});
      continue;
    }
    for (std::int32_t k = 0; k < routed_ranks_[i]; ++k) {
      const size_t c = column(i, k);
      WorkerView v = views_[i];
      v.dp_rank = k;
      v.active_seqs = rank_own_[c].active_seqs;
      v.active_tokens = rank_own_[c].active_tokens;
      v.active_blocks = rank_own_[c].active_blocks;
      if (!overlap_.empty()) v.overlap_blocks = overlap_[c];
      if (!host_overlap_.empty()) v.host_overlap_blocks = host_overlap_[c];
      if (!storage_overlap_.empty()) v.storage_overlap_blocks = storage_overlap_[c];
      candidate_views_.push_back(v);
      candidate_ids_.push_back({i, k});
    }
  }
  if (candidate_ids_.empty()) return {workers_.size()};
  const size_t k = policy.choose(r, request_blocks, candidate_views_);
  if (k >= candidate_ids_.size())
    throw InvariantError(fmt::format("router policy chose worker {} of {}", k, candidate_ids_.size()));
  return candidate_ids_[k];
}

void RouterModule::apply_worker_states() {
  worker_states_.drain([&](WorkerStateMsg m) {
    accepting_.at(static_cast<size_t>(m.worker)) = m.state == WorkerStateKind::kReady;
  });
}

void RouterModule::occupy(Target t, std::int64_t tokens) {
  for (WorkerView* v : {&own_[t.worker], routed_ranks_[t.worker] > 1 ? &rank_own_[column(t.worker, t.rank)] : nullptr})
    if (v) {
      ++v->active_seqs;
      v->active_tokens += tokens;
      v->active_blocks += blocks_of(tokens);
    }
}

void RouterModule::vacate(size_t worker, std::int32_t rank, std::int64_t tokens) {
  if (routed_ranks_[worker] > 1 && (rank < 0 || rank >= routed_ranks_[worker]))
    throw InvariantError(fmt::format("router: a request left worker {} from rank {} of {}", worker, rank,
                                     routed_ranks_[worker]));
  for (WorkerView* v : {&own_.at(worker), routed_ranks_[worker] > 1 ? &rank_own_[column(worker, rank)] : nullptr})
    if (v) {
      --v->active_seqs;
      v->active_tokens -= tokens;
      v->active_blocks -= blocks_of(tokens);
    }
}

// Conditional disaggregation: a short uncached prompt, or a long prefill queue, is cheaper to
// prefill where it will be decoded.
bool RouterModule::prefill_locally(const Request& r, Target decode) const {
  const std::int64_t cached = std::min(overlap_at(decode) * block_size_, static_cast<std::int64_t>(r.input_tokens));
  const std::int64_t uncached = static_cast<std::int64_t>(r.input_tokens) - cached;
  if (uncached < cfg_.max_local_prefill_length) return true;
  return cfg_.max_prefill_queue && prefills_outstanding_ > *cfg_.max_prefill_queue;
}

void RouterModule::on_requests() {
  apply_worker_states();
  requests_.drain([&](Request* r) {
    if (admit_rate(r)) hold(r);
    else reject(r, RejectReason::kRateLimited);
  });
  const bool reports = cfg_.load_source == "reports", overlap = uses_overlap();
  for (size_t m = 0; m < pending_.size(); ++m) {
    route_pending(m, reports, overlap);
    // what does not fit the queue is shed: the newest (under priority order, the lowest priority)
    if (cfg_.admission.max_queue)
      while (pending_[m].size() > static_cast<size_t>(*cfg_.admission.max_queue)) {
        Request* r = pending_[m].back();
        pending_[m].pop_back();
        reject(r, RejectReason::kQueueFull);
      }
  }
}

bool RouterModule::admit_rate(Request* r) {
  // an adapter's own bucket when it has one (a tenant's limit), else its model's
  const bool own = r->lora >= 0 && static_cast<size_t>(r->lora) < adapter_buckets_.size() &&
                   adapter_buckets_[static_cast<size_t>(r->lora)];
  auto& bucket = own ? adapter_buckets_[static_cast<size_t>(r->lora)] : buckets_.at(static_cast<size_t>(r->model));
  if (!bucket || r->retries > 0) return true;  // a retry after a worker failure was admitted already
  Bucket& b = *bucket;
  const TimeNs now = now_ns();
  b.tokens = std::min(b.size, b.tokens + b.rate * ns_to_s(now - b.at));
  b.at = now;
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

void RouterModule::hold(Request* r) {
  std::deque<Request*>& q = pending_.at(static_cast<size_t>(r->model));
  if (cfg_.admission.order == "priority") {
    // after every request of the same or a more urgent priority: stable, so arrival order within one
    auto at = std::upper_bound(q.begin(), q.end(), r->priority,
                               [](std::int32_t p, const Request* x) { return p < x->priority; });
    q.insert(at, r);
  } else {
    q.push_back(r);
  }
  if (cfg_.admission.max_wait) timeouts_.send(Timeout{r, r->id, r->retries}, cfg_.admission.max_wait->ns(), 0);
}

void RouterModule::reject(Request* r, RejectReason why) {
  if (!rejects_) throw InvariantError("router: admission control rejected a request but has nowhere to send it");
  r->status = RequestStatus::kRejected;
  r->reject_reason = why;
  r->finish_ns = now_ns();
  ++rejected_;
  rejects_->send(r, 0, 0);
}

void RouterModule::on_timeouts() {
  timeouts_.drain([&](Timeout t) {
    Request* r = t.request;
    if (r->id != t.id || r->retries != t.retries || r->routed_ns >= 0 || r->status != RequestStatus::kInFlight)
      return;  // routed, gone, or held anew
    auto& q = pending_.at(static_cast<size_t>(r->model));
    auto it = std::find(q.begin(), q.end(), r);
    if (it == q.end()) return;
    q.erase(it);
    reject(r, RejectReason::kQueueTimeout);
  });
}

// Each worker's (or routed rank's) prompt blocks on its node's disk or in remote storage after
// its GPU and host hits.
void RouterModule::see_storage_overlaps() {
  storage_overlap_.assign(overlap_.size(), 0);
  for (size_t i = 0; i < workers_.size(); ++i)
    for (std::int32_t k = 0; k < routed_ranks_[i]; ++k) {
      const size_t c = column(i, k);
      const std::int32_t node = storage_node_.at(i);
      const auto from = static_cast<size_t>(overlap_[c] + (host_view_ ? host_overlap_[c] : 0));
      if (node < 0 || from >= keys_.size()) continue;
      storage_overlap_[c] = storage_->peek(node, std::span<const std::uint64_t>(keys_).subspan(from)).blocks();
    }
}

// Routes model m's waiting requests in order until one finds no worker of m accepting.
void RouterModule::route_pending(size_t m, bool reports, bool overlap) {
  std::deque<Request*>& pending = pending_[m];
  while (!pending.empty()) {
    Request* r = pending.front();
    if (overlap) {
      keys_ = prompt_keys(*r, block_size_);
      if (view_) view_->overlaps(keys_, events_in_flight(), overlap_);
      else indexer_.overlaps(keys_, now_ns(), overlap_);
      if (host_view_) host_indexer_.overlaps_from(keys_, now_ns(), overlap_, host_overlap_);
      const bool storage = storage_ && cfg_.storage_overlap_weight > 0;
      if (storage) see_storage_overlaps();
      for (size_t i = 0; i < views_.size(); ++i) {  // a routed worker's own view is its rank 0's (pick() splits it)
        views_[i].overlap_blocks = overlap_[rank_base_[i]];
        if (host_view_) views_[i].host_overlap_blocks = host_overlap_[rank_base_[i]];
        if (storage) views_[i].storage_overlap_blocks = storage_overlap_[rank_base_[i]];
      }
    }
    if (!reports)
      for (size_t i = 0; i < views_.size(); ++i) {
        views_[i].active_seqs = own_[i].active_seqs;
        views_[i].active_tokens = own_[i].active_tokens;
        views_[i].active_blocks = own_[i].active_blocks;
      }
    // a request sent to one worker's own endpoint goes there while it takes requests (the external
    // router that chose it saw it ready); otherwise, like any other, where the policy picks
    // (a routed worker's rank still chosen by the policy)
    const auto pinned = static_cast<size_t>(r->pinned_worker);
    const Target d = r->pinned_worker >= 0 && pinned < workers_.size() && accepting_[pinned] &&
                             roles_[pinned] != WorkerRole::kPrefill && serves(pinned, r->lora)
                         ? (routed_ranks_[pinned] > 1 ? pick(*policy_, *r, blocks_of(r->input_tokens), {pinned})
                                                      : Target{pinned})
                         : r->lora >= 0 ? pick(*policy_, *r, blocks_of(r->input_tokens),
                                               lora_candidates(*r, entry_by_adapter_.at(static_cast<size_t>(r->lora))), true)
                                        : pick(*policy_, *r, blocks_of(r->input_tokens), entry_[m], true);
    if (d.worker == workers_.size()) return;  // no worker takes requests now: wait for one to be ready
    pending.pop_front();
    route(r, d);
  }
}

void RouterModule::route(Request* r, Target d) {
  const TimeNs now = now_ns();
  const bool overlap = uses_overlap();
  const std::int64_t request_blocks = blocks_of(r->input_tokens);
  const std::int64_t tokens = static_cast<std::int64_t>(r->input_tokens) + r->output_tokens;
  occupy(d, tokens);
  ++active_;
  if (r->lora >= 0) note_adapter(d.worker, r->lora);
  r->routed_ns = now;
  r->worker = static_cast<std::int32_t>(d.worker);
  r->dp_rank = d.rank;  // a data-parallel engine choosing its own rank writes it there
  r->prefill_dp_rank = -1;
  Target computes_prompt = d;
  WorkerMsg::Kind kind = WorkerMsg::Kind::kRun;
  if (roles_[d.worker] == WorkerRole::kDecode) {
    const auto& prefill = prefill_[static_cast<size_t>(r->model)];
    const Target p = prefill_locally(*r, d) ? Target{workers_.size()} : pick(*prefill_policy_, *r, request_blocks, prefill);
    if (p.worker == workers_.size()) {  // short or cheap here, a long prefill queue, or no prefill worker serving
      r->route = RequestRoute::kLocalPrefill;
      ++local_prefills_;
    } else {
      occupy(p, r->input_tokens);
      ++prefills_outstanding_;
      ++remote_prefills_;
      r->route = RequestRoute::kRemotePrefill;
      r->prefill_worker = static_cast<std::int32_t>(p.worker);
      r->prefill_dp_rank = p.rank;
      computes_prompt = p;
      kind = WorkerMsg::Kind::kPrefill;
    }
  }
  if (overlap) {
    // what the engine can reuse at most: full blocks, never the prompt's last token
    const std::int64_t cap = (static_cast<std::int64_t>(r->input_tokens) - 1) / block_size_;
    r->expected_cached_tokens = static_cast<std::uint32_t>(std::min(overlap_at(computes_prompt), cap) * block_size_);
    if (cfg_.indexer == "approximate")  // the prompt's KV ends up where it is computed and where it is decoded
      for (std::uint64_t k : keys_)
        for (Target t : {computes_prompt, d})
          indexer_.store(static_cast<std::int32_t>(column(t.worker, t.rank)), k, now + cfg_.approx_ttl.ns());
  }
  workers_[computes_prompt.worker]->send(WorkerMsg{kind, r}, 0, 0);
}

void RouterModule::on_releases() {
  releases_.drain([&](RouteRelease rel) {
    vacate(static_cast<size_t>(rel.worker), rel.dp_rank, rel.tokens);
    if (rel.prefill_only) --prefills_outstanding_;
    else --active_;
    if (on_release_) on_release_(rel.worker);
  });
  if (cfg_.admission.max_inflight_per_worker && pending() > 0) retry_.notify(sc_core::SC_ZERO_TIME);
  if (active_ == 0 && on_idle_) on_idle_();
}

void RouterModule::on_kv_events() {
  kv_events_.drain([&](KvEventBatch&& batch) {
    const auto w = static_cast<size_t>(batch.worker);
    const auto first = static_cast<std::int32_t>(rank_base_[w]);
    const bool by_rank = routed_ranks_[w] > 1;
    if (view_) view_->delivered(first, batch.events);
    else indexer_.apply(first, batch.events, KvEvent::Medium::kGpu, by_rank);
    if (host_view_) host_indexer_.apply(first, batch.events, KvEvent::Medium::kCpu, by_rank);
    kv_events_applied_ += batch.events.size();
  });
}

void RouterModule::on_load_reports() {
  load_reports_.drain([&](LoadReport rep) {
    WorkerView& v = views_.at(static_cast<size_t>(rep.worker));
    v.active_seqs = rep.active_seqs;
    v.active_blocks = rep.active_blocks;
    ++load_reports_applied_;
  });
}

}  // namespace servesim
