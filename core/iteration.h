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

struct IterationResult {
  std::vector<Request*> finished;  // completed in this iteration (status set, finish stamped)
  std::vector<Request*> prefilled;  // kPrefillOnly jobs whose prompt is done (KV held)
  std::int32_t tokens_emitted = 0;  // output tokens produced by the iteration
  std::int32_t decode_tokens = 0;   // of which by sequences past their first token (ITL samples)
  std::int32_t lora_loads = 0;      // LoRA adapters loaded into GPU memory for the iteration
};

}  // namespace servesim
