#pragma once
// What one engine iteration computes and what it yields: the types the engine, its timing model
// and the run's observers share (core/observer.h), so observers need nothing from models/.
#include <cstdint>
#include <vector>

#include "core/request.h"

namespace servesim {

// What an iteration computes. Attention work of a prefill chunk of c new tokens after k
// cached/earlier tokens is c*k + c*(c+1)/2 (token, context-token) pairs.
struct BatchShape {
  std::int32_t prefill_seqs = 0;
  std::int64_t prefill_tokens = 0;
  double prefill_attention_pairs = 0;
  std::int32_t decode_seqs = 0;
  std::int64_t decode_context_tokens = 0;  // sum of KV lengths read by the decodes
  // tokens each decoding sequence computes: 1, or under speculative decoding the last token and
  // the draft tokens it verifies (they share one read of the sequence's KV)
  std::int32_t decode_query_tokens = 1;
  // Attention data parallelism: the ranks stepping together and the tokens of all of them, which
  // the MoE layers they share process (1 and unused without it)
  std::int32_t moe_group_ranks = 1;
  std::int64_t moe_group_tokens = 0;
  std::int64_t decode_computed_tokens() const { return std::int64_t{decode_seqs} * decode_query_tokens; }
  std::int64_t computed_tokens() const { return prefill_tokens + decode_computed_tokens(); }
  bool empty() const { return prefill_seqs == 0 && decode_seqs == 0; }
};

// An engine's load at an instant, as its worker reports it.
struct EngineLoad {
  std::int32_t waiting = 0;
  std::int32_t running = 0;
  std::int64_t kv_blocks_used = 0;
  std::int64_t kv_blocks_total = 0;  // 0 when the scheduler models no KV cache
  std::int32_t held = 0;      // prefilled, KV held until its transfer leaves (prefill role)
  std::int32_t incoming = 0;  // room reserved, KV on its way (decode role)
};

// Inter-token gaps ending in one iteration: `tokens` tokens each came `gap_ns` after their
// sequence's previous token. Under speculative decoding the tokens a sequence emits in one step
// arrive together, as one streamed chunk: a gap is then counted once per chunk (as vLLM's
// benchmark measures ITL), so a request's gaps still add up to its decode time.
struct ItlGroup {
  TimeNs gap_ns;
  std::int32_t tokens;
};

struct IterationResult {
  std::vector<Request*> finished;  // completed in this iteration (status set, finish stamped)
  std::vector<Request*> prefilled;  // kPrefillOnly jobs whose prompt is done (KV held)
  std::int32_t tokens_emitted = 0;  // output tokens produced by the iteration
  std::int32_t decode_tokens = 0;   // of which by sequences past their first token (ITL samples)
  std::int32_t lora_loads = 0;      // LoRA adapters loaded into GPU memory for the iteration
  // speculative decoding: sequences that verified draft tokens, the draft tokens verified, and
  // those accepted (before a sequence's last step caps what it keeps)
  std::int32_t spec_verified_seqs = 0;
  std::int32_t spec_draft_tokens = 0;
  std::int32_t spec_accepted_tokens = 0;
  // KV offloading: bytes written back to host memory, and loaded from it, for this iteration,
  // and how long the iteration waited for those loads (its host-to-GPU link busy)
  double kv_offloaded_bytes = 0, kv_onboarded_bytes = 0;
  TimeNs kv_onboard_ns = 0;
  // GPU energy of the iteration (all the worker's GPUs), and what they would have drawn idle
  double energy_j = 0, idle_energy_j = 0;
  // The decode tokens' gaps since each one's previous token (stalls behind other requests'
  // prefill iterations and recompute preemptions included). Empty: every gap is the iteration's
  // duration (a scheduler that does not track them).
  std::vector<ItlGroup> itl;
  // Empties it for the next iteration, keeping the vectors' memory.
  void clear() {
    finished.clear();
    prefilled.clear();
    itl.clear();
    tokens_emitted = decode_tokens = lora_loads = spec_verified_seqs = spec_draft_tokens = spec_accepted_tokens = 0;
    energy_j = idle_energy_j = 0;
    kv_offloaded_bytes = kv_onboarded_bytes = 0;
    kv_onboard_ns = 0;
  }
  // Calls f(gap_ns, tokens) for each group of decode tokens (the iteration's `duration_ns` when
  // the scheduler gave no gaps).
  template <class F>
  void for_each_itl(TimeNs duration_ns, F&& f) const {
    if (itl.empty()) {
      if (decode_tokens > 0) f(duration_ns, decode_tokens);
      return;
    }
    for (const ItlGroup& g : itl) f(g.gap_ns, g.tokens);
  }
};

}  // namespace servesim
