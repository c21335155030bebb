#include "models/timing/model_ops.h"

#include <algorithm>
#include <cmath>

namespace servesim {

GemmOps iteration_gemms(const ModelSpec& m, int tp, double tokens, double lm_tokens, int ep, double moe_tokens,
                        int moe_ranks) {
  GemmOps ops;
  const double h = m.hidden_size, t = tp;
  const double L = m.layers;
  const double q_width = static_cast<double>(m.heads) * m.head_dim;
  const double kv_width = static_cast<double>(m.kv_heads) * m.head_dim;
  const double value_width = static_cast<double>(m.kv_heads) * m.value_head_dim();
  const double out_width = static_cast<double>(m.heads) * m.value_head_dim();  // what o_proj reads
  // the attention layers' projections (a gated query is twice as wide); a hybrid's linear-attention
  // layers have their own
  const double attention_layers = L - m.linear_layers;
  const double gated_q_width = q_width * (m.attention_output_gate ? 2 : 1);
  if (tokens > 0) {
    ops.push_back({"qkv_proj", tokens, (gated_q_width + kv_width + value_width) / t, h, attention_layers});
    ops.push_back({"o_proj", tokens, h, out_width / t, attention_layers});
    if (m.linear_layers > 0) {
      // the input projection from the hidden state (ModelSpec::linear_in_proj_width); the output
      // projection from the value heads
      const double value_heads_width = static_cast<double>(m.linear_value_heads) * m.linear_value_head_dim;
      ops.push_back({"linear_attention_in_proj", tokens, m.linear_in_proj_width() / t, h,
                     static_cast<double>(m.linear_layers)});
      ops.push_back({"linear_attention_out_proj", tokens, h, value_heads_width / t, static_cast<double>(m.linear_layers)});
    }
    if (m.sparse_topk > 0) {
      // the lightning indexer's projections, replicated on every GPU: its queries from the query
      // LoRA (wq_b), its key and its per-head weights from the hidden state (wk, weights_proj)
      const double indexer_q = static_cast<double>(m.indexer_heads) * m.indexer_head_dim;
      const double indexer_layers = m.indexer_layers();  // (not those sharing an earlier layer's picks)
      ops.push_back(
          {"indexer_q", tokens, indexer_q, m.q_lora_rank > 0 ? static_cast<double>(m.q_lora_rank) : h, indexer_layers});
      ops.push_back({"indexer_k", tokens, static_cast<double>(m.indexer_head_dim + m.indexer_heads), h, indexer_layers});
    }
    // (a squared-ReLU FFN has no gate: its "gate_up" is the up projection alone)
    const double gate_up = m.ffn_matrices() - 1;
    const double dense_layers = m.experts > 0 ? m.dense_layers : m.ffn_layers();
    if (dense_layers > 0) {
      ops.push_back({"gate_up_proj", tokens, gate_up * m.intermediate_size / t, h, dense_layers});
      ops.push_back({"down_proj", tokens, h, m.intermediate_size / t, dense_layers});
    }
    if (m.experts > 0) {
      const double moe_layers = m.moe_layers();
      const double E = m.experts, ffn = m.expert_ffn_size();
      // expected experts touched by `tokens` tokens routing to top_k each, and their share
      const double routed = moe_tokens >= 0 ? moe_tokens : tokens;
      const double touched = E * (1.0 - std::pow(1.0 - static_cast<double>(m.top_k) / E, routed));
      const double per_expert = std::max(1.0, routed * m.top_k / touched);
      const double local = touched / (ep * moe_ranks), expert_tp = t / ep;  // this GPU's share of them
      const double width = m.expert_width();
      ops.push_back({"router", tokens, E, h, moe_layers});
      if (m.moe_latent_size > 0) {
        // into the latent space and back, on every GPU whole: the experts' tensor-parallel slices
        // each read the whole latent, and their partial sums go up before the FFN's all-reduce
        ops.push_back({"moe_latent_down", tokens, width, h, moe_layers});
        ops.push_back({"moe_latent_up", tokens, h, width, moe_layers});
      }
      ops.push_back({"expert_gate_up", per_expert, gate_up * ffn / expert_tp, width, moe_layers * local, local});
      ops.push_back({"expert_down", per_expert, width, ffn / expert_tp, moe_layers * local, local});
      if (m.shared_experts > 0) {
        ops.push_back({"shared_gate_up", tokens, gate_up * ffn * m.shared_experts / t, h, moe_layers});
        ops.push_back({"shared_down", tokens, h, ffn * m.shared_experts / t, moe_layers});
      }
    }
  }
  if (lm_tokens > 0) ops.push_back({"lm_head", lm_tokens, static_cast<double>(m.vocab_size) / t, h, 1});
  return ops;
}

LinearAttentionWork linear_attention_prefill(const ModelSpec& m, int tp, double tokens, double seqs) {
  const double t = tp, dk = m.linear_key_head_dim, dv = m.linear_value_head_dim;
  const double heads = m.linear_value_heads / t, channels = m.linear_conv_channels() / t;
  LinearAttentionWork w;
  w.flops = tokens * heads * (4.0 * kLinearAttentionChunk * (dk + dv) + 6.0 * dk * dv);
  // the convolution reads and writes its channels; the rule reads them and writes the values
  w.bytes = tokens * (2.0 * channels + channels + heads * dv) * kActivationBytes +
            seqs * 2.0 * m.linear_state_bytes_per_layer(tp);
  w.kernels = 2;
  return w;
}

LinearAttentionWork linear_attention_decode(const ModelSpec& m, int tp, double seqs) {
  const double dk = m.linear_key_head_dim, dv = m.linear_value_head_dim;
  const double heads = m.linear_value_heads / static_cast<double>(tp);
  LinearAttentionWork w;
  w.flops = seqs * heads * 6.0 * dk * dv;
  w.bytes = seqs * 2.0 * m.linear_state_bytes_per_layer(tp);
  w.kernels = 2;
  return w;
}

double moe_dispatch_copies(const ModelSpec& m, int gpus) {
  const double g = gpus;
  return g * (1.0 - std::pow(1.0 - 1.0 / g, m.top_k));
}

double elementwise_bytes_per_token_layer(const ModelSpec& m, int tp) {
  const double h = m.hidden_size, t = tp;
  const double qk = (static_cast<double>(m.heads) + m.kv_heads) * m.head_dim / t;
  const double ffn = (m.experts > 0 && m.moe_intermediate_size > 0 ? m.moe_intermediate_size * m.top_k
                                                                     : m.intermediate_size) / t;
  // two fused add+RMSNorm (read x and residual, write both), rotary in place on q and k,
  // SiLU-and-mul (read gate and up, write one; squared ReLU: read up, write one)
  return kActivationBytes * (2 * 4 * h + 2 * qk + (m.gated_ffn ? 3 : 2) * ffn);
}

}  // namespace servesim
