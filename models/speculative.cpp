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

void SequenceDraws::draw(const SpeculativeDecoding& spec, std::uint64_t stream, std::int64_t wanted) {
  tokens_.assign(1, 0);
  for (std::uint64_t j = 0; tokens_.back() < wanted; ++j) {
    tokens_.push_back(tokens_.back() + 1 + spec.accepted(uniform01(splitmix64(stream + j * 0x9E3779B97F4A7C15ull))));
  }
}

std::int64_t SequenceDraws::tokens(std::int64_t j) const {
  if (j < 0 || j > steps())
    throw InvariantError(fmt::format("speculative draws: step {} of a sequence with {} drawn", j, steps()));
  return tokens_[static_cast<size_t>(j)];
}

std::int64_t SequenceDraws::first_step_reaching(std::int64_t wanted) const {
  return std::lower_bound(tokens_.begin(), tokens_.end(), wanted) - tokens_.begin();
}

void StepTokens::add(std::int64_t first_step, const SequenceDraws& draws, std::int64_t from_j, int sign) {
  for (std::int64_t j = std::max<std::int64_t>(from_j, 1); j <= draws.steps(); ++j) {
    const std::int64_t step = first_step + j - 1;
    if (step < base_) throw InvariantError(fmt::format("step tokens: step {} was forgotten (kept from {})", step, base_));
    const auto i = static_cast<size_t>(step - base_);
    if (i >= totals_.size()) totals_.resize(i + 1, 0);
    totals_[i] += sign * draws.added_by(j);
  }
}

std::int64_t StepTokens::at(std::int64_t step) const {
  const std::int64_t i = step - base_;
  return i >= 0 && i < static_cast<std::int64_t>(totals_.size()) ? totals_[static_cast<size_t>(i)] : 0;
}

void StepTokens::forget_before(std::int64_t step) {
  if (step <= base_) return;
  const auto drop = static_cast<size_t>(std::min<std::int64_t>(step - base_, static_cast<std::int64_t>(totals_.size())));
  totals_.erase(totals_.begin(), totals_.begin() + static_cast<std::ptrdiff_t>(drop));
  base_ = step;
}

}  // namespace servesim
