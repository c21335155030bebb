// "vllm": continuous batching modelled on vLLM's V1 scheduler; "sglang": the same engine with
// SGLang's defaults (unmixed prefill/decode iterations, longest-prefix-match admission).
//
// Each iteration: every decoding sequence gets one token; the remaining token budget
// (max_num_batched_tokens - decodes) goes to prefill chunks, first of running prefills, then of
// newly admitted requests (FCFS, or by priority), while sequences < max_num_seqs and the KV cache
// has room above the watermark. Admission reuses the longest resident prefix of the prompt's
// block chain (the last prompt token is always computed). When a running sequence needs a block
// and none is free, the newest running sequence (lowest priority first under `priority`) is
// preempted by recompute: its blocks are freed and it re-enters the queue at its place, later
// re-prefilling its prompt and the tokens it had produced.
//
// Under memory pressure the "sglang" style does what SGLang's scheduler does: admission is
// conservative (a request is admitted only when its whole remaining prompt plus its clipped output
// fits beside what the running requests are estimated to still need, their remaining outputs
// weighted by new_token_ratio), and a decode step that finds no free block retracts decoding
// requests (fewest output tokens first, longest prompt among ties), which keep their cached
// prefix and re-enter the queue; new_token_ratio then rises to what the survivors imply and
// decays again step by step. Constants are SGLang's defaults (kSg* below).
//
// Speculative decoding (pools[].speculative, models/speculative.h): each decoding sequence
// verifies its k draft tokens and emits 1 to k + 1 tokens a step, drawn for it alone; its KV
// holds k lookahead slots beyond them.
//
// Cost: a plain decode step is O(1). A decoding sequence's token count is implicit (e0 + the
// steps since s0; with speculation, its own draws' tokens after those steps); the steps at which
// it finishes or crosses a block boundary sit in min-heaps (stale entries skipped by a generation
// number); the decode context sum is an aggregate (with speculation, kept per step by StepTokens).
// Only prefilling sequences, finishes, block boundaries and preemptions cost work, and with
// speculation each sequence's draws, once per step it will decode.
#include <algorithm>
#include <optional>
#include <queue>
#include <set>
#include <unordered_map>

#include "models/engine_scheduler.h"

namespace servesim {
namespace {

// What distinguishes the scheduler policies built on this engine.
struct SchedulerStyle {
  bool mixed_batches = true;  // vLLM: decodes and prefill chunks share an iteration
  bool longest_prefix_first = false;  // SGLang's LPM: admit the longest cached prefix first
  bool retract_decodes = false;       // SGLang: conservative admission, retraction under pressure
};

// SGLang's defaults (python/sglang/srt/managers/scheduler.py and global_config.py): init ratio
// 0.7, minimum 0.7 x 0.14, decayed to it over 600 decode steps; output estimates clipped at 4096
// tokens; a retraction assumes 20 more steps for the survivors.
constexpr double kSgInitRatio = 0.7, kSgMinRatio = 0.7 * 0.14, kSgDecaySteps = 600;
constexpr std::int64_t kSgClipOutputTokens = 4096, kSgRetractSteps = 20;

class VllmScheduler final : public EngineScheduler {
 public:
  VllmScheduler(const SchedulerContext& ctx, SchedulerStyle style)
      : style_(style),
        cfg_(ctx.pool.engine),
        worker_(ctx.worker_id),
        spec_(ctx.speculative),
        lookahead_(spec_ ? spec_->draft_tokens() : 0),
        spec_seed_(spec_ ? make_rng(ctx.seed, fmt::format("speculative.worker{}", ctx.worker_id))() : 0),
        block_(cfg_.block_size),
        state_blocks_(ctx.state_blocks),
        cache_(ctx.kv_blocks, cfg_.block_size),
        lora_costs_(ctx.lora),
        lora_(ctx.lora.max_loras, ctx.lora.load_ns.size()),
        watermark_blocks_(static_cast<std::int64_t>(cfg_.watermark * static_cast<double>(ctx.kv_blocks))),
        fifo_preemption_(cfg_.preemption == "fifo"),
        no_evict_(cfg_.capacity_policy == "guaranteed_no_evict"),
        full_prompt_admission_(cfg_.admission == "full_prompt"),
        host_(ctx.offload.host_blocks),
        offload_(ctx.offload),
        storage_(ctx.offload.host_blocks > 0 && ctx.storage_node >= 0 ? ctx.storage : nullptr),
        storage_node_(ctx.storage_node) {
    connect_host_tier();
    if (storage_) host_.send_evicted_to(storage_->below_host(storage_node_));
    host_.record_events(record_events_);
  }

  void enqueue(Request* r, TimeNs, EngineJob job) override {
    const bool prefill_only = job == EngineJob::kPrefillOnly;
    check_fits(r, prefill_only ? 0 : r->output_tokens);
    if (r->lora >= 0 && (static_cast<size_t>(r->lora) >= lora_costs_.load_ns.size() ||
                         lora_costs_.load_ns[static_cast<size_t>(r->lora)] < 0))
      throw InvariantError(fmt::format("worker {}: request {} names LoRA adapter {}, which it does not serve", worker_,
                                       r->id, r->lora));
    Seq* s = alloc_seq(r);
    s->prefill_only = prefill_only;
    s->order = next_order_++;
    s->prio = cfg_.policy == "priority" ? r->priority : 0;
    s->target = r->input_tokens;
    if (cfg_.enable_prefix_caching)
      s->keys = prompt_keys(*r, block_);
    s->state = Seq::kWaiting;
    waiting_.insert(key(s));
  }

