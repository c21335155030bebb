#pragma once
// The operators of one forward pass of a catalog model on one GPU of a TP group, for a given
// number of tokens: what both the analytical (roofline) and the measured-kernel (kernel)
// timing models add up, so that they cost the same work.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "models/catalog.h"

namespace servesim {

// m x n x k GEMM (m tokens, n outputs, k inputs), run `count` times per iteration. Expert GEMMs
// of one layer run as one fused (grouped) kernel over `group` experts: it streams every
// expert's weights and does every expert's FLOPs, like one m x (group * n) x k GEMM, and pays one
// launch, not `group`.
struct GemmOp {
  const char* name;
  double m, n, k, count;
  double group = 0;  // experts per layer in one fused kernel (0: a plain GEMM)
};

// An iteration's GEMMs (sixteen at most: attention projections, a sparse-attention indexer's two,
// a hybrid's linear-attention two, dense FFN, router, a latent MoE's two projections, expert FFN,
// shared experts, LM head), held inline so that pricing an iteration allocates nothing.
class GemmOps {
 public:
  void push_back(const GemmOp& op) { ops_.at(size_++) = op; }
  const GemmOp* begin() const { return ops_.data(); }
  const GemmOp* end() const { return ops_.data() + size_; }
  size_t size() const { return size_; }

