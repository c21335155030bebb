#pragma once
// Speculative decoding on a worker (pools[].speculative). A draft proposes k tokens per decoding
// sequence and step; the target model verifies them and the last token in one forward pass
// (priced as k + 1 tokens per sequence, BatchShape::decode_query_tokens) and keeps the leading
// accepted ones plus its own next token: 1 to k + 1 tokens per step.
//
// Acceptance is drawn per sequence and step, each decoding sequence from its own seeded stream,
// so the sequences of one batch accept independently, as a real batch's do. A sequence draws its
// steps when it starts decoding (until it has its tokens: SequenceDraws) and adds them to the
// worker's per-step totals (StepTokens), which give each step's tokens and the batch's context in
// O(1): the work is per decode step of each sequence, the engine's own.
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

// A decoding sequence's output tokens after each of its decode steps: tokens(j) after j steps
// (tokens(0) = 0), each step adding 1 + the draft tokens it accepts. Drawn at once up to the step
// that brings it to `wanted`, from a stream of its own (SplitMix64 from `stream`).
class SequenceDraws {
 public:
  void draw(const SpeculativeDecoding& spec, std::uint64_t stream, std::int64_t wanted);
  std::int64_t steps() const { return static_cast<std::int64_t>(tokens_.size()) - 1; }  // drawn
  std::int64_t tokens(std::int64_t j) const;  // j in [0, steps()]
  // The first j >= 0 with tokens(j) >= wanted; steps() + 1 if none.
  std::int64_t first_step_reaching(std::int64_t wanted) const;
  // Tokens step j (1-based) adds: tokens(j) - tokens(j - 1).
  std::int64_t added_by(std::int64_t j) const { return tokens(j) - tokens(j - 1); }

 private:
  std::vector<std::int32_t> tokens_{0};  // cumulative; kept between draws for its capacity
};

// Tokens the decoding sequences of a worker emit at each step, summed over the sequences: each
// adds its drawn steps when it starts decoding and takes back the ones it will not run when it
// leaves early (preempted, aborted).
class StepTokens {
 public:
  // Adds (sign +1) or removes (-1) steps j = from_j..steps() of `draws`, step j falling on worker
  // step first_step + j - 1.
  void add(std::int64_t first_step, const SequenceDraws& draws, std::int64_t from_j, int sign);
  std::int64_t at(std::int64_t step) const;  // 0 for a step nobody emits at
  void forget_before(std::int64_t step);
  void clear() { totals_.clear(); }  // every step's total back to 0 (steps before base_ stay forgotten)

 private:
  std::int64_t base_ = 0;  // the step totals_[0] is for
  std::deque<std::int64_t> totals_;
};

}  // namespace servesim