  bool plan(TimeNs now, BatchShape& batch) override {
    batch = {};
    extra_ns_ = 0;
    planned_lora_loads_ = 0;
    planned_onboarded_ = 0;
    planned_onboard_ns_ = 0;
    // the blocks whose copies this iteration waits for under write_back: blocking: those its
    // allocations evict, or, stored as computed, those computed since the last charge
    const std::uint64_t written_before = offload_.store_on_compute ? write_charged_ : host_.stored();
    const std::int64_t s = step_;  // the index of the next iteration that runs the decodes
    // O(running): paid only when a request waits to be admitted
    if (style_.retract_decodes && !waiting_.empty()) reserved_tokens_ = reserved_by_running(s);
    retracted_ = false;
    if (storage_) fetch_waiting_heads(now);
    // Unmixed (SGLang): an iteration is all prefill when some prefill can run, else all decode.
    run_decodes_ = style_.mixed_batches || !prefill_possible();
    // 1. decodes crossing a block boundary at this step get their block (preempting if needed)
    while (run_decodes_ && !boundaries_.empty() && boundaries_.top().step <= s) {
      HeapEntry e = boundaries_.top();
      boundaries_.pop();
      if (!e.valid()) continue;
      Seq* q = e.seq;
      if (!grow_to(q, context_at(q, s) + lookahead_)) continue;  // q itself was preempted
      push_boundary(q);
    }
    if (retracted_) raise_new_token_ratio(s);
    std::int64_t budget = cfg_.max_num_batched_tokens - (run_decodes_ ? n_decoding_ : 0);
    if (!style_.mixed_batches && run_decodes_) budget = 0;
    // 2. running prefills continue, oldest first
    for (Seq* q : prefilling_) {
      q->chunk = 0;
      if (budget <= 0) continue;
      std::int64_t chunk = std::min(q->target - q->computed, budget);
      if (!cfg_.enable_chunked_prefill && chunk < q->target - q->computed) continue;
      if (!grow_to(q, q->computed + chunk)) continue;
      q->chunk = chunk;
      budget -= chunk;
    }
    drop_preempted_prefills();
    planned_decodes_ = run_decodes_ ? n_decoding_ : 0;  // admission below never preempts
    // the sequences that entered decoding since the last decoding iteration and decode in this one
    planned_entrants_.clear();
    if (planned_decodes_ > 0) {
      for (auto [q, gen] : entrants_)
        if (q->gen == gen && q->state == Seq::kDecode) planned_entrants_.push_back(q->last_token_ns);
      entrants_.clear();
    }
    // 3. sequences whose KV arrived compute the prompt's last token (they hold their blocks)
    while (budget > 0 && !landed_.empty() && running_.size() < static_cast<size_t>(cfg_.max_num_seqs)) {
      Seq* q = landed_.front();
      landed_.pop_front();
      q->chunk = q->target - q->computed;
      q->state = Seq::kPrefill;
      prefilling_.push_back(q);
      running_.insert(key(q));
      budget -= q->chunk;
    }
    // 4. admit waiting requests (guaranteed_no_evict: O(running), paid only when some wait)
    if (no_evict_ && !waiting_.empty()) reserved_blocks_ = blocks_still_needed();
    while (budget > 0 && !waiting_.empty() && running_.size() < static_cast<size_t>(cfg_.max_num_seqs)) {
      Seq* q = next_waiting();
      if (!q) break;  // every waiting request's adapter would exceed max_loras
      if (storage_ && start_fetch(q, now)) continue;
      // FCFS: when the head cannot be admitted, nothing behind it jumps the queue
      std::optional<Admission> a = plan_admission(q, budget, !batch_has_prefill());
      if (!a) break;
      const std::int64_t cached_blocks = a->cached_blocks, chunk = a->chunk;
      const std::int64_t cached = (cached_blocks + a->host_blocks) * block_;  // what it need not compute
      waiting_.erase(key(q));
      lora_start(q);
      if (no_evict_) reserved_blocks_ += final_blocks(q) - cached_blocks - a->fresh;
      if (style_.retract_decodes) reserved_tokens_ += future_tokens(q, cached, q->req->tokens_emitted);
      for (KvCache::BlockId b : prefix_hits(cached_blocks)) q->blocks.push_back(cache_.acquire(b));
      TimeNs onboard_ns = 0;
      if (a->host_blocks > 0) {
        // the iteration waits for the copy, as vLLM's offloading connector loads before the pass;
        // made the most recent first, so the blocks its allocation evicts cannot push them out
        host_.match(std::span<const std::uint64_t>(q->keys).subspan(static_cast<size_t>(cached_blocks),
                                                                    static_cast<size_t>(a->host_blocks)));
        onboard_ns = offload_.copy_ns(a->host_blocks);
        extra_ns_ += onboard_ns;
        planned_onboard_ns_ += onboard_ns;
        planned_onboarded_ += static_cast<std::int32_t>(a->host_blocks);
      }
      cache_.allocate(a->fresh, q->blocks);
      q->computed = cached;
      q->registered = cached_blocks;  // the loaded blocks register with its first chunk
      if (q->req->scheduled_ns < 0) {
        q->req->scheduled_ns = now;
        q->req->cached_tokens = static_cast<std::uint32_t>(cached);
        q->req->offloaded_tokens = static_cast<std::uint32_t>(a->host_blocks * block_);
        q->req->onboard_ns = onboard_ns;
      }
      q->chunk = chunk;
      q->state = Seq::kPrefill;
      prefilling_.push_back(q);
      running_.insert(key(q));
      budget -= chunk;
    }
    for (Seq* q : prefilling_) {
      if (q->chunk == 0) continue;
      batch.prefill_seqs += 1;
      batch.prefill_tokens += q->chunk;
      const double c = static_cast<double>(q->chunk);
      batch.prefill_attention_pairs += c * static_cast<double>(q->computed) + c * (c + 1) / 2;
    }
    batch.decode_seqs = static_cast<std::int32_t>(planned_decodes_);
    batch.decode_context_tokens = planned_decodes_ ? decode_base_sum_ + (spec_ ? spec_decoded_sum_ : n_decoding_ * s) : 0;
    extra_ns_ += running_lora_read_ns_;
    // blocking write-back: the blocks it evicted are overwritten only once copied out
    if (const std::uint64_t written = host_.stored() - written_before; written > 0 && offload_.blocking_write_back)
      extra_ns_ += offload_.copy_ns(static_cast<std::int64_t>(written));
    write_charged_ = host_.stored();
    if (spec_) {
      if (planned_decodes_ > 0) batch.decode_query_tokens = 1 + lookahead_;
      extra_ns_ += spec_->draft_ns(batch);
    }
    return !batch.empty();
  }

  TimeNs planned_extra_ns() const override { return extra_ns_; }

  void charge_energy(double joules_per_token) override { joules_per_token_ = joules_per_token; }

