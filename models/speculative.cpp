#include "models/speculative.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "models/catalog.h"
#include "models/timing/timing_model.h"

namespace servesim {

std::vector<double> rates_for_mean_length(double mean_length, int k) {
  const double target = mean_length - 1;
  auto tokens = [k](double a) {
    double sum = 0, p = 1;
    for (int i = 0; i < k; ++i) sum += (p *= a);
    return sum;
  };
  double lo = 0, hi = 1;
  for (int i = 0; i < 100; ++i) {
    const double mid = (lo + hi) / 2;
    (tokens(mid) < target ? lo : hi) = mid;
  }
  const double a = target >= k ? 1.0 : target <= 0 ? 0.0 : (lo + hi) / 2;
  std::vector<double> rates(static_cast<size_t>(k));
  double p = 1;
  for (double& r : rates) r = (p *= a);
  return rates;
}

std::optional<ModelSpec> draft_model_spec(const PoolConfig& pool, const Catalog& catalog) {
  const SpeculativeConfig& c = pool.speculative;
  if (c.method == "draft_model") {
    PoolConfig draft = pool;
    draft.model = c.draft_model;
    return catalog.deployed_model(draft);
  }
  if (c.method != "mtp" && c.method != "eagle") return std::nullopt;
  // one decoder layer of the model (its MTP module or an EAGLE head), sharing the embedding and
  // LM head: its own weights are one layer's share of what is not embedding or head
  ModelSpec m = catalog.deployed_model(pool);
  const double embed_and_head_b = 2.0 * m.vocab_size * m.hidden_size / 1e9;
  const double per_layer_b = std::max(0.0, m.params_b - embed_and_head_b) / m.layers;
  if (m.active_params_b > 0)
    m.active_params_b = std::max(0.0, m.active_params_b - embed_and_head_b) / m.layers;
  m.params_b = per_layer_b;
  m.layers = 1;
  m.dense_layers = 0;
  // a full-attention layer whatever the model's other kinds (Qwen3.5's MTP layer beside its
  // linear-attention ones, GLM-5.2's with its own indexer, gpt-oss's beside sliding-window ones)
  m.linear_layers = m.linear_key_heads = m.linear_value_heads = 0;
  m.linear_mixer = ModelSpec{}.linear_mixer;
  m.ffn_free_layers = 0;  // (Nemotron-H's MTP layers are an attention and an MoE layer: one such pair)
  m.shared_indexer_layers = 0;
  m.sliding_window = m.sliding_layers = 0;
  return m;
}

std::shared_ptr<const SpeculativeDecoding> SpeculativeDecoding::make(const PoolConfig& pool,
                                                                     const std::string& base_dir) {
  const SpeculativeConfig& c = pool.speculative;
  if (!c.enabled()) return nullptr;
  std::unique_ptr<TimingModel> draft;
  TimeNs step_ns = 0;
  if (c.draft_step) {
    step_ns = c.draft_step->ns();
  } else if (const std::optional<ModelSpec> m = draft_model_spec(pool, Catalog::builtin())) {
    TimingContext ctx{pool, base_dir, &*m};
    draft = TimingRegistry::instance().create(pool.timing.model, ctx);
  }
  return std::make_shared<SpeculativeDecoding>(c, std::move(draft), step_ns);
}

SpeculativeDecoding::SpeculativeDecoding(const SpeculativeConfig& c, std::unique_ptr<TimingModel> draft,
                                         TimeNs draft_step_ns)
    : k_(c.num_speculative_tokens),
      rates_(c.acceptance_rates.empty() ? rates_for_mean_length(c.mean_acceptance_length.value_or(1.0), k_)
                                        : c.acceptance_rates),
      draft_(std::move(draft)),
      draft_step_ns_(draft_step_ns) {
  if (k_ < 1 || static_cast<int>(rates_.size()) != k_)
    throw InvariantError("speculative decoding: rates and draft tokens disagree (validation lets this through)");
}

SpeculativeDecoding::~SpeculativeDecoding() = default;

double SpeculativeDecoding::mean_acceptance_length() const {
  return 1.0 + std::accumulate(rates_.begin(), rates_.end(), 0.0);
}

int SpeculativeDecoding::accepted(double u) const {
  int n = 0;
  while (n < k_ && u < rates_[static_cast<size_t>(n)]) ++n;
  return n;
}

TimeNs SpeculativeDecoding::draft_ns(const BatchShape& target) const {
  if (target.decode_seqs == 0 && target.prefill_seqs == 0) return 0;
  if (!draft_) return target.decode_seqs > 0 ? k_ * draft_step_ns_ : 0;  // fixed step, or ngram (0)
  // the first pass drafts from everything the target computed: prompt chunks and each decoding
  // sequence's newest token; the others one token per decoding sequence
  BatchShape first = target;
  first.decode_query_tokens = 1;
  TimeNs ns = draft_->iteration_ns(first) - draft_->overhead_ns();
  if (target.decode_seqs > 0) {
    BatchShape step;
    step.decode_seqs = target.decode_seqs;
    step.decode_context_tokens = target.decode_context_tokens;
    ns += (k_ - 1) * (draft_->iteration_ns(step) - draft_->overhead_ns());
  }
  return std::max<TimeNs>(0, ns);
}

TokenClock::TokenClock(std::shared_ptr<const SpeculativeDecoding> spec, Rng rng) : spec_(std::move(spec)), rng_(rng) {}

void TokenClock::extend_to(std::int64_t step) {
  if (step < base_) throw InvariantError(fmt::format("token clock: step {} was forgotten (kept from {})", step, base_));
  while (base_ + static_cast<std::int64_t>(values_.size()) <= step)
    values_.push_back(values_.back() + 1 + spec_->accepted(uniform01(rng_)));
}

std::int64_t TokenClock::drawn_step_reaching(std::int64_t tokens, std::int64_t from) {
  // steps before the kept ones are past: their tokens are below any asked for now
  from = std::max(from, base_);
  // each step adds at least one token: the answer lies within tokens - at(from) steps of from
  if (at(from) >= tokens) return from;
  std::int64_t lo = from, hi = from + (tokens - at(from));  // at(lo) < tokens <= at(hi)
  extend_to(hi);
  while (hi - lo > 1) {
    const std::int64_t mid = lo + (hi - lo) / 2;
    (at(mid) >= tokens ? hi : lo) = mid;
  }
  return hi;
}

void TokenClock::forget_drawn_before(std::int64_t step) {
  extend_to(step);
  while (base_ < step) {
    values_.pop_front();
    ++base_;
  }
}

}  // namespace servesim
