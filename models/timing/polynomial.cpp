// Fitted coefficients (as DistServe's profiler fits them): a constant plus linear terms in
// prefill tokens, prefill attention pairs, decode sequences and decode context tokens.
#include <cmath>

#include "models/timing/timing_model.h"

namespace servesim {
namespace {

class PolynomialTiming final : public TimingModel {
 public:
  explicit PolynomialTiming(const PolynomialTimingConfig& c) : c_(c) {}
  TimeNs iteration_ns(const BatchShape& b) const override {
    double ms = c_.constant_ms + c_.per_prefill_token_ms * static_cast<double>(b.prefill_tokens) +
                c_.per_prefill_attention_ms * b.prefill_attention_pairs +
                c_.per_decode_seq_ms * b.decode_seqs +
                c_.per_decode_context_token_ms * static_cast<double>(b.decode_context_tokens);
    // verified draft tokens beyond each sequence's own: priced as prompt tokens
    if (b.decode_query_tokens > 1)
      ms += c_.per_prefill_token_ms * static_cast<double>(b.decode_computed_tokens() - b.decode_seqs);
    return std::max<TimeNs>(1, std::llround(ms * 1e6));
  }

 private:
  PolynomialTimingConfig c_;
};

}  // namespace

SERVESIM_REGISTER(TimingRegistry, "polynomial",
                  "fitted coefficients: constant + prefill tokens + attention pairs + decode seqs + decode context",
                  [](const TimingContext& ctx) {
                    return std::make_unique<PolynomialTiming>(ctx.pool.timing.polynomial);
                  })

}  // namespace servesim