  void complete(TimeNs now, IterationResult& out) override {
    out.clear();
    const std::int64_t s = step_;
    out.lora_loads = planned_lora_loads_;
    // blocks written back since the last report (evicted here, or by a reservation between iterations)
    out.kv_offloaded_bytes = static_cast<double>(host_.stored() - offload_reported_) * offload_.block_bytes;
    offload_reported_ = host_.stored();
    out.kv_onboarded_bytes = planned_onboarded_ * offload_.block_bytes;
    out.kv_onboard_ns = planned_onboard_ns_;
    // tokens the decoding sequences emit this step (one each without speculation), before the
    // caps of the ones that reach their last token
    const std::int64_t decoded = spec_ && planned_decodes_ > 0 ? step_tokens_.at(s) : planned_decodes_;
    out.tokens_emitted = static_cast<std::int32_t>(decoded);
    out.decode_tokens = out.tokens_emitted;
    if (spec_ && planned_decodes_ > 0) {
      out.spec_verified_seqs = static_cast<std::int32_t>(planned_decodes_);
      out.spec_accepted_tokens = static_cast<std::int32_t>(decoded - planned_decodes_);
      out.spec_draft_tokens = static_cast<std::int32_t>(planned_decodes_ * lookahead_);
    }
    if (planned_decodes_ > 0) {
      // each decoding sequence computed 1 + lookahead tokens: its share, taken when it leaves
      decode_energy_j_ += joules_per_token_ * static_cast<double>(1 + lookahead_);
      // a sequence that decoded in the previous decoding iteration had its last token then; one
      // that entered decoding since (first token, or the token after a recompute), at that token
      const auto old = static_cast<std::int32_t>(planned_decodes_ - static_cast<std::int64_t>(planned_entrants_.size()));
      if (old > 0) add_gap(out, now - last_decode_end_ns_, old);
      for (TimeNs t : planned_entrants_) add_gap(out, now - t, 1);
      last_decode_end_ns_ = now;
    }
    while (planned_decodes_ > 0 && !finishes_.empty() && finishes_.top().step <= s) {
      HeapEntry e = finishes_.top();
      finishes_.pop();
      if (!e.valid()) continue;
      Seq* q = e.seq;
      leave_decoding(q, s + 1);
      // its last step may accept more draft tokens than it has left to produce
      const auto over = static_cast<std::int32_t>(std::int64_t{q->req->tokens_emitted} - q->output_tokens);
      if (over > 0) {
        q->req->tokens_emitted = static_cast<std::uint32_t>(q->output_tokens);
        out.tokens_emitted -= over;
        out.decode_tokens -= over;  // (spec_accepted_tokens counts what verification accepted)
      }
      finish(q, now, out);
    }
    size_t keep = 0;
    for (Seq* q : prefilling_) {
      if (q->chunk > 0) {
        q->req->energy_j += joules_per_token_ * static_cast<double>(q->chunk);
        q->computed += q->chunk;
        q->chunk = 0;
        register_prompt_blocks(q);
        if (q->computed == q->target) {
          Request* r = q->req;
          if (q->prefill_only) {  // the token it computed is dropped: the decode worker makes its own
            r->prefill_end_ns = now;
            q->state = Seq::kHeld;
            running_.erase(key(q));
            parked_.emplace(r, q);
            ++held_;
            out.prefilled.push_back(r);
            continue;
          }
          const bool first = r->tokens_emitted == 0;
          ++r->tokens_emitted;
          ++out.tokens_emitted;
          if (first) {
            r->first_token_ns = now;
            if (r->prefill_end_ns < 0) r->prefill_end_ns = now;
          } else {
            ++out.decode_tokens;  // the token after a recompute is a decode token, after the stall
            add_gap(out, now - q->last_token_ns, 1);
          }
          q->last_token_ns = now;
          if (r->tokens_emitted == r->output_tokens) {
            finish(q, now, out);
          } else {
            enter_decoding(q, planned_decodes_ > 0 ? s + 1 : s);
          }
          continue;
        }
      }
      prefilling_[keep++] = q;
    }
    prefilling_.resize(keep);
    if (planned_decodes_ > 0) {
      ++step_;  // the decode clock moves only when decodes ran
      if (spec_) {
        spec_decoded_sum_ += step_tokens_.at(s);
        step_tokens_.forget_before(step_);
      }
      if (style_.retract_decodes && !retracted_)
        new_token_ratio_ = std::max(kSgMinRatio, new_token_ratio_ - (kSgInitRatio - kSgMinRatio) / kSgDecaySteps);
    }
  }

  EngineLoad load() const override {
    return {static_cast<std::int32_t>(waiting_.size() + landed_.size() + fetching_.size()),
            static_cast<std::int32_t>(running_.size()),
            cache_.used_blocks(), cache_.num_blocks(), held_, incoming_};
  }

  void lora_adapters(std::vector<std::int32_t>& running, std::vector<std::int32_t>& waiting) const override {
    running.clear();
    waiting.clear();
    auto collect = [](const std::set<Key>& seqs, std::vector<std::int32_t>& out) {
      for (const auto& [k, q] : seqs)
        if (q->lora >= 0 && std::find(out.begin(), out.end(), q->lora) == out.end()) out.push_back(q->lora);
      std::sort(out.begin(), out.end());
    };
    collect(running_, running);
    collect(waiting_, waiting);
  }

  bool supports_disaggregation() const override { return true; }

  std::optional<std::int64_t> reserve(Request* r, TimeNs) override {
    check_fits(r, r->output_tokens);
    std::vector<std::uint64_t> keys;
    if (cfg_.enable_prefix_caching)
      keys = prompt_keys(*r, block_);
    // every prompt token's KV is needed here, so any full cached block saves its transfer
    const std::int64_t hit = keys.empty() ? 0 : cache_.match_prefix(keys, &hits_);
    const std::int64_t cached_blocks = std::min<std::int64_t>(hit, r->input_tokens / block_);
    const std::int64_t fresh = blocks_for(r->input_tokens) - cached_blocks + state_blocks_;
    const std::int64_t free_after = cache_.free_blocks() - cache_.evictable(prefix_hits(cached_blocks)) - fresh;
    if (free_after < 0 || (free_after < watermark_blocks_ && !running_.empty())) return std::nullopt;
    Seq* q = alloc_seq(r);
    q->prio = cfg_.policy == "priority" ? r->priority : 0;
    q->keys = std::move(keys);
    for (KvCache::BlockId b : prefix_hits(cached_blocks)) q->blocks.push_back(cache_.acquire(b));
    cache_.allocate(fresh, q->blocks);
    q->registered = cached_blocks;
    q->state = Seq::kIncoming;
    parked_.emplace(r, q);
    ++incoming_;
    return fresh;
  }

  void land(Request* r, TimeNs) override {
    Seq* q = take_parked(r, Seq::kIncoming);
    --incoming_;
    q->order = next_order_++;
    q->target = r->input_tokens;
    q->computed = q->target - 1;
    register_prompt_blocks(q);
    landed_.push_back(q);
  }