 private:
  std::array<GemmOp, 16> ops_{};
  size_t size_ = 0;
};

// Linear layers for `tokens` tokens through the model, of which `lm_tokens` emit a token (the
// LM head runs for those only). TP shards n of QKV/gate-up and k of O/down. MoE layers run the
// experts the batch is expected to touch on their share of the routed tokens; with expert
// parallelism `ep`, a GPU holds experts / ep experts, sharded over tp / ep GPUs each. Under
// attention data parallelism `moe_ranks` ranks share the experts (a GPU holds experts /
// (ep x moe_ranks)) and the MoE layers route all ranks' `moe_tokens` (the attention and dense
// layers still see this rank's `tokens`).
GemmOps iteration_gemms(const ModelSpec& m, int tp, double tokens, double lm_tokens, int ep = 1,
                        double moe_tokens = -1, int moe_ranks = 1);

// The GPUs a token's top-k experts lie on, expected, when `gpus` GPUs hold equal shares of the
// experts: G (1 - (1 - 1/G)^k). An expert-parallel dispatch sends a token once per GPU (as
// DeepEP and SGLang's all-to-all do), so this many copies, of which (G - 1) / G leave the GPU.
double moe_dispatch_copies(const ModelSpec& m, int gpus);

// Bytes that memory-bound elementwise kernels (residual add + RMSNorm twice, rotary, SiLU-mul)
// move per token per layer on one GPU, and how many such kernels a layer launches.
double elementwise_bytes_per_token_layer(const ModelSpec& m, int tp);
constexpr int kElementwiseKernelsPerLayer = 4;

// The GEMM format an op runs in: the routed experts' own (ModelSpec::expert_precision), an MLA
// model's attention projections' (attention_precision) and MLA's input projections'
// (mla_input_precision), the dense and shared FFNs' and the LM head's (ffn_precision,
// lm_head_precision) where the checkpoint stores them apart, the LM head's bf16 in an NVFP4
// checkpoint, else the model's.
inline bool is_mla_input_projection(const ModelSpec& m, const GemmOp& op) {
  const std::string_view name = op.name;
  return m.kv_lora_rank > 0 && (name == "qkv_proj" || name == "indexer_q" || name == "indexer_k");
}
// An MLA model's attention projections (attention_precision): its input projections, the
// indexer's and o_proj (kv_b_proj is priced with the prefill's attention).
inline bool is_attention_projection(const ModelSpec& m, const GemmOp& op) {
  return is_mla_input_projection(m, op) || (m.kv_lora_rank > 0 && op.name == std::string_view("o_proj"));
}
// The format MLA's input projections (and kv_b_proj) run in.
inline const std::string& mla_input_gemm_precision(const ModelSpec& m) {
  return !m.attention_precision.empty()   ? m.attention_precision
         : !m.mla_input_precision.empty() ? m.mla_input_precision
                                          : m.precision;
}
inline const std::string& gemm_precision(const ModelSpec& m, const GemmOp& op) {
  static const std::string bf16 = "bf16";
  if (op.group > 0 && !m.expert_precision.empty()) return m.expert_precision;
  if (!m.attention_precision.empty() && is_attention_projection(m, op)) return m.attention_precision;
  if (!m.mla_input_precision.empty() && is_mla_input_projection(m, op)) return m.mla_input_precision;
  const std::string_view name = op.name;
  if (!m.ffn_precision.empty() && (name == "gate_up_proj" || name == "down_proj" || name == "shared_gate_up" ||
                                   name == "shared_down"))
    return m.ffn_precision;
  if (!m.lm_head_precision.empty() && name == "lm_head") return m.lm_head_precision;
  if (m.precision == "nvfp4" && name == "lm_head") return bf16;
  return m.precision;
}

// Sliding-window attention: the (query, key) pairs of a causal prompt of s tokens whose keys lie
// within `window` tokens of their query, sum over x = 1..s of min(x, window).
inline double windowed_prompt_pairs(double s, double window) {
  if (s <= window) return s * (s + 1) / 2;
  return window * (window + 1) / 2 + (s - window) * window;
}

// The causal prompt length s with s(s+1)/2 = pairs (query, key) pairs: what a prefill chunk
// after cached tokens costs in attention, as a fresh prompt.
inline double equivalent_prompt_tokens(double pairs) { return std::max(1.0, (std::sqrt(1.0 + 8.0 * pairs) - 1.0) / 2.0); }

// The (query, key) pairs `seqs` prefill chunks of `pairs` pairs in all attend to: all of them, or
// under sparse attention (ModelSpec::sparse_topk) those of a top-k window of each chunk's
// equivalent prompt (which tokens the indexer picks does not change how many).
inline double attended_prompt_pairs(const ModelSpec& m, double pairs, double seqs) {
  if (m.sparse_topk == 0 || seqs <= 0) return pairs;
  return seqs * windowed_prompt_pairs(equivalent_prompt_tokens(pairs / seqs), m.sparse_topk);
}

// A sparse-attention indexer's FLOPs in one layer scoring `pairs` (query, key) pairs: QK^T on all
// its heads (0 without sparse attention).
inline double indexer_flops(const ModelSpec& m, double pairs) {
  return 2.0 * pairs * m.indexer_heads * m.indexer_head_dim;
}

// A hybrid's linear-attention (Gated DeltaNet; Mamba2's chunked scan priced alike: the same state
// shape, read and written once a step) mixing in one layer on one GPU, beyond its
// projections: FLOPs, bytes moved and kernels launched, for what has no measured kernel.
// Prefill (`tokens` of `seqs` prompt chunks): the causal convolution over the query, key and value
// channels, then the chunked delta rule (chunks of kLinearAttentionChunk tokens: within a chunk,
// attention-like products over key and value widths; across chunks, the state read, updated and
// applied once per token), loading and storing each sequence's state once. Decode (`seqs` tokens):
// the convolution's and the recurrence's state read and written per sequence, which dominates.
struct LinearAttentionWork {
  double flops = 0, bytes = 0;
  int kernels = 0;
};
constexpr double kLinearAttentionChunk = 64;  // tokens (the chunk size of FLA's chunk_gated_delta_rule)
LinearAttentionWork linear_attention_prefill(const ModelSpec& m, int tp, double tokens, double seqs);
LinearAttentionWork linear_attention_decode(const ModelSpec& m, int tp, double seqs);

// Activations (and so all-reduce payloads) are bf16 whatever the weight format.
constexpr double kActivationBytes = 2;

// One MoE layer's dispatch (in the deployed dispatch dtype, ModelSpec::moe_dispatch_bytes) and
// combine (bf16) of `values` values per GPU; `exchange(v)` prices an all-to-all of v bf16 values
// per GPU (a timing model's own unit).
template <class Exchange>
double moe_dispatch_and_combine(const ModelSpec& m, double values, const Exchange& exchange) {
  const double combine = exchange(values);
  return combine + (m.moe_dispatch_bytes == kActivationBytes ? combine
                                                             : exchange(values * m.moe_dispatch_bytes / kActivationBytes));
}

}  // namespace servesim
