#include "models/data_parallel_scheduler.h"

#include <algorithm>
#include <limits>

#include <fmt/format.h>

#include "core/error.h"

namespace servesim {

DataParallelScheduler::DataParallelScheduler(std::vector<std::unique_ptr<EngineScheduler>> ranks, std::string balance)
    : ranks_(std::move(ranks)), balance_(std::move(balance)), batches_(ranks_.size()), planned_(ranks_.size(), 0) {
  if (ranks_.empty()) throw InvariantError("data-parallel engine without ranks");
  if (balance_ != "least_loaded" && balance_ != "round_robin" && balance_ != "prefix_aware" && balance_ != "router")
    throw InvariantError(fmt::format("data-parallel engine: unknown dp_balance '{}'", balance_));
}

size_t DataParallelScheduler::pick_rank(Request& r, bool prefill_only) {
  std::int32_t& rank = prefill_only ? r.prefill_dp_rank : r.dp_rank;
  if (router_picks()) {
    if (rank < 0 || static_cast<size_t>(rank) >= ranks_.size())
      throw InvariantError(fmt::format("data-parallel engine (dp_balance router): request {} came with rank {} of {}",
                                       r.id, rank, ranks_.size()));
    return static_cast<size_t>(rank);
  }
  rank = static_cast<std::int32_t>(pick_own_rank(r));
  return static_cast<size_t>(rank);
}

size_t DataParallelScheduler::pick_own_rank(const Request& r) {
  if (balance_ == "round_robin") return static_cast<size_t>(next_++ % ranks_.size());
  const bool by_prefix = balance_ == "prefix_aware";
  size_t best = 0;
  std::int64_t best_hit = -1, best_score = std::numeric_limits<std::int64_t>::max();
  for (size_t k = 0; k < ranks_.size(); ++k) {
    const std::int64_t hit = by_prefix ? ranks_[k]->cached_prefix_blocks(r) : 0;
    const EngineLoad l = ranks_[k]->load();
    const std::int64_t score = 4 * std::int64_t{l.waiting} + l.running;
    if (hit > best_hit || (hit == best_hit && score < best_score)) {
      best = k;
      best_hit = hit;
      best_score = score;
    }
  }
  return best;
}

int DataParallelScheduler::rank_of(const Request* r) const {
  const auto it = rank_of_.find(r);
  return it == rank_of_.end() ? -1 : static_cast<int>(it->second);
}

EngineScheduler& DataParallelScheduler::holder(const Request* r) const {
  const auto it = rank_of_.find(r);
  if (it == rank_of_.end())
    throw InvariantError(fmt::format("data-parallel engine: request {} is on no rank", r->id));
  return *ranks_[it->second];
}

void DataParallelScheduler::enqueue(Request* r, TimeNs now, EngineJob job) {
  // a request the engine already holds (a disaggregated hand-off reserved on a rank) stays there
  auto [it, fresh] = rank_of_.try_emplace(r, 0);
  if (fresh) it->second = pick_rank(*r, job == EngineJob::kPrefillOnly);
  ranks_[it->second]->enqueue(r, now, job);
}

bool DataParallelScheduler::plan(TimeNs now, BatchShape& batch) {
  batch = {};
  std::int64_t group_tokens = 0;
  bool any = false;
  for (size_t k = 0; k < ranks_.size(); ++k) {
    planned_[k] = ranks_[k]->plan(now, batches_[k]) ? 1 : 0;
    if (!planned_[k]) batches_[k] = {};
    any |= planned_[k] != 0;
    const BatchShape& b = batches_[k];
    batch.prefill_seqs += b.prefill_seqs;
    batch.prefill_tokens += b.prefill_tokens;
    batch.prefill_attention_pairs += b.prefill_attention_pairs;
    batch.decode_seqs += b.decode_seqs;
    batch.decode_context_tokens += b.decode_context_tokens;
    batch.decode_query_tokens = std::max(batch.decode_query_tokens, b.decode_query_tokens);
    group_tokens += b.computed_tokens();
  }
  for (BatchShape& b : batches_) {
    b.moe_group_ranks = static_cast<std::int32_t>(ranks_.size());
    b.moe_group_tokens = group_tokens;
  }
  batch.moe_group_ranks = static_cast<std::int32_t>(ranks_.size());
  batch.moe_group_tokens = group_tokens;
  return any;
}

TimeNs DataParallelScheduler::planned_extra_ns() const {
  TimeNs extra = 0;
  for (size_t k = 0; k < ranks_.size(); ++k)
    if (planned_[k]) extra = std::max(extra, ranks_[k]->planned_extra_ns());
  return extra;
}

void DataParallelScheduler::charge_energy(double joules_per_token) {
  for (auto& r : ranks_) r->charge_energy(joules_per_token);
}

void DataParallelScheduler::complete(TimeNs now, IterationResult& out) {
  out.clear();
  for (size_t k = 0; k < ranks_.size(); ++k) {
    if (!planned_[k]) continue;
    planned_[k] = 0;
    ranks_[k]->complete(now, rank_out_);
    const IterationResult& o = rank_out_;
    out.finished.insert(out.finished.end(), o.finished.begin(), o.finished.end());
    out.prefilled.insert(out.prefilled.end(), o.prefilled.begin(), o.prefilled.end());
    out.itl.insert(out.itl.end(), o.itl.begin(), o.itl.end());
    out.tokens_emitted += o.tokens_emitted;
    out.decode_tokens += o.decode_tokens;
    out.lora_loads += o.lora_loads;
    out.spec_verified_seqs += o.spec_verified_seqs;
    out.spec_draft_tokens += o.spec_draft_tokens;
    out.spec_accepted_tokens += o.spec_accepted_tokens;
    out.kv_offloaded_bytes += o.kv_offloaded_bytes;
    out.kv_onboarded_bytes += o.kv_onboarded_bytes;
    out.kv_onboard_ns = std::max(out.kv_onboard_ns, o.kv_onboard_ns);
  }
  // a finished request leaves its rank; a prefilled one stays until its KV is released
  for (const Request* r : out.finished) rank_of_.erase(r);
}

EngineLoad DataParallelScheduler::load() const {
  EngineLoad sum;
  for (const auto& r : ranks_) {
    const EngineLoad l = r->load();
    sum.waiting += l.waiting;
    sum.running += l.running;
    sum.kv_blocks_used += l.kv_blocks_used;
    sum.kv_blocks_total += l.kv_blocks_total;
    sum.held += l.held;
    sum.incoming += l.incoming;
  }
  return sum;
}

void DataParallelScheduler::lora_adapters(std::vector<std::int32_t>& running, std::vector<std::int32_t>& waiting) const {
  running.clear();
  waiting.clear();
  std::vector<std::int32_t> r, w;
  for (const auto& rank : ranks_) {
    rank->lora_adapters(r, w);
    running.insert(running.end(), r.begin(), r.end());
    waiting.insert(waiting.end(), w.begin(), w.end());
  }
  for (auto* v : {&running, &waiting}) {
    std::sort(v->begin(), v->end());
    v->erase(std::unique(v->begin(), v->end()), v->end());
  }
}

std::vector<Request*> DataParallelScheduler::reset() {
  std::vector<Request*> lost;
  for (auto& r : ranks_) {
    std::vector<Request*> l = r->reset();
    lost.insert(lost.end(), l.begin(), l.end());
  }
  rank_of_.clear();
  std::fill(planned_.begin(), planned_.end(), 0);
  return lost;
}

std::vector<KvEvent> DataParallelScheduler::take_kv_events() {
  std::vector<KvEvent> merged;
  if (!recording_) return merged;
  if (router_picks()) {  // the router indexes each rank: every rank's events, told apart
    for (size_t k = 0; k < ranks_.size(); ++k)
      for (KvEvent e : ranks_[k]->take_kv_events()) {
        e.dp_rank = static_cast<std::int16_t>(k);
        merged.push_back(e);
      }
    return merged;
  }
  for (auto& rank : ranks_)
    for (const KvEvent& e : rank->take_kv_events()) {
      if (e.kind == KvEvent::Kind::kCleared) {  // the whole engine restarts (reset())
        for (auto& h : holders_) h.clear();
        if (merged.empty() || merged.back().kind != KvEvent::Kind::kCleared) merged.push_back(e);
        continue;
      }
      auto& held = holders_[e.medium == KvEvent::Medium::kGpu ? 0 : 1];
      if (e.kind == KvEvent::Kind::kStored) {
        if (held[e.key]++ == 0) merged.push_back(e);
      } else if (auto it = held.find(e.key); it != held.end() && --it->second == 0) {
        held.erase(it);
        merged.push_back(e);
      }
    }
  return merged;
}

void DataParallelScheduler::record_kv_events(bool on) {
  recording_ = on;
  for (auto& r : ranks_) r->record_kv_events(on);
}

std::vector<std::uint64_t> DataParallelScheduler::cached_block_keys() const {
  std::vector<std::uint64_t> keys;
  for (const auto& r : ranks_) {
    std::vector<std::uint64_t> k = r->cached_block_keys();
    keys.insert(keys.end(), k.begin(), k.end());
  }
  return keys;
}

void DataParallelScheduler::progress(std::vector<TokenProgress>& out) const {
  for (const auto& r : ranks_) r->progress(out);
}

bool DataParallelScheduler::abort(Request* r) {
  const auto it = rank_of_.find(r);
  if (it == rank_of_.end() || !ranks_[it->second]->abort(r)) return false;
  rank_of_.erase(it);
  return true;
}

bool DataParallelScheduler::supports_disaggregation() const { return ranks_.front()->supports_disaggregation(); }

std::optional<std::int64_t> DataParallelScheduler::reserve(Request* r, TimeNs now) {
  // retried until room frees up: the rank is chosen once
  auto [it, fresh] = rank_of_.try_emplace(r, 0);
  if (fresh) it->second = pick_rank(*r, false);
  return ranks_[it->second]->reserve(r, now);
}

void DataParallelScheduler::land(Request* r, TimeNs now) { holder(r).land(r, now); }

void DataParallelScheduler::release_prefilled(Request* r) {
  holder(r).release_prefilled(r);
  rank_of_.erase(r);
}

void DataParallelScheduler::completing_prefills(std::vector<Request*>& out) const {
  out.clear();
  std::vector<Request*> some;
  for (size_t k = 0; k < ranks_.size(); ++k) {
    if (!planned_[k]) continue;
    ranks_[k]->completing_prefills(some);
    out.insert(out.end(), some.begin(), some.end());
  }
}

void DataParallelScheduler::take_fetches(std::vector<StorageFetch>& out) {
  out.clear();
  for (auto& rank : ranks_) {
    rank->take_fetches(rank_fetches_);
    out.insert(out.end(), rank_fetches_.begin(), rank_fetches_.end());
  }
}

void DataParallelScheduler::fetched(Request* r, TimeNs now) {
  if (const int k = rank_of(r); k >= 0) ranks_[static_cast<size_t>(k)]->fetched(r, now);
}

std::unique_ptr<EngineScheduler> make_engine_scheduler(const SchedulerContext& ctx) {
  const int n = ctx.pool.attention_dp;
  if (n <= 1) return SchedulerRegistry::instance().create(ctx.pool.engine.scheduler, ctx);
  std::vector<std::unique_ptr<EngineScheduler>> ranks;
  for (int k = 0; k < n; ++k) {
    SchedulerContext rank = ctx;
    if (k > 0) rank.seed = ctx.seed ^ (0x9E3779B97F4A7C15ULL * static_cast<std::uint64_t>(k));
    ranks.push_back(SchedulerRegistry::instance().create(ctx.pool.engine.scheduler, rank));
  }
  return std::make_unique<DataParallelScheduler>(std::move(ranks), ctx.pool.engine.dp_balance);
}

}  // namespace servesim