  void completing_prefills(std::vector<Request*>& out) const override {
    out.clear();
    for (const Seq* q : prefilling_)
      if (q->prefill_only && q->chunk > 0 && q->computed + q->chunk == q->target) out.push_back(q->req);
  }

  void release_prefilled(Request* r) override {
    Seq* q = take_parked(r, Seq::kHeld);
    --held_;
    release_blocks(q);
    q->state = Seq::kDone;
    free_seqs_.push_back(q);
  }

  std::vector<KvEvent> take_kv_events() override {
    std::vector<KvEvent> events = cache_.take_events();
    if (host_.capacity_blocks() > 0) {  // the host tier's after the GPU's: the router keeps a view of each
      std::vector<KvEvent> host = host_.take_events();
      events.insert(events.end(), host.begin(), host.end());
    }
    if (cleared_) events.insert(events.begin(), KvEvent{.kind = KvEvent::Kind::kCleared, .key = 0});
    cleared_ = false;
    return events;
  }

  void record_kv_events(bool on) override {
    record_events_ = on;
    cache_.record_events(on);
    host_.record_events(on);
  }

  std::vector<std::uint64_t> cached_block_keys() const override { return cache_.resident_keys(); }
  const KvCache* prefix_cache() const override { return &cache_; }
  std::int64_t cached_prefix_blocks(const Request& r) const override {
    if (!cfg_.enable_prefix_caching) return 0;
    return cache_.match_prefix(prompt_keys(r, block_));
  }

  void progress(std::vector<TokenProgress>& out) const override {
    for (const auto& [k, q] : running_)
      out.push_back({q->req, q->state == Seq::kDecode ? static_cast<std::uint32_t>(emitted_at(q, step_))
                                                      : q->req->tokens_emitted});
  }

  void take_fetches(std::vector<StorageFetch>& out) override {
    out.clear();
    out.swap(fetches_);
  }

  void fetched(Request* r, TimeNs now) override {
    auto it = fetching_.find(r);
    if (it == fetching_.end()) return;  // the engine restarted since: the request left with it
    Seq* q = it->second;
    fetching_.erase(it);
    // staged into host memory (the most recent there), from where admission loads them
    for (std::int64_t i = 0; i < q->fetch_blocks; ++i) host_.fill(q->keys[static_cast<size_t>(q->fetch_from + i)]);
    r->fetch_ns = now - q->fetch_start_ns;
    q->state = Seq::kWaiting;
    waiting_.insert(key(q));
  }

  // Called between iterations only (the worker defers it while one runs), so no planned batch
  // refers to q. A prefill-only job, a held or incoming KV hand-off, or a landed sequence stays:
  // the fabric owns those steps; the request is dropped once it waits or runs on its decode worker.
  bool abort(Request* r) override {
    Seq* q = nullptr;
    for (const auto* set : {&waiting_, &running_})
      for (const auto& [k, s] : *set)
        if (s->req == r) q = s;
    // waiting for kv_storage: it leaves now, and its fetch's arrival finds nothing
    if (auto it = fetching_.find(r); !q && it != fetching_.end()) {
      q = it->second;
      fetching_.erase(it);
    }
    if (!q || q->prefill_only) return false;
    if (q->state == Seq::kDecode) leave_decoding(q, step_);
    if (running_.count(key(q))) lora_stop(q);
    if (auto it = std::find(prefilling_.begin(), prefilling_.end(), q); it != prefilling_.end()) prefilling_.erase(it);
    waiting_.erase(key(q));
    running_.erase(key(q));
    ++q->gen;  // its heap entries go stale
    release_blocks(q);
    q->state = Seq::kDone;
    free_seqs_.push_back(q);
    return true;
  }

  std::vector<Request*> reset() override {
    std::vector<Request*> out;
    free_seqs_.clear();
    for (Seq& q : seq_pool_) {
      if (q.state != Seq::kDone && q.req) out.push_back(q.req);
      q.state = Seq::kDone;
      ++q.gen;
      q.blocks.clear();
      free_seqs_.push_back(&q);
    }
    waiting_.clear();
    running_.clear();
    prefilling_.clear();
    landed_.clear();
    parked_.clear();
    fetching_.clear();
    fetches_.clear();  // their arrivals find no request waiting for them
    held_ = incoming_ = 0;
    finishes_ = MinHeap();
    boundaries_ = MinHeap();
    n_decoding_ = decode_base_sum_ = planned_decodes_ = spec_decoded_sum_ = 0;
    step_tokens_.clear();
    last_decode_end_ns_ = -1;
    entrants_.clear();
    planned_entrants_.clear();
    lora_ = LoraSlots(lora_costs_.max_loras, lora_costs_.load_ns.size());
    running_lora_read_ns_ = 0;
    cache_ = KvCache(cache_.num_blocks(), block_);
    cache_.record_events(record_events_);
    host_.clear();  // the engine's process restarts: its host memory too
    connect_host_tier();
    cleared_ = true;
    return out;
  }

 private:
  struct Seq {
    Request* req = nullptr;
    std::uint64_t order = 0;
    std::int32_t prio = 0;
    enum State { kWaiting, kPrefill, kDecode, kDone, kHeld, kIncoming, kFetching } state = kWaiting;
    bool fetched = false;        // kv_storage: its prompt was fetched once (it does not wait twice)
    std::int64_t fetch_from = 0, fetch_blocks = 0;  // kFetching: the keys coming into host memory
    TimeNs fetch_start_ns = 0;
    bool prefill_only = false;
    std::vector<KvCache::BlockId> blocks;
    std::vector<std::uint64_t> keys;  // prompt block chain keys
    std::int64_t target = 0;          // tokens to compute before the next token
    std::int64_t computed = 0;
    std::int64_t registered = 0;      // prompt blocks registered in the cache
    std::int64_t chunk = 0;           // prefill tokens planned for this iteration
    std::int64_t s0 = 0;              // decoding since step s0: emitted = e0 + tokens in its steps since
    std::int64_t e0 = 0;
    SequenceDraws draws;              // with speculation: its tokens after each step since s0
    double energy0_j = 0;             // decoding: the worker's decode energy per sequence when it started
    std::int64_t finish_step = 0;     // decoding: the step that emits its last token
    std::uint32_t gen = 0;
    // the request's lengths, read on every block boundary: kept here, beside the rest, so the
    // decode path does not touch the Request
    std::int64_t input_tokens = 0, output_tokens = 0;
    std::int32_t lora = -1;  // its LoRA adapter (Request::lora)
    TimeNs last_token_ns = -1;  // when it emitted its latest token outside a decoding step (ITL)
  };
  using Key = std::pair<std::pair<std::int32_t, std::uint64_t>, Seq*>;
  static Key key(Seq* q) { return {{q->prio, q->order}, q}; }

