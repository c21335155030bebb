#include "router/router_module.h"

namespace servesim {

RouterModule::RouterModule(sc_core::sc_module_name name, const RouterConfig& cfg, std::unique_ptr<RouterPolicy> policy,
                           std::int32_t block_size, TimedChannel<Request*>& requests,
                           TimedChannel<RouteRelease>& releases, std::vector<TimedChannel<Request*>*> workers)
    : sc_core::sc_module(name),
      cfg_(cfg),
      policy_(std::move(policy)),
      block_size_(block_size),
      requests_(requests),
      releases_(releases),
      workers_(std::move(workers)),
      indexer_(static_cast<std::int32_t>(workers_.size())) {
  for (size_t i = 0; i < workers_.size(); ++i) own_.push_back(WorkerView{static_cast<std::int32_t>(i), 0, 0, 0, 0});
  views_ = own_;
  SC_METHOD(on_requests);
  sensitive << requests_.event();
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

void RouterModule::on_requests() {
  const TimeNs now = now_ns();
  const bool reports = cfg_.load_source == "reports";
  requests_.drain([&](Request* r) {
    std::vector<std::uint64_t> keys;
    if (policy_->uses_overlap())
      keys = prompt_block_keys(r->hash_ids, r->hash_block_tokens, r->input_tokens, block_size_);
    if (policy_->uses_overlap()) {
      indexer_.overlaps(keys, now, overlap_);
      for (size_t i = 0; i < views_.size(); ++i) views_[i].overlap_blocks = overlap_[i];
    }
    if (!reports)
      for (size_t i = 0; i < views_.size(); ++i) {
        views_[i].active_seqs = own_[i].active_seqs;
        views_[i].active_tokens = own_[i].active_tokens;
        views_[i].active_blocks = own_[i].active_blocks;
      }
    const std::int64_t request_blocks = blocks_of(r->input_tokens);
    size_t i = policy_->choose(*r, request_blocks, views_);
    if (i >= views_.size())
      throw InvariantError(fmt::format("router policy chose worker {} of {}", i, views_.size()));
    WorkerView& v = own_[i];
    const std::int64_t tokens = static_cast<std::int64_t>(r->input_tokens) + r->output_tokens;
    ++v.active_seqs;
    v.active_tokens += tokens;
    v.active_blocks += blocks_of(tokens);
    ++active_;
    if (policy_->uses_overlap()) {
      // what the engine can reuse at most: full blocks, never the prompt's last token
      const std::int64_t cap = (static_cast<std::int64_t>(r->input_tokens) - 1) / block_size_;
      r->expected_cached_tokens = static_cast<std::uint32_t>(std::min(views_[i].overlap_blocks, cap) * block_size_);
    }
    if (cfg_.indexer == "approximate" && policy_->uses_overlap())
      for (std::uint64_t k : keys) indexer_.store(v.worker_id, k, now + cfg_.approx_ttl.ns());
    r->routed_ns = now;
    r->worker = v.worker_id;
    workers_[i]->send(r, 0, 0);
  });
}

void RouterModule::on_releases() {
  releases_.drain([&](RouteRelease rel) {
    WorkerView& v = own_.at(static_cast<size_t>(rel.worker));
    --v.active_seqs;
    v.active_tokens -= rel.tokens;
    v.active_blocks -= blocks_of(rel.tokens);
    --active_;
  });
  if (active_ == 0 && on_idle_) on_idle_();
}

void RouterModule::on_kv_events() {
  kv_events_.drain([&](KvEventBatch&& batch) {
    for (const KvEvent& e : batch.events) {
      switch (e.kind) {
        case KvEvent::Kind::kStored: indexer_.store(batch.worker, e.key); break;
        case KvEvent::Kind::kRemoved: indexer_.remove(batch.worker, e.key); break;
        case KvEvent::Kind::kCleared: indexer_.clear(batch.worker); break;
      }
      ++kv_events_applied_;
    }
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
