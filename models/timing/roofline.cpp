// "roofline": an analytical iteration time from the pool's GPU and model specs and TP degree.
//   linear layers: max(FLOPs / achieved FLOP/s, weight bytes / achieved bandwidth); MoE reads
//                  only the experts the batch's tokens are expected to touch
//   attention:     prefill FLOPs (quadratic in the chunk's context), decode KV bytes read
//   TP:            two ring all-reduces of the activations per layer over NVLink
//   plus a fixed per-iteration overhead. Efficiency factors come from the catalog (data).
#include <cmath>

#include "models/catalog.h"
#include "models/timing/roofline.h"
#include "models/timing/timing_model.h"

namespace servesim {

const RooflineEfficiency& roofline_efficiency(const std::string& name) {
  static const auto table = load_named_specs<RooflineEfficiency>(catalog_dir() + "/efficiency.yaml");
  auto it = table.find(name);
  if (it == table.end()) {
    std::vector<std::string> names;
    for (auto& [k, v] : table) names.push_back(k);
    throw ConfigError(fmt::format("unknown roofline efficiency '{}'; models/catalog/efficiency.yaml has: {}", name,
                                  fmt::join(names, ", ")));
  }
  return it->second;
}

RooflineTiming::RooflineTiming(const ModelSpec& m, const GpuSpec& g, int tp, const RooflineEfficiency& e)
    : m_(m), g_(g), tp_(tp), e_(e) {}

RooflineTiming::Breakdown RooflineTiming::breakdown(const BatchShape& b) const {
  Breakdown out;
  const double tokens = static_cast<double>(b.prefill_tokens + b.decode_seqs);
  const double tp = tp_;
  const double peak = (m_.dtype_bytes == 1 && g_.fp8_tflops > 0 ? g_.fp8_tflops : g_.bf16_tflops) * 1e12;
  const double bw = g_.hbm_gbps * 1e9;
  const double h = m_.hidden_size, V = m_.vocab_size, L = m_.layers;
  // Linear layers. The input embedding is a lookup (no FLOPs, negligible bytes); the LM head
  // runs only for the sequences that emit a token this iteration.
  const double embed = V * h;
  const double lm_tokens = b.decode_seqs + b.prefill_seqs;
  double flops = 2.0 * tokens * (m_.active_params() - 2 * embed) + 2.0 * lm_tokens * embed;
  double weight_params = m_.params_b * 1e9 - embed;
  if (m_.experts > 0) {
    const double ffn = m_.moe_intermediate_size > 0 ? m_.moe_intermediate_size : m_.intermediate_size;
    const double moe_layers = L - m_.dense_layers;
    const double expert_params = moe_layers * m_.experts * 3.0 * h * ffn;
    // expected fraction of experts some token of the batch routes to
    const double touched = 1.0 - std::pow(1.0 - static_cast<double>(m_.top_k) / m_.experts, tokens);
    weight_params -= expert_params * (1.0 - touched);
  }
  const double weight_bytes = weight_params * m_.dtype_bytes;
  out.linear_s = std::max(flops / (tp * peak * e_.compute_efficiency), weight_bytes / (tp * bw * e_.memory_efficiency));
  // Attention: 2 matmuls (QK^T, PV) of 2 FLOPs per multiply-add per (query, key) pair per head dim.
  const double per_pair = 4.0 * L * m_.heads * m_.head_dim;
  const double attn_flops = per_pair * (b.prefill_attention_pairs + static_cast<double>(b.decode_context_tokens));
  const double kv_bytes = static_cast<double>(b.decode_context_tokens) * m_.kv_bytes_per_token();
  out.attention_s = std::max(attn_flops / (tp * peak * e_.attention_efficiency), kv_bytes / (tp * bw * e_.memory_efficiency));
  if (tp_ > 1) {
    const double bytes = tokens * h * m_.dtype_bytes;
    const double ring = 2.0 * (tp - 1) / tp * bytes / (g_.nvlink_gbps * 1e9);
    out.allreduce_s = 2.0 * L * (ring + e_.allreduce_latency_us * 1e-6);
  }
  out.overhead_s = e_.overhead_ms * 1e-3;
  return out;
}

TimeNs RooflineTiming::iteration_ns(const BatchShape& b) const {
  Breakdown d = breakdown(b);
  return std::max<TimeNs>(1, s_to_ns(d.linear_s + d.attention_s + d.allreduce_s + d.overhead_s));
}

SERVESIM_REGISTER(TimingRegistry, "roofline",
                  "analytical: GEMM FLOPs vs weight bytes, attention FLOPs vs KV bytes, TP all-reduce, overhead "
                  "(pool's gpu, model, tp; efficiency factors from the catalog)",
                  [](const TimingContext& ctx) {
                    const Catalog& c = Catalog::builtin();
                    return std::make_unique<RooflineTiming>(c.model(ctx.pool.model), c.gpu(ctx.pool.gpu), ctx.pool.tp,
                                                            roofline_efficiency(ctx.pool.timing.roofline.efficiency));
                  })

}  // namespace servesim