  struct HeapEntry {
    std::int64_t step;
    std::uint64_t order;
    std::uint32_t gen;
    Seq* seq;
    bool valid() const { return seq->gen == gen && seq->state == Seq::kDecode; }
    bool operator>(const HeapEntry& o) const { return step != o.step ? step > o.step : order > o.order; }
  };
  using MinHeap = std::priority_queue<HeapEntry, std::vector<HeapEntry>, std::greater<HeapEntry>>;

  std::int64_t blocks_for(std::int64_t tokens) const { return (tokens + block_ - 1) / block_; }

  void check_fits(const Request* r, std::int64_t output_tokens) const {
    // a decoding sequence also holds its draft tokens' lookahead slots
    const std::int64_t need =
        blocks_for(static_cast<std::int64_t>(r->input_tokens) + output_tokens + (output_tokens > 0 ? lookahead_ : 0)) +
        state_blocks_;
    if (need > cache_.num_blocks())
      throw InputError(fmt::format(
          "request {} ({} prompt + {} output tokens) needs {} KV blocks but worker {} has {}. Fix: give the pool "
          "more GPU memory (tp, gpu, gpu_memory_utilization or engine.num_gpu_blocks), or cap the trace's lengths",
          r->id, r->input_tokens, output_tokens, need, worker_, cache_.num_blocks()));
  }

  Seq* take_parked(Request* r, Seq::State expected) {
    auto it = parked_.find(r);
    if (it == parked_.end() || it->second->state != expected)
      throw InvariantError(fmt::format("worker {}: request {} is not {} here", worker_, r->id,
                                       expected == Seq::kHeld ? "held for a transfer" : "expecting a transfer"));
    Seq* q = it->second;
    parked_.erase(it);
    return q;
  }
  // KV slots a decoding sequence needs at step s: its prompt and every token it has emitted.
  std::int64_t context_at(const Seq* q, std::int64_t s) const { return q->input_tokens + emitted_at(q, s); }
  // Output tokens a decoding sequence has emitted before step s.
  std::int64_t emitted_at(const Seq* q, std::int64_t s) const { return q->e0 + decoded(q, s - q->s0); }
  // Tokens a decoding sequence emits in its first j steps (uncapped).
  std::int64_t decoded(const Seq* q, std::int64_t j) const { return spec_ ? q->draws.tokens(j) : j; }
  // The next request to admit: the queue's head, or under LPM (small queues, as SGLang does)
  // the one with the longest resident prefix; with LoRA, of the requests whose adapter may join
  // the batch (nullptr if none: vLLM skips the others and looks further down the queue).
  Seq* next_waiting() const {
    const bool lpm = style_.longest_prefix_first && waiting_.size() <= kLpmMaxQueue;
    if (!lpm && !lora_costs_.enabled()) return waiting_.begin()->second;
    Seq* best = nullptr;
    std::int64_t best_hit = -1;
    for (const auto& [k, q] : waiting_) {
      if (!lora_.admits(q->lora)) continue;
      if (!lpm) return q;
      std::int64_t hit = q->keys.empty() ? 0 : cache_.match_prefix(q->keys);
      if (hit > best_hit) best = q, best_hit = hit;
    }
    return best;
  }

  // q joins the running batch: its adapter is loaded into a slot if it is not resident.
  void lora_start(Seq* q) {
    if (q->lora < 0) return;
    const auto a = static_cast<size_t>(q->lora);
    if (!lora_.running(q->lora)) running_lora_read_ns_ += lora_costs_.read_ns[a];
    const bool loaded = lora_.start(q->lora);
    if (loaded) {
      extra_ns_ += lora_costs_.load_ns[a];
      ++planned_lora_loads_;
    }
    q->req->lora_loaded = loaded ? 1 : 0;
  }
  // q leaves the running batch (finished, preempted, aborted).
  void lora_stop(Seq* q) {
    if (q->lora < 0) return;
    lora_.stop(q->lora);
    if (!lora_.running(q->lora)) running_lora_read_ns_ -= lora_costs_.read_ns[static_cast<size_t>(q->lora)];
  }

  // Whether a prefill could run now: a running prefill, or room to admit the next request.
  bool prefill_possible() const {
    if (!prefilling_.empty()) return true;
    if (!landed_.empty() && running_.size() < static_cast<size_t>(cfg_.max_num_seqs)) return true;
    if (waiting_.empty() || running_.size() >= static_cast<size_t>(cfg_.max_num_seqs)) return false;
    const Seq* q = next_waiting();
    return q && plan_admission(q, cfg_.max_num_batched_tokens, true).has_value();
  }

