#pragma once
// Speculative decoding on a worker (pools[].speculative). A draft proposes k tokens per decoding
// sequence and step; the target model verifies them and the last token in one forward pass
// (priced as k + 1 tokens per sequence, BatchShape::decode_query_tokens) and keeps the leading
// accepted ones plus its own next token: 1 to k + 1 tokens per step.
//
// Acceptance is drawn once per engine step, from a seeded stream per worker, and applies to every
// sequence of the step: each request's tokens-per-step distribution is the configured one, while
// the requests of one batch burst together (a real batch's draws are independent). This keeps the
// engine's O(1) decode step: a sequence's token count is a shared token clock's advance since it
// started decoding (TokenClock), as the step count is without speculation.
#include <algorithm>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/iteration.h"
#include "core/rng.h"
#include "core/units.h"
#include "models/catalog.h"
#include "models/pool_config.h"

namespace servesim {

class TimingModel;

// What one pool's speculative decoding does and costs; shared by its workers and the planner.
class SpeculativeDecoding {
 public:
  // nullptr when the pool has none. Throws ConfigError for settings validation lets through only
  // when the catalog is at hand (an unknown draft model).
  static std::shared_ptr<const SpeculativeDecoding> make(const PoolConfig& pool, const std::string& base_dir);
  SpeculativeDecoding(const SpeculativeConfig& c, std::unique_ptr<TimingModel> draft, TimeNs draft_step_ns);
  ~SpeculativeDecoding();

  int draft_tokens() const { return k_; }
  // rates()[i]: the probability that draft token i + 1 is accepted (all before it accepted too)
  const std::vector<double>& rates() const { return rates_; }
  double mean_acceptance_length() const;  // expected tokens per step: 1 + sum of rates
  int accepted(double u) const;           // draft tokens kept for a uniform draw u in [0, 1)
  // Time the draft spends in an iteration whose target batch is `target`: its first pass over
  // the batch's prompt tokens and last tokens, then k - 1 passes of one token per sequence.
  TimeNs draft_ns(const BatchShape& target) const;

 private:
  int k_;
  std::vector<double> rates_;
  std::unique_ptr<TimingModel> draft_;  // null: a fixed step time (draft_step_ns_) or free (ngram)
  TimeNs draft_step_ns_;
};

// The methods pools[].speculative.method accepts, with how each drafts and is priced (--list).
inline const std::vector<std::pair<std::string, std::string>>& speculative_methods() {
  static const std::vector<std::pair<std::string, std::string>> methods = {
      {"draft_model", "a smaller catalog model drafts on the same GPUs (its weights and KV share their memory)"},
      {"mtp", "the model's multi-token-prediction layer drafts (DeepSeek-V3 nextn): one decoder layer and the LM head"},
      {"eagle", "an EAGLE head drafts from the model's hidden states: priced as one decoder layer and the LM head"},
      {"ngram", "prompt lookup on the CPU drafts: no GPU time, only the wider verification"},
  };
  return methods;
}

// The per-rate acceptance probabilities a mean acceptance length L implies with a constant
// acceptance probability a per position: a + a^2 + ... + a^k = L - 1.
std::vector<double> rates_for_mean_length(double mean_length, int k);

// The draft model a pool prices (draft_model: its catalog entry; mtp and eagle: one decoder layer
// of the deployed model with its LM head); nullopt for ngram or no speculation.
std::optional<ModelSpec> draft_model_spec(const PoolConfig& pool, const Catalog& catalog);

// Output tokens an uncapped decoding sequence has emitted after `step` steps of its worker: step
// itself without speculation, else the sum of 1 + accepted over the steps, drawn as needed.
// Only steps from the oldest one still asked about are kept (forget_before).
class TokenClock {
 public:
  TokenClock() = default;  // no speculation: at(s) = s
  TokenClock(std::shared_ptr<const SpeculativeDecoding> spec, Rng rng);
  bool speculative() const { return spec_ != nullptr; }
  std::int64_t at(std::int64_t step) {
    if (!spec_) return step;
    extend_to(step);
    return values_[static_cast<size_t>(step - base_)];
  }
  // The first step s >= from with at(s) >= tokens.
  std::int64_t first_step_reaching(std::int64_t tokens, std::int64_t from) {
    return spec_ ? drawn_step_reaching(tokens, from) : std::max(from, tokens);
  }
  void forget_before(std::int64_t step) {
    if (spec_) forget_drawn_before(step);
  }

 private:
  std::int64_t drawn_step_reaching(std::int64_t tokens, std::int64_t from);
  void forget_drawn_before(std::int64_t step);
  void extend_to(std::int64_t step);
  std::shared_ptr<const SpeculativeDecoding> spec_;
  Rng rng_{0};
  std::int64_t base_ = 0;  // the step values_[0] is for
  std::deque<std::int64_t> values_{0};
};

}  // namespace servesim
