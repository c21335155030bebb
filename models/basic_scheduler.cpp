// "basic": the simplest continuous batching, a stand-in until the vLLM-style engine lands.
// FCFS admission up to max_num_seqs and the token budget; a whole prompt is prefilled in one
// iteration (as the batch's only prefill if it exceeds the budget); every running sequence decodes one token per
// iteration. No KV cache limit, no prefix caching. Per-iteration cost is O(running).
#include <algorithm>
#include <deque>
#include <vector>

#include "models/engine_scheduler.h"

namespace servesim {
namespace {

class BasicScheduler final : public EngineScheduler {
 public:
  explicit BasicScheduler(const SchedulerContext& ctx)
      : max_seqs_(ctx.pool.engine.max_num_seqs), budget_(ctx.pool.engine.max_num_batched_tokens) {}

  void enqueue(Request* r, TimeNs, EngineJob) override { waiting_.push_back(r); }

  std::vector<Request*> reset() override {
    std::vector<Request*> out(waiting_.begin(), waiting_.end());
    out.insert(out.end(), running_.begin(), running_.end());
    out.insert(out.end(), prefilling_.begin(), prefilling_.end());
    waiting_.clear();
    running_.clear();
    prefilling_.clear();
    return out;
  }

  bool plan(TimeNs now, BatchShape& batch) override {
    batch = {};
    prefilling_.clear();
    std::int64_t tokens = static_cast<std::int64_t>(running_.size());  // one per decode
    for (Request* r : running_) batch.decode_context_tokens += r->input_tokens + r->tokens_emitted;
    batch.decode_seqs = static_cast<std::int32_t>(running_.size());
    while (!waiting_.empty() && running_.size() + prefilling_.size() < static_cast<size_t>(max_seqs_)) {
      Request* r = waiting_.front();
      // without chunking, a prompt above the budget still runs, as the batch's only prefill
      bool first_prefill = prefilling_.empty();
      if (!first_prefill && tokens + r->input_tokens > budget_) break;
      waiting_.pop_front();
      tokens += r->input_tokens;
      if (r->scheduled_ns < 0) r->scheduled_ns = now;
      prefilling_.push_back(r);
      batch.prefill_seqs += 1;
      batch.prefill_tokens += r->input_tokens;
      double c = r->input_tokens;
      batch.prefill_attention_pairs += c * (c + 1) / 2;
    }
    return !batch.empty();
  }

  void charge_energy(double joules_per_token) override { joules_per_token_ = joules_per_token; }

  void complete(TimeNs now, IterationResult& out) override {
    out.clear();
    size_t keep = 0;
    for (Request* r : running_) {
      r->energy_j += joules_per_token_;
      ++r->tokens_emitted;
      ++out.tokens_emitted;
      ++out.decode_tokens;
      if (r->tokens_emitted == r->output_tokens) finish(r, now, out);
      else running_[keep++] = r;
    }
    running_.resize(keep);
    for (Request* r : prefilling_) {
      r->energy_j += joules_per_token_ * r->input_tokens;
      r->prefill_end_ns = now;
      r->first_token_ns = now;
      r->tokens_emitted = 1;
      ++out.tokens_emitted;
      if (r->output_tokens == 1) finish(r, now, out);
      else running_.push_back(r);
    }
    prefilling_.clear();
  }

  void progress(std::vector<TokenProgress>& out) const override {
    for (const Request* r : running_) out.push_back({r, r->tokens_emitted});
  }

  bool abort(Request* r) override {  // between iterations: prefilling_ is empty
    for (auto* list : {&waiting_, &running_}) {
      auto it = std::find(list->begin(), list->end(), r);
      if (it != list->end()) {
        list->erase(it);
        return true;
      }
    }
    return false;
  }

  EngineLoad load() const override {
    return {static_cast<std::int32_t>(waiting_.size()),
            static_cast<std::int32_t>(running_.size() + prefilling_.size()), 0, 0};
  }

 private:
  static void finish(Request* r, TimeNs now, IterationResult& out) {
    r->finish_ns = now;
    r->status = RequestStatus::kCompleted;
    out.finished.push_back(r);
  }

  int max_seqs_;
  std::int64_t budget_;
  std::deque<Request*> waiting_;
  std::deque<Request*> running_;
  std::vector<Request*> prefilling_;
  double joules_per_token_ = 0;  // the planned iteration's
};

}  // namespace

SERVESIM_REGISTER(SchedulerRegistry, "basic",
                  "stand-in continuous batching: FCFS, whole-prompt prefill, no KV cache limit",
                  [](const SchedulerContext& ctx) { return std::make_unique<BasicScheduler>(ctx); })

}  // namespace servesim