  struct Admission {
    std::int64_t cached_blocks;  // leading blocks reused from the prefix cache
    std::int64_t chunk;          // prefill tokens of its first iteration
    std::int64_t fresh;          // new blocks to allocate (the loaded ones included)
    std::int64_t host_blocks = 0;  // after the cached ones, blocks loaded from host memory
  };
  // How q would be admitted with `budget` tokens left in the iteration, or nullopt if it cannot
  // be now. The last prompt token is always computed. Without chunking, a prompt above the
  // budget runs only as the iteration's first prefill. An idle engine ignores the watermark,
  // so a request that fits is never left waiting forever.
  std::optional<Admission> plan_admission(const Seq* q, std::int64_t budget, bool first_prefill) const {
    const std::int64_t hit = q->keys.empty() ? 0 : cache_.match_prefix(q->keys, &hits_);
    Admission a{};
    a.cached_blocks = std::min(hit, (q->target - 1) / block_);
    if (host_.capacity_blocks() > 0 && a.cached_blocks < (q->target - 1) / block_ &&
        a.cached_blocks == hit && static_cast<std::int64_t>(q->keys.size()) > a.cached_blocks) {
      const auto limit = static_cast<size_t>(std::min<std::int64_t>((q->target - 1) / block_,
                                                                     static_cast<std::int64_t>(q->keys.size())));
      a.host_blocks = host_.peek(std::span<const std::uint64_t>(q->keys).subspan(
          static_cast<size_t>(a.cached_blocks), limit - static_cast<size_t>(a.cached_blocks)));
    }
    const std::int64_t remaining = q->target - (a.cached_blocks + a.host_blocks) * block_;
    a.chunk = std::min(remaining, budget);
    if (!cfg_.enable_chunked_prefill && a.chunk < remaining) {
      if (!first_prefill) return std::nullopt;
      a.chunk = remaining;
    }
    a.fresh = blocks_for((a.cached_blocks + a.host_blocks) * block_ + a.chunk) - a.cached_blocks + state_blocks_;
    const std::int64_t free_after = cache_.free_blocks() - cache_.evictable(prefix_hits(a.cached_blocks)) - a.fresh;
    if (no_evict_) {
      // the whole request, to its last output token, beside what the running ones may still take
      if (free_after - (final_blocks(q) - a.cached_blocks - a.fresh) - reserved_blocks_ < 0) return std::nullopt;
      return a;
    }
    if (free_after < 0 || (free_after < watermark_blocks_ && !running_.empty())) return std::nullopt;
    if (full_prompt_admission_ && a.chunk < remaining) {
      // every block of the prompt must be free now (host-loaded blocks included), not only the chunk's
      const std::int64_t whole = blocks_for(q->target) - a.cached_blocks + state_blocks_;
      const std::int64_t free_whole = free_after + a.fresh - whole;
      if (free_whole < 0 || (free_whole < watermark_blocks_ && !running_.empty())) return std::nullopt;
    }
    if (style_.retract_decodes && !running_.empty()) {
      // the whole prompt and its clipped output must fit beside what the running requests will need
      // (its state blocks, when it has them, are not room for tokens)
      const double room = static_cast<double>((free_after + a.fresh - state_blocks_) * block_) - reserved_tokens_;
      const std::int64_t cached = (a.cached_blocks + a.host_blocks) * block_;
      const double need = static_cast<double>(q->target - cached) +
                          static_cast<double>(std::min(remaining_output(q), kSgClipOutputTokens));
      if (need > room) return std::nullopt;
    }
    return a;
  }

  // guaranteed_no_evict: the blocks q holds when it ends (its prompt and whole output), and what
  // the running requests may still allocate.
  std::int64_t final_blocks(const Seq* q) const {
    return blocks_for(q->input_tokens + (q->prefill_only ? 0 : q->output_tokens + lookahead_)) + state_blocks_;
  }
  std::int64_t blocks_still_needed() const {
    std::int64_t total = 0;
    for (const auto& [k, q] : running_)
      total += std::max<std::int64_t>(0, final_blocks(q) - static_cast<std::int64_t>(q->blocks.size()));
    return total;
  }

  std::int64_t remaining_output(const Seq* q) const {
    return q->prefill_only ? 0 : q->output_tokens - q->req->tokens_emitted;
  }
  // Tokens a running request is estimated to still need: the rest of its prompt, and its clipped
  // remaining output weighted by new_token_ratio (SGLang's PrefillAdder reservation).
  double future_tokens(const Seq* q, std::int64_t computed, std::int64_t emitted) const {
    const std::int64_t out = q->prefill_only ? 0 : q->output_tokens - emitted;
    return static_cast<double>(std::max<std::int64_t>(0, q->target - computed)) +
           new_token_ratio_ * static_cast<double>(std::clamp<std::int64_t>(out, 0, kSgClipOutputTokens));
  }
  double reserved_by_running(std::int64_t s) const {
    double total = 0;
    for (const auto& [k, q] : running_)
      total += q->state == Seq::kDecode ? future_tokens(q, q->target, emitted_at(q, s))
                                        : future_tokens(q, q->computed, q->req->tokens_emitted);
    return total;
  }
  // After a retraction: the ratio the survivors' progress implies (SGLang's retract_decode).
  void raise_new_token_ratio(std::int64_t s) {
    double decoded = 0, wanted = 0, n = 0;
    for (const auto& [k, q] : running_) {
      if (q->state != Seq::kDecode) continue;
      decoded += static_cast<double>(emitted_at(q, s));
      wanted += static_cast<double>(q->output_tokens);
      ++n;
    }
    if (wanted > 0) new_token_ratio_ = std::min(1.0, (decoded + static_cast<double>(kSgRetractSteps) * n) / wanted);
  }
  // SGLang's retraction order: the decoding request with the fewest output tokens, the longest
  // prompt among ties; a prefilling request only when none decodes.
  Seq* retraction_victim(std::int64_t s) const {
    Seq* best = nullptr;
    std::int64_t best_out = 0;
    for (const auto& [k, q] : running_) {
      if (q->state != Seq::kDecode) continue;
      const std::int64_t out = emitted_at(q, s);
      if (!best || out < best_out || (out == best_out && q->input_tokens > best->input_tokens))
        best = q, best_out = out;
    }
    return best ? best : std::prev(running_.end())->second;
  }

  bool batch_has_prefill() const {
    for (const Seq* q : prefilling_)
      if (q->chunk > 0) return true;
    return false;
  }

  Seq* alloc_seq(Request* r) {
    Seq* q;
    if (!free_seqs_.empty()) {
      q = free_seqs_.back();
      free_seqs_.pop_back();
      const std::uint32_t gen = q->gen + 1;
      std::vector<KvCache::BlockId> blocks = std::move(q->blocks);  // its capacity serves the next one
      SequenceDraws draws = std::move(q->draws);
      *q = Seq{};
      q->gen = gen;
      q->blocks = std::move(blocks);
      q->blocks.clear();
      q->draws = std::move(draws);
    } else {
      q = &seq_pool_.emplace_back();
    }
    q->req = r;
    q->input_tokens = r->input_tokens;
    q->output_tokens = r->output_tokens;
    q->lora = r->lora;
    return q;
  }

  // Grows q's block table to hold `tokens`, preempting the newest running sequences as needed.
  // False if q itself had to be preempted.
  bool grow_to(Seq* q, std::int64_t tokens) {
    // what the free blocks cover at once, then one at a time with preemptions
    const std::int64_t wanted = blocks_for(tokens) + state_blocks_;
    const std::int64_t need = wanted - static_cast<std::int64_t>(q->blocks.size());
    if (need > 0) cache_.allocate(std::min(need, cache_.free_blocks()), q->blocks);
    while (static_cast<std::int64_t>(q->blocks.size()) < wanted) {
      KvCache::BlockId b = cache_.allocate();
      if (b >= 0) {
        q->blocks.push_back(b);
        continue;
      }
      Seq* victim = style_.retract_decodes ? retraction_victim(step_)
                    : fifo_preemption_     ? running_.begin()->second
                                           : std::prev(running_.end())->second;
      preempt(victim);
      retracted_ = true;
      if (victim == q) return false;
    }
    return true;
  }

