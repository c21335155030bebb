#include "models/power.h"

#include <algorithm>

#include "models/timing/model_ops.h"

namespace servesim {

namespace {
double gemm_flops(const GemmOps& ops) {
  double f = 0;
  for (const GemmOp& op : ops) f += 2 * op.m * op.n * op.k * op.count;
  return f;
}
double gemm_weight_bytes(const GemmOps& ops, const ModelSpec& m) {
  double b = 0;
  for (const GemmOp& op : ops)
    b += op.n * op.k * op.count *
         (op.group > 0              ? m.expert_bytes_per_param()
          : m.precision == "nvfp4" ? ModelSpec::bytes_per_weight(gemm_precision(m, op))
                                   : static_cast<double>(m.dtype_bytes));
  return b;
}
}  // namespace

PowerModel::PowerModel(const ModelSpec& model, const GpuSpec& gpu, int tp, int ep, const PowerConfig& curve)
    : m_(model),
      tp_(tp),
      ep_(ep),
      curve_(curve),
      peak_flops_((model.precision == "nvfp4"                         ? gpu.fp4_tflops
                   : model.precision != "bf16" && gpu.fp8_tflops > 0 ? gpu.fp8_tflops
                                                                     : gpu.bf16_tflops) *
                  1e12),
      bandwidth_bytes_per_s_(gpu.hbm_gbps * 1e9),
      tdp_w_(gpu.tdp_w * tp),
      idle_w_(gpu.tdp_w * tp * curve.idle()),
      compute_j_per_flop_(curve.compute_slope / peak_flops_),
      memory_j_per_byte_(curve.memory_slope / bandwidth_bytes_per_s_) {
  // a dense model's GEMMs do FLOPs in proportion to their tokens and read their weights once
  const GemmOps body = iteration_gemms(m_, tp_, 1, 0, ep_), head = iteration_gemms(m_, tp_, 0, 1, ep_);
  dense_ = {gemm_flops(body), gemm_weight_bytes(body, m_), gemm_flops(head),
            gemm_weight_bytes(head, m_)};
}

PowerModel PowerModel::for_pool(const PoolConfig& pool, const Catalog& catalog) {
  return PowerModel(catalog.deployed_model(pool), catalog.gpu(pool.gpu), pool.tp, pool.expert_parallel, pool.power);
}

PowerModel::Work PowerModel::work(const BatchShape& b) const {
  const std::int64_t tokens = b.computed_tokens();
  const std::int64_t sequences = b.prefill_seqs + b.decode_computed_tokens();
  const auto t = static_cast<double>(tokens), n = static_cast<double>(sequences);
  double flops = t * dense_.body_flops_per_token + n * dense_.head_flops_per_token;
  double bytes = (tokens > 0 ? dense_.body_bytes : 0) + (sequences > 0 ? dense_.head_bytes : 0);
  if (m_.experts > 0) {  // the experts a batch touches grow with its tokens: memoised by count
    flops = body_flops_.get(static_cast<size_t>(tokens), [&] {
              return gemm_flops(iteration_gemms(m_, tp_, t, 0, ep_));
            }) + n * dense_.head_flops_per_token;
    bytes = body_bytes_.get(static_cast<size_t>(tokens), [&] {
              return gemm_weight_bytes(iteration_gemms(m_, tp_, t, 0, ep_), m_);
            }) + (sequences > 0 ? dense_.head_bytes : 0);
  }
  // attention: QK^T and PV over every (query, key) pair a query attends to (sparse attention: its
  // top-k, while the indexer scores every pair), on this GPU's heads; decodes read their KV
  const double head_width = static_cast<double>(std::max(1, m_.heads / tp_)) * m_.attention_head_dim();
  const double context = static_cast<double>(b.decode_context_tokens);
  flops += 4 * (m_.layers - m_.linear_layers) * head_width *
           (attended_prompt_pairs(m_, b.prefill_attention_pairs, b.prefill_seqs) +
            m_.decode_attended_tokens(context, b.decode_seqs) * b.decode_query_tokens);
  if (m_.sparse_topk > 0)
    flops += m_.indexer_layers() * indexer_flops(m_, b.prefill_attention_pairs + context * b.decode_query_tokens);
  bytes += m_.decode_kv_read_bytes(context, b.decode_seqs) /
           (m_.kv_lora_rank > 0 ? 1 : std::min(tp_, m_.kv_heads));
  // a hybrid's linear-attention layers: the work the roofline prices
  auto add_linear = [&](const LinearAttentionWork& w) {
    flops += m_.linear_layers * w.flops;
    bytes += m_.linear_layers * w.bytes;
  };
  if (m_.linear_layers > 0 && b.prefill_seqs > 0)
    add_linear(linear_attention_prefill(m_, tp_, static_cast<double>(b.prefill_tokens), b.prefill_seqs));
  if (m_.linear_layers > 0 && b.decode_seqs > 0) add_linear(linear_attention_decode(m_, tp_, b.decode_seqs));
  return {flops, bytes};
}

PowerModel::Utilisation PowerModel::utilisation(const BatchShape& b, TimeNs duration_ns) const {
  const Work w = work(b);
  const double s = ns_to_s(std::max<TimeNs>(1, duration_ns));
  return {w.flops / (peak_flops_ * s), w.bytes / (bandwidth_bytes_per_s_ * s)};
}

double PowerModel::busy_j(const BatchShape& b, TimeNs duration_ns) const {
  // tdp x s x min(1, floor + slope_c flops / (peak s) + slope_m bytes / (bw s)), the s multiplied in
  const Work w = work(b);
  const double s = ns_to_s(duration_ns);
  return tdp_w_ * std::min(s, s * curve_.busy_floor + compute_j_per_flop_ * w.flops + memory_j_per_byte_ * w.bytes);
}

double PowerModel::fraction(const Utilisation& u) const {
  return std::min(1.0, curve_.busy_floor + curve_.compute_slope * u.compute + curve_.memory_slope * u.memory);
}

double PowerModel::busy_w(const BatchShape& b, TimeNs duration_ns) const {
  return tdp_w_ * fraction(utilisation(b, duration_ns));
}

}  // namespace servesim