  void preempt(Seq* q) {
    Request* r = q->req;
    if (q->state == Seq::kDecode) {
      // its last token: the last decoding iteration's, or its entry into decoding if later
      q->last_token_ns = std::max(q->last_token_ns, last_decode_end_ns_);
      r->tokens_emitted = static_cast<std::uint32_t>(emitted_at(q, step_));
      leave_decoding(q, step_);
    }
    lora_stop(q);
    q->state = Seq::kWaiting;  // dropped from prefilling_ by drop_preempted_prefills()
    ++q->gen;
    release_blocks(q);
    q->computed = 0;
    q->registered = 0;
    q->chunk = 0;
    q->target = static_cast<std::int64_t>(r->input_tokens) + r->tokens_emitted;
    running_.erase(key(q));
    waiting_.insert(key(q));
    ++r->preemptions;
  }

  void drop_preempted_prefills() {
    size_t keep = 0;
    for (Seq* q : prefilling_)
      if (q->state == Seq::kPrefill) prefilling_[keep++] = q;
    prefilling_.resize(keep);
  }

  // kv_storage: the waiting request q's prompt blocks the shared tiers hold after its GPU and host
  // hits (none once it was fetched); starts their fetch, taking q out of the queue until they
  // arrive. False (nothing to fetch) leaves q as it is.
  bool start_fetch(Seq* q, TimeNs now) {
    if (q->fetched || q->keys.empty()) return false;
    const std::int64_t limit =
        std::min<std::int64_t>((q->target - 1) / block_, static_cast<std::int64_t>(q->keys.size()));
    const std::span<const std::uint64_t> keys(q->keys);
    std::int64_t from = cache_.match_prefix(keys.first(static_cast<size_t>(std::max<std::int64_t>(0, limit))));
    if (from >= limit) return false;
    const std::int64_t in_host = host_.peek(keys.subspan(static_cast<size_t>(from), static_cast<size_t>(limit - from)));
    if (from + in_host >= limit) return false;
    const std::span<const std::uint64_t> rest =
        keys.subspan(static_cast<size_t>(from + in_host), static_cast<size_t>(limit - from - in_host));
    const KvStorage::Hit hit = storage_->peek(storage_node_, rest);
    if (hit.blocks() == 0) return false;
    // the blocks already in host memory become its most recent, so the fetched ones, put after
    // them, do not push them out
    host_.match(keys.subspan(static_cast<size_t>(from), static_cast<size_t>(in_host)));
    from += in_host;
    storage_->touch(storage_node_, rest.first(static_cast<size_t>(hit.blocks())));
    waiting_.erase(key(q));
    q->state = Seq::kFetching;
    q->fetched = true;
    q->fetch_from = from;
    q->fetch_blocks = hit.blocks();
    q->fetch_start_ns = now;
    q->req->disk_tokens = static_cast<std::uint32_t>(hit.disk_blocks * block_);
    q->req->remote_tokens = static_cast<std::uint32_t>(hit.remote_blocks * block_);
    fetching_.emplace(q->req, q);
    fetches_.push_back({q->req, hit.disk_blocks, hit.remote_blocks});
    return true;
  }

  // The queue's head waits for its fetch, not the requests behind it.
  void fetch_waiting_heads(TimeNs now) {
    while (!waiting_.empty()) {
      Seq* q = next_waiting();
      if (!q || !start_fetch(q, now)) return;
    }
  }

  void connect_host_tier() {
    if (offload_.host_blocks > 0)
      cache_.offload_to(&host_, offload_.store_on_compute ? KvCache::Offload::kOnCompute : KvCache::Offload::kOnEvict);
  }

  void release_blocks(Seq* q) {
    // the tail first, so a sequence's last blocks are evicted before its shared prefix
    cache_.release_backwards(q->blocks);
    q->blocks.clear();
  }

  void register_prompt_blocks(Seq* q) {
    const std::int64_t full = std::min<std::int64_t>(std::min(q->computed, q->input_tokens) / block_,
                                                     static_cast<std::int64_t>(q->keys.size()));
    if (q->registered >= full) return;
    const auto from = static_cast<size_t>(q->registered), n = static_cast<size_t>(full - q->registered);
    cache_.register_chain(std::span(q->blocks).subspan(from, n), std::span(q->keys).subspan(from, n),
                          from ? q->keys[from - 1] : 0, static_cast<std::int16_t>(q->lora));
    q->registered = full;
  }

  void enter_decoding(Seq* q, std::int64_t s0) {
    entrants_.emplace_back(q, q->gen);
    q->state = Seq::kDecode;
    q->s0 = s0;
    q->e0 = q->req->tokens_emitted;
    q->energy0_j = decode_energy_j_;
    ++n_decoding_;
    // the decode context at step s: this plus s - s0 (the tokens since), or its draws' tokens
    decode_base_sum_ += q->input_tokens + q->e0 - (spec_ ? 0 : s0);
    // the step after which it has all its tokens
    const std::int64_t wanted = q->output_tokens - q->e0;
    if (spec_) {
      // its own stream: the request, and how often it was preempted before (each entry draws anew)
      const Request& r = *q->req;
      q->draws.draw(*spec_, splitmix64(spec_seed_ ^ splitmix64(r.id) ^ splitmix64(~std::uint64_t{r.preemptions})), wanted);
      step_tokens_.add(s0, q->draws, 1, +1);
      q->finish_step = s0 + q->draws.steps() - 1;
    } else {
      q->finish_step = s0 + std::max<std::int64_t>(1, wanted) - 1;
    }
    finishes_.push({q->finish_step, q->order, q->gen, q});
    push_boundary(q);
  }

  void leave_decoding(Seq* q, std::int64_t at_step) {
    --n_decoding_;
    decode_base_sum_ -= q->input_tokens + q->e0 - (spec_ ? 0 : q->s0);
    if (spec_) {  // the steps from at_step on are not run
      spec_decoded_sum_ -= decoded(q, at_step - q->s0);
      step_tokens_.add(q->s0, q->draws, at_step - q->s0 + 1, -1);
    }
    q->req->energy_j += decode_energy_j_ - q->energy0_j;
    q->req->tokens_emitted = static_cast<std::uint32_t>(emitted_at(q, at_step));
  }

  void push_boundary(Seq* q) {
    const std::int64_t held = (static_cast<std::int64_t>(q->blocks.size()) - state_blocks_) * block_;
    // the first step whose tokens and lookahead slots no longer fit in the blocks it holds
    const std::int64_t wanted = held - q->input_tokens - q->e0 - lookahead_ + 1;
    const std::int64_t s = q->s0 + (spec_ ? q->draws.first_step_reaching(wanted) : std::max<std::int64_t>(0, wanted));
    if (s <= q->finish_step) boundaries_.push({s, q->order, q->gen, q});
  }

  void finish(Seq* q, TimeNs now, IterationResult& out) {
    Request* r = q->req;
    r->finish_ns = now;
    r->status = RequestStatus::kCompleted;
    q->state = Seq::kDone;
    lora_stop(q);
    running_.erase(key(q));
    release_blocks(q);
    out.finished.push_back(r);
    free_seqs_.push_back(q);
  }

  static constexpr size_t kLpmMaxQueue = 128;
  SchedulerStyle style_;
  double new_token_ratio_ = kSgInitRatio;
  double reserved_tokens_ = 0;  // SGLang admission: tokens the running requests are estimated to need
  bool retracted_ = false;      // this iteration preempted (retracted) a request
  bool run_decodes_ = true;
  const EngineConfig& cfg_;
  std::int32_t worker_;
  std::shared_ptr<const SpeculativeDecoding> spec_;  // null: no speculative decoding
  std::int64_t lookahead_;                           // KV slots for draft tokens beyond the emitted ones
  std::uint64_t spec_seed_;  // the worker's speculative stream, from which each sequence's derives
  StepTokens step_tokens_;   // speculation: the decoding sequences' tokens at each step
  std::int32_t block_;
  // blocks a running sequence holds beyond its tokens' (a hybrid model's linear-attention state;
  // such models run without prefix caching, so q->blocks is never indexed by token position)
  std::int64_t state_blocks_;
  KvCache cache_;
  LoraCosts lora_costs_;
  LoraSlots lora_;
  TimeNs running_lora_read_ns_ = 0;  // reading the running adapters' weights, once an iteration
  TimeNs extra_ns_ = 0;              // the planned iteration's LoRA loads and reads
  std::int32_t planned_lora_loads_ = 0;
  // the resident blocks of the prefix last matched (plan_admission, reserve): admission takes
  // its leading ones without looking their keys up again
  mutable std::vector<KvCache::BlockId> hits_;
  std::span<const KvCache::BlockId> prefix_hits(std::int64_t n) const {
    return std::span<const KvCache::BlockId>(hits_).first(static_cast<size_t>(n));
  }
  std::int64_t watermark_blocks_;
  bool fifo_preemption_;     // engine.preemption: the oldest running request goes first
  bool no_evict_;            // engine.capacity_policy: guaranteed_no_evict
  bool full_prompt_admission_;  // engine.admission: full_prompt
  std::int64_t reserved_blocks_ = 0;  // guaranteed_no_evict: blocks the running requests may still allocate
  // KV offloading: host memory (the cache writes evicted blocks to it), what a load costs
  KvHostTier host_;
  KvOffloadCosts offload_;
  KvStorage* storage_;  // null: no shared tiers below host memory
  std::int32_t storage_node_;
  std::int32_t planned_onboarded_ = 0;
  TimeNs planned_onboard_ns_ = 0;
  std::uint64_t offload_reported_ = 0;  // host_.stored() at the last report
  std::uint64_t write_charged_ = 0;     // host_.stored() at the last plan (store: on_compute's charge)
  std::int64_t step_ = 0;
  std::uint64_t next_order_ = 0;
  std::deque<Seq> seq_pool_;
  std::vector<Seq*> free_seqs_;
  std::set<Key> waiting_, running_;
  std::vector<Seq*> prefilling_;
  std::deque<Seq*> landed_;                     // KV arrived, waiting to compute the last prompt token
  std::unordered_map<Request*, Seq*> parked_;  // held (prefill role) or incoming (decode role)
  std::unordered_map<Request*, Seq*> fetching_;  // kv_storage: waiting for their prompt's fetch
  std::vector<StorageFetch> fetches_;            // started since take_fetches()
  std::int32_t held_ = 0, incoming_ = 0;
  bool cleared_ = false;  // a reset owes the router a kCleared event
  bool record_events_ = true;
  MinHeap finishes_, boundaries_;
  std::int64_t n_decoding_ = 0, decode_base_sum_ = 0, planned_decodes_ = 0;
  std::int64_t spec_decoded_sum_ = 0;  // speculation: the decoding sequences' tokens since their s0, at step_
  // energy: the planned iteration's per token, and what one decoding sequence has been charged
  // over all decode steps so far (a sequence's share is the change while it decodes)
  double joules_per_token_ = 0, decode_energy_j_ = 0;
  // inter-token gaps: the end of the last iteration that ran decodes, the sequences that entered
  // decoding since (with their generation, so stale ones are skipped), and the token times of
  // those that decode in the planned iteration
  TimeNs last_decode_end_ns_ = -1;
  std::vector<std::pair<Seq*, std::uint32_t>> entrants_;
  std::vector<TimeNs> planned_entrants_;
  static void add_gap(IterationResult& out, TimeNs gap, std::int32_t tokens) {
    for (ItlGroup& g : out.itl)
      if (g.gap_ns == gap) {
        g.tokens += tokens;
        return;
      }
    out.itl.push_back({gap, tokens});
  }
};

}  // namespace

SERVESIM_REGISTER(SchedulerRegistry, "vllm",
                  "vLLM V1-style continuous batching: chunked prefill, paged KV cache with prefix caching, "
                  "watermark, preemption by recompute",
                  [](const SchedulerContext& ctx) { return std::make_unique<VllmScheduler>(ctx, SchedulerStyle{}); })
SERVESIM_REGISTER(SchedulerRegistry, "sglang",
                  "SGLang-style: prefill and decode in separate iterations (prefill first), longest-prefix-match "
                  "admission for queues up to 128, conservative admission by new-token ratio, retraction of "
                  "decoding requests under KV pressure",
                  [](const SchedulerContext& ctx) {
                    return std::make_unique<VllmScheduler>(ctx, SchedulerStyle{false, true, true});
                  })

}  // namespace servesim
