#pragma once
// The catalog: GPU and model specifications as data (models/catalog/*.yaml), and what follows
// from them: weight bytes, KV bytes per token, and a worker's KV-cache capacity.
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "models/kv_host_tier.h"
#include "models/memory_ledger.h"
#include "models/pool_config.h"

namespace servesim {

struct GpuSpec {
  std::string description, source;
  double memory_gib = 0, hbm_gbps = 0, bf16_tflops = 0, fp8_tflops = 0, nvlink_gbps = 0;
  double fp4_tflops = 0;  // dense FP4 tensor-core peak (Blackwell); 0: no FP4 units
  double tdp_w = 0;  // board power limit (what a data center provisions per GPU)
  std::optional<double> memory_reported_gib;  // what the CUDA driver reports (engines take fractions of it)
  // The node the GPU comes in: GPUs on one NVLink domain, and each GPU's share of the node's
  // network to other nodes (GB/s, one direction). Unset where no source gives them.
  std::optional<int> gpus_per_node;
  std::optional<double> internode_gbps;
  double engine_visible_gib() const { return memory_reported_gib.value_or(memory_gib); }
  template <class V>
  void visit(V& v) {
    v.field("description", description, "");
    v.field("tdp_w", tdp_w, "", config::positive());
    v.field("memory_gib", memory_gib, "", config::positive());
    v.field("memory_reported_gib", memory_reported_gib, "", config::positive());
    v.field("hbm_gbps", hbm_gbps, "", config::positive());
    v.field("bf16_tflops", bf16_tflops, "", config::positive());
    v.field("fp8_tflops", fp8_tflops, "", config::at_least(0));
    v.field("fp4_tflops", fp4_tflops, "", config::at_least(0));
    v.field("nvlink_gbps", nvlink_gbps, "", config::positive());
    v.field("gpus_per_node", gpus_per_node, "", config::at_least(1));
    v.field("internode_gbps", internode_gbps, "", config::positive());
    v.field("source", source, "");
  }
};

struct ModelSpec {
  std::string hf_id;
  std::vector<std::string> same_architecture;  // other checkpoints' ids with identical shapes
  double params_b = 0, active_params_b = 0;  // active 0 = dense (all params active)
  int dtype_bytes = 2;     // weights as the checkpoint stores them
  int kv_dtype_bytes = 2;  // KV cache entries (engines default to the activation dtype, bf16)
  // As deployed (pools[].moe_dispatch), not in the catalog: the bytes per value of the tokens an
  // attention-DP MoE layer dispatches to its experts' GPUs (the combine brings bf16 back)
  double moe_dispatch_bytes = 2;
  // GEMM format: bf16 | fp8 (per-tensor scales) | fp8_block (block scales) | nvfp4 (NVIDIA's FP4:
  // 4-bit values, an FP8 scale per 16; the LM head and embeddings stay bf16, as ModelOpt keeps them)
  std::string precision = "bf16";
  // The routed experts' own weight format where the checkpoint stores them apart from the rest:
  // "" (as `precision`) | mxfp4 (OCP microscaling FP4: 4-bit values, one 8-bit scale per 32, as
  // gpt-oss ships; run as w4a16: weights dequantised to bf16 inside the kernel) | nvfp4 (FP4 MoE
  // checkpoints whose attention stays bf16) | int4 (4-bit integers, a bf16 scale per 32, as the
  // compressed-tensors W4A16 group-32 checkpoint of Kimi K2.5 ships them; run as w4a16)
  std::string expert_precision;
  // MLA's input projections (q_a, q_b, kv_a, kv_b; q_proj without a query LoRA) and a sparse
  // attention indexer's, where the checkpoint stores them apart from the rest: "" (as `precision`)
  // | bf16 (NVIDIA's NVFP4 exports of DeepSeek-V3.1 and V3.2 keep them so; o_proj is NVFP4)
  std::string mla_input_precision;
  // Every attention projection of an MLA model (MLA's input projections, kv_b, o_proj and a sparse
  // attention indexer's) where the checkpoint stores them apart from the rest: "" (as `precision`)
  // | bf16 (NVIDIA's NVFP4 exports of GLM-5 and Kimi K2.5 keep attention whole so; every FFN,
  // dense, shared and routed, is NVFP4)
  std::string attention_precision;
  // The dense FFN layers' and shared experts' GEMMs, and the LM head's, where the checkpoint stores
  // them apart from `precision`: "" (as `precision`; the LM head bf16 beside nvfp4) | a format
  // (NVIDIA's mixed-precision Qwen3.6 exports: FP8 attention, nvfp4_w4a16 FFNs, experts and LM head)
  std::string ffn_precision, lm_head_precision;
  int layers = 0, hidden_size = 0, heads = 0, kv_heads = 0, head_dim = 0, intermediate_size = 0, vocab_size = 0;
  int experts = 0, top_k = 0, shared_experts = 0, moe_intermediate_size = 0, dense_layers = 0;
  // Latent MoE (Nemotron-3 Super): each MoE layer projects a token down to this width, routes it
  // and runs the routed experts there, then projects their sum back up; 0: experts at the hidden
  // size. The shared experts stay at the hidden size.
  int moe_latent_size = 0;
  // MLA: the compressed KV and query ranks (q_lora_rank 0: queries projected from the hidden
  // state directly); the no-RoPE query/key head dim is head_dim, the value head dim v_head_dim
  // (0: head_dim, as DeepSeek's; GLM-5's values are wider, 256 against 192)
  int kv_lora_rank = 0, qk_rope_head_dim = 0, q_lora_rank = 0, v_head_dim = 0;
  // Sliding-window attention: `sliding_layers` of the layers attend to the last
  // `sliding_window` tokens only (gpt-oss: every other layer, 128 tokens); 0: none
  int sliding_window = 0, sliding_layers = 0;
  // DeepSeek sparse attention (DSA, DeepSeek-V3.2): each query attends to the `sparse_topk`
  // context tokens a lightning indexer picks (`indexer_heads` heads of `indexer_head_dim`, run over
  // the whole context, its projections replicated on every GPU); 0: dense attention
  int sparse_topk = 0, indexer_heads = 0, indexer_head_dim = 0;
  // Of those layers, how many reuse an earlier layer's indexer picks instead of running an
  // indexer (GLM-5.2's indexer_types: shared): no indexer compute or indexer keys of their own
  int shared_indexer_layers = 0;
  // Linear attention (Gated DeltaNet: Qwen3.5, Qwen3-Next; Mamba2: Nemotron-H, see linear_mixer):
  // `linear_layers` of the layers hold a fixed recurrent state per sequence instead of a KV
  // cache: a short causal convolution over the query, key and value channels
  // (`linear_conv_kernel` taps) and a value x key state per value head, kept in
  // `linear_state_dtype_bytes` (the checkpoint's mamba_ssm_dtype: fp32 for Qwen3.5). The other
  // layers are full attention, whose query projection also emits a gate per head where
  // `attention_output_gate` (twice its width). 0: none
  int linear_layers = 0, linear_key_heads = 0, linear_value_heads = 0, linear_key_head_dim = 0,
      linear_value_head_dim = 0, linear_conv_kernel = 0, linear_state_dtype_bytes = 0;
  bool attention_output_gate = false;
  // Which recurrent mixer the linear layers run: gated_deltanet (Qwen3.5) | mamba2 (Nemotron-H,
  // whose state has the same shape: the key heads are its groups of B and C, the key head dim
  // its state size, the value heads its heads)
  std::string linear_mixer = "gated_deltanet";
  // Layers that are a mixer only, with no FFN after them (Nemotron-H's attention layers: its
  // pattern alternates mixer-only and FFN-only layers, counted here as mixers each followed by
  // an FFN but these)
  int ffn_free_layers = 0;
  // Gate, up and down projections (SwiGLU), or up and down only (squared ReLU: Nemotron-H)
  bool gated_ffn = true;
  template <class V>
  void visit(V& v) {
    v.field("hf_id", hf_id, "");
    v.field("same_architecture", same_architecture, "");
    v.field("params_b", params_b, "", config::positive());
    v.field("active_params_b", active_params_b, "", config::at_least(0));
    v.field("dtype_bytes", dtype_bytes, "", config::between(1, 4));
    v.field("kv_dtype_bytes", kv_dtype_bytes, "", config::between(1, 4));
    v.field("precision", precision, "", config::one_of({"bf16", "fp8", "fp8_block", "nvfp4"}));
    v.field("expert_precision", expert_precision, "", config::one_of({"", "mxfp4", "nvfp4", "int4", "nvfp4_w4a16"}));
    v.field("mla_input_precision", mla_input_precision, "", config::one_of({"", "bf16"}));
    v.field("attention_precision", attention_precision, "", config::one_of({"", "bf16"}));
    v.field("ffn_precision", ffn_precision, "", config::one_of({"", "bf16", "fp8", "nvfp4", "nvfp4_w4a16"}));
    v.field("lm_head_precision", lm_head_precision, "", config::one_of({"", "bf16", "fp8", "nvfp4", "nvfp4_w4a16"}));
    v.field("layers", layers, "", config::at_least(1));
    v.field("hidden_size", hidden_size, "", config::at_least(1));
    v.field("heads", heads, "", config::at_least(1));
    v.field("kv_heads", kv_heads, "", config::at_least(1));
    v.field("head_dim", head_dim, "", config::at_least(1));
    v.field("intermediate_size", intermediate_size, "", config::at_least(1));
    v.field("vocab_size", vocab_size, "", config::at_least(1));
    v.field("experts", experts, "", config::at_least(0));
    v.field("top_k", top_k, "", config::at_least(0));
    v.field("shared_experts", shared_experts, "", config::at_least(0));
    v.field("moe_intermediate_size", moe_intermediate_size, "", config::at_least(0));
    v.field("dense_layers", dense_layers, "", config::at_least(0));
    v.field("moe_latent_size", moe_latent_size, "", config::at_least(0));
    v.field("kv_lora_rank", kv_lora_rank, "", config::at_least(0));
    v.field("qk_rope_head_dim", qk_rope_head_dim, "", config::at_least(0));
    v.field("q_lora_rank", q_lora_rank, "", config::at_least(0));
    v.field("v_head_dim", v_head_dim, "", config::at_least(0));
    v.field("sliding_window", sliding_window, "", config::at_least(0));
    v.field("sliding_layers", sliding_layers, "", config::at_least(0));
    v.field("sparse_topk", sparse_topk, "", config::at_least(0));
    v.field("indexer_heads", indexer_heads, "", config::at_least(0));
    v.field("indexer_head_dim", indexer_head_dim, "", config::at_least(0));
    v.field("shared_indexer_layers", shared_indexer_layers, "", config::at_least(0));
    v.field("linear_layers", linear_layers, "", config::at_least(0));
    v.field("linear_key_heads", linear_key_heads, "", config::at_least(0));
    v.field("linear_value_heads", linear_value_heads, "", config::at_least(0));
    v.field("linear_key_head_dim", linear_key_head_dim, "", config::at_least(0));
    v.field("linear_value_head_dim", linear_value_head_dim, "", config::at_least(0));
    v.field("linear_conv_kernel", linear_conv_kernel, "", config::at_least(0));
    v.field("linear_state_dtype_bytes", linear_state_dtype_bytes, "", config::between(0, 4));
    v.field("attention_output_gate", attention_output_gate, "");
    v.field("linear_mixer", linear_mixer, "", config::one_of({"gated_deltanet", "mamba2"}));
    v.field("ffn_free_layers", ffn_free_layers, "", config::at_least(0));
    v.field("gated_ffn", gated_ffn, "");
  }
  // The layers with an FFN, and of those the MoE ones
  int ffn_layers() const { return layers - ffn_free_layers; }
  int moe_layers() const { return experts > 0 ? ffn_layers() - dense_layers : 0; }
  // An FFN's weight matrices: gate, up and down, or up and down
  double ffn_matrices() const { return gated_ffn ? 3.0 : 2.0; }
  // A value head's width: head_dim but where an MLA model's values differ (v_head_dim)
  int value_head_dim() const { return v_head_dim > 0 ? v_head_dim : head_dim; }
  // The head width attention's two products see on average: QK^T over head_dim, PV over the
  // value head dim (so 4 x pairs x heads x this is attention's FLOPs)
  double attention_head_dim() const { return (head_dim + value_head_dim()) / 2.0; }
  bool is_checkpoint(const std::string& id) const {
    return id == hf_id || std::find(same_architecture.begin(), same_architecture.end(), id) != same_architecture.end();
  }
  // Bytes per weight of a GEMM format: MXFP4 is 4 bits plus an 8-bit scale per 32 values, NVFP4
  // 4 bits plus an FP8 scale per 16 (also as nvfp4_w4a16: NVFP4 weights beside bf16 activations),
  // int4 4 bits plus a bf16 scale per 32.
  static double bytes_per_weight(const std::string& format) {
    return format == "mxfp4"                               ? (4.0 + 8.0 / 32) / 8
           : format == "nvfp4" || format == "nvfp4_w4a16" ? (4.0 + 8.0 / 16) / 8
           : format == "int4"  ? (4.0 + 16.0 / 32) / 8
           : format == "bf16"  ? 2
                               : 1;
  }
  // Bytes per routed-expert parameter.
  double expert_bytes_per_param() const {
    return !expert_precision.empty() ? bytes_per_weight(expert_precision)
           : precision == "nvfp4"    ? bytes_per_weight(precision)
                                     : dtype_bytes;
  }
  // The embedding table and the LM head: bf16 in NVFP4 checkpoints, else as the rest.
  double vocab_params() const { return static_cast<double>(vocab_size) * hidden_size * 2; }
  // the width routed experts read and write: the latent size in a latent MoE, else the hidden size
  int expert_width() const { return moe_latent_size > 0 ? moe_latent_size : hidden_size; }
  // a routed expert's FFN size: moe_intermediate_size where given, else the dense one
  int expert_ffn_size() const { return moe_intermediate_size > 0 ? moe_intermediate_size : intermediate_size; }
  // the routed experts' parameters (every expert's gate, up and down, or up and down, in every
  // MoE layer)
  double routed_expert_params() const {
    return static_cast<double>(moe_layers()) * experts * ffn_matrices() * expert_width() * expert_ffn_size();
  }
  // MLA's input projections and the indexer's (mla_input_precision): every layer's q_a and q_b (or
  // q_proj), kv_a and kv_b, and the indexer's wq_b, wk and weights_proj in the layers that run it
  double mla_input_params() const {
    if (kv_lora_rank == 0) return 0;
    const double h = hidden_size, H = heads, q_head = head_dim + qk_rope_head_dim;
    const double per_layer = (q_lora_rank > 0 ? h * q_lora_rank + q_lora_rank * H * q_head : h * H * q_head) +
                             h * (kv_lora_rank + qk_rope_head_dim) + kv_lora_rank * H * (head_dim + value_head_dim());
    const double indexer = sparse_topk > 0 ? static_cast<double>(q_lora_rank > 0 ? q_lora_rank : hidden_size) *
                                                     indexer_heads * indexer_head_dim +
                                                 h * (indexer_head_dim + indexer_heads)
                                           : 0;
    return layers * per_layer + indexer_layers() * indexer;
  }
  // an MLA model's attention projections (attention_precision): the MLA inputs and the indexer's
  // (mla_input_params) and every layer's o_proj
  double attention_params() const {
    if (kv_lora_rank == 0) return 0;
    return mla_input_params() + static_cast<double>(layers) * heads * value_head_dim() * hidden_size;
  }
  // the dense FFN layers' and the shared experts' parameters (ffn_precision)
  double dense_and_shared_ffn_params() const {
    const double h = hidden_size, gated = ffn_matrices();
    if (experts == 0) return static_cast<double>(ffn_layers()) * gated * h * intermediate_size;
    return dense_layers * gated * h * intermediate_size +
           static_cast<double>(moe_layers()) * shared_experts * gated * h * moe_intermediate_size;
  }
  double weight_bytes() const {
    double bytes;
    if (precision == "nvfp4")
      bytes = vocab_params() * 2 +
              (params_b * 1e9 - vocab_params() - routed_expert_params()) * bytes_per_weight(precision) +
              routed_expert_params() * expert_bytes_per_param();
    else if (expert_precision.empty()) bytes = params_b * 1e9 * dtype_bytes;
    else
      bytes = (params_b * 1e9 - routed_expert_params()) * dtype_bytes + routed_expert_params() * expert_bytes_per_param();
    if (!mla_input_precision.empty())
      bytes += mla_input_params() * (bytes_per_weight(mla_input_precision) - bytes_per_weight(precision));
    if (!attention_precision.empty())
      bytes += attention_params() * (bytes_per_weight(attention_precision) - bytes_per_weight(precision));
    // what the lines above counted these in: `precision` (its bytes; the LM head bf16 beside nvfp4)
    const double base = precision == "nvfp4" ? bytes_per_weight(precision) : dtype_bytes;
    if (!ffn_precision.empty()) bytes += dense_and_shared_ffn_params() * (bytes_per_weight(ffn_precision) - base);
    if (!lm_head_precision.empty())
      bytes += static_cast<double>(vocab_size) * hidden_size *
               (bytes_per_weight(lm_head_precision) - (precision == "nvfp4" ? 2 : dtype_bytes));
    return bytes;
  }
  // the routed experts' share of them
  double routed_expert_bytes() const { return routed_expert_params() * expert_bytes_per_param(); }
  double active_params() const { return (active_params_b > 0 ? active_params_b : params_b) * 1e9; }
  int full_attention_layers() const { return layers - (sliding_window > 0 ? sliding_layers : 0) - linear_layers; }
  // Linear attention, per GPU of a tp-way worker (vLLM's gated_delta_net_state_shape: heads and
  // channels split over the GPUs): the convolution's last kernel - 1 inputs of the query, key and
  // value channels (in the activation dtype, bf16) and the recurrent state, for one sequence in
  // one layer.
  double linear_conv_channels() const {
    return 2.0 * linear_key_heads * linear_key_head_dim + static_cast<double>(linear_value_heads) * linear_value_head_dim;
  }
  // A linear layer's input projection: queries (Mamba2: B and C), keys, values (x), the output
  // gate z, and per head b and a (Gated DeltaNet) or dt (Mamba2)
  double linear_in_proj_width() const {
    return linear_conv_channels() + static_cast<double>(linear_value_heads) * linear_value_head_dim +
           (linear_mixer == "mamba2" ? 1.0 : 2.0) * linear_value_heads;
  }
  double linear_state_bytes_per_layer(int tp) const {
    if (linear_layers == 0) return 0;
    const double conv = linear_conv_channels() / tp * (linear_conv_kernel - 1) * 2.0;
    const double recurrent = static_cast<double>(linear_value_heads) / tp * linear_key_head_dim * linear_value_head_dim *
                             linear_state_dtype_bytes;
    return conv + recurrent;
  }
  int windowed_layers() const { return sliding_window > 0 ? sliding_layers : 0; }
  // Bytes of KV cache per token of context, summed over layers and heads (before TP sharding):
  // the full-attention layers'. A sliding-window layer keeps only its window's tokens (vLLM's
  // hybrid KV cache manager frees the blocks that slide out), so it adds at most the window's
  // tokens x window_kv_bytes_per_token() per sequence, which the cache does not count
  // (docs/limits.md).
  // With sparse attention it holds the indexer's keys too (indexer_kv_bytes_per_token).
  double kv_bytes_per_token() const { return attention_kv_bytes_per_token() + indexer_kv_bytes_per_token(); }
  // What attention reads of it per token: the full-attention layers' keys and values (MLA: latents).
  double attention_kv_bytes_per_token() const {
    if (kv_lora_rank > 0) return static_cast<double>(layers) * (kv_lora_rank + qk_rope_head_dim) * kv_dtype_bytes;
    return 2.0 * full_attention_layers() * kv_heads * head_dim * kv_dtype_bytes;
  }
  // The layers that run a sparse-attention indexer (0 without sparse attention).
  int indexer_layers() const { return sparse_topk > 0 ? layers - shared_indexer_layers : 0; }
  // The sparse-attention indexer's key per token, in each layer that runs one, as DeepSeek's
  // reference indexer caches it: indexer_head_dim FP8 values and an FP32 scale per 128 of them.
  double indexer_kv_bytes_per_token() const {
    return sparse_topk > 0 ? static_cast<double>(indexer_layers()) * (indexer_head_dim + 4.0 * indexer_head_dim / 128)
                           : 0;
  }
  // KV bytes decoding reads for `seqs` sequences whose contexts hold `context_tokens` in all (all
  // layers, before TP sharding): every token's, but under sparse attention only the latents of
  // the top-k tokens (from the mean context) beside every token's indexer key.
  double decode_kv_read_bytes(double context_tokens, double seqs) const {
    if (sparse_topk == 0) return context_tokens * kv_bytes_per_token();
    return decode_attended_tokens(context_tokens, seqs) * attention_kv_bytes_per_token() +
           context_tokens * indexer_kv_bytes_per_token();
  }
  // The context tokens decoding `seqs` sequences of `context_tokens` in all attends to: all of
  // them, or under sparse attention the top-k of each (from the mean context).
  double decode_attended_tokens(double context_tokens, double seqs) const {
    if (sparse_topk == 0 || seqs <= 0) return context_tokens;
    return seqs * std::min(context_tokens / seqs, static_cast<double>(sparse_topk));
  }
  // A sliding-window layer's KV bytes per token (0 without such layers), summed over them.
  double window_kv_bytes_per_token() const { return 2.0 * windowed_layers() * kv_heads * head_dim * kv_dtype_bytes; }
};

// What makes a model's shapes unusable, and the fix: the checks every models.yaml entry and
// every config.json read as a model pass (null if none fails).
struct ModelProblem {
  std::string what, fix;
};
std::optional<ModelProblem> model_problem(const ModelSpec& m);

// Defaults a framework picks on smaller GPUs (vLLM: below 70 GiB, and on A100s, a smaller token
// budget and fewer sequences for the OpenAI server).
struct SmallGpuDefaults {
  double below_gib = 0;           // GPUs with less memory than this (0: no such rule)
  std::vector<std::string> also;  // and these catalog GPUs whatever their memory
  int max_num_batched_tokens = 0, max_num_seqs = 0;
  template <class V>
  void visit(V& v) {
    v.field("below_gib", below_gib, "", config::at_least(0));
    v.field("also", also, "");
    v.field("max_num_batched_tokens", max_num_batched_tokens, "", config::at_least(1));
    v.field("max_num_seqs", max_num_seqs, "", config::at_least(1));
  }
  bool covers(const std::string& gpu_name, const GpuSpec& gpu) const {
    return gpu.engine_visible_gib() < below_gib || std::find(also.begin(), also.end(), gpu_name) != also.end();
  }
};

// A serving framework's engine defaults (models/catalog/engines.yaml).
struct EnginePreset {
  std::string scheduler, source;
  int block_size = 16, max_num_batched_tokens = 8192, max_num_seqs = 256;
  double gpu_memory_utilization = 0.9;
  bool enable_chunked_prefill = true;
  std::string capacity_policy = "max_utilization";
  std::string memory_rule = "vllm_v1";
  double iteration_overhead_ms = 0;  // per iteration beyond the GPU kernels (kernel timing model)
  double request_latency_ms = 0;     // per request before routing (frontend.request_latency)
  // How the measured benchmark client's requests were phased (check-silicon's default --start)
  std::string client_start = "burst";
  std::optional<SmallGpuDefaults> small_gpu;
  template <class V>
  void visit(V& v) {
    v.field("scheduler", scheduler, "");
    v.field("request_latency_ms", request_latency_ms, "", config::at_least(0));
    v.field("iteration_overhead_ms", iteration_overhead_ms, "", config::at_least(0));
    v.field("client_start", client_start, "", config::one_of({"burst", "ramp", "lockstep"}));
    v.field("block_size", block_size, "", config::at_least(1));
    v.field("max_num_batched_tokens", max_num_batched_tokens, "", config::at_least(1));
    v.field("max_num_seqs", max_num_seqs, "", config::at_least(1));
    v.field("gpu_memory_utilization", gpu_memory_utilization, "", config::between(0.05, 1));
    v.field("enable_chunked_prefill", enable_chunked_prefill, "");
    v.field("capacity_policy", capacity_policy, "", config::one_of({"max_utilization", "guaranteed_no_evict"}));
    v.field("memory_rule", memory_rule, "", config::one_of(memory_rule_names()));
    v.field("small_gpu", small_gpu, "");
    v.field("source", source, "");
  }
  // The preset's settings for a pool on `gpu_name`.
  void apply(EngineConfig& e, const std::string& gpu_name, const GpuSpec& gpu) const {
    e.scheduler = scheduler;
    e.block_size = block_size;
    e.max_num_batched_tokens = max_num_batched_tokens;
    e.max_num_seqs = max_num_seqs;
    e.gpu_memory_utilization = gpu_memory_utilization;
    e.enable_chunked_prefill = enable_chunked_prefill;
    e.capacity_policy = capacity_policy;
    e.memory_rule = memory_rule;
    if (small_gpu && small_gpu->covers(gpu_name, gpu)) {
      e.max_num_batched_tokens = small_gpu->max_num_batched_tokens;
      e.max_num_seqs = small_gpu->max_num_seqs;
    }
  }
};

// The folder of the shipped catalog (SERVESIM_CATALOG_DIR overrides it).
std::string catalog_dir();

// The catalog search path: the built-in folder, then each folder of SERVESIM_CATALOG_PATH
// (':'-separated), which `--catalog DIR` and a scenario's own `catalog/` folder extend. Each
// folder may hold gpus.yaml, models.yaml, engines.yaml, efficiency.yaml and efficiency/*.yaml
// (the built-in one holds all); an entry name defined in two folders is an error naming both
// files. The path lives in the environment so that the runs a sweep or suite starts inherit it.
// Throws ConfigError for a path entry that is not a folder.
std::vector<std::string> catalog_search_path();
// Appends `dir` (made absolute) to SERVESIM_CATALOG_PATH unless it is already there.
void add_catalog_folder(const std::string& dir);
// Every entry of `file` (one of the catalog's YAML files) in each folder of the search path, merged.
template <class Spec>
std::map<std::string, Spec> load_from_search_path(const std::string& file, bool builtin_required);

// Reads a YAML file mapping names to specs (each a visitable struct), rejecting unknown keys.
template <class Spec>
std::map<std::string, Spec> load_named_specs(const std::string& path) {
  config::Document doc = config::Document::from_file(path);
  config::SourceMap map(path);
  if (!doc.root().IsMap()) throw ConfigError(fmt::format("{}: expected a mapping of names to entries", path));
  std::map<std::string, Spec> out;
  for (auto it = doc.root().begin(); it != doc.root().end(); ++it) {
    std::string name = it->first.as<std::string>();
    Spec spec{};
    config::Reader r(it->second, name, doc, map);
    spec.visit(r);
    r.finish();
    out.emplace(name, spec);
  }
  return out;
}

template <class Spec>
std::map<std::string, Spec> load_from_search_path(const std::string& file, bool builtin_required) {
  std::map<std::string, Spec> out;
  std::map<std::string, std::string> defined_in;
  const auto path = catalog_search_path();
  for (size_t i = 0; i < path.size(); ++i) {
    const std::string f = path[i] + "/" + file;
    if (!(i == 0 && builtin_required) && !std::filesystem::exists(f)) continue;
    for (auto& [name, spec] : load_named_specs<Spec>(f)) {
      auto [it, fresh] = defined_in.emplace(name, f);
      if (!fresh)
        throw ConfigError(fmt::format("{}: entry '{}' is already defined in {} on the catalog path; rename one", f, name,
                                      it->second));
      out.emplace(name, std::move(spec));
    }
  }
  return out;
}

class Catalog {
 public:
  // Loads gpus.yaml, models.yaml and engines.yaml from every folder of the search path (throws
  // ConfigError naming the file), and registers each checkpoint whose config.json lies in a
  // model_configs/ folder (the repository's data/aiconfigurator/model_configs, then each catalog
  // folder's) under its id, e.g. moonshotai/Kimi-K2-Instruct (models/hf_config.h), unless an
  // entry of models.yaml already names that checkpoint.
  static Catalog load();
  // The catalog of the current search path, loaded once per distinct path.
  static const Catalog& builtin();

  const GpuSpec& gpu(const std::string& name) const;
  const ModelSpec& model(const std::string& name) const;
  // The pool's model as deployed: the catalog entry with the pool's precision and
  // kv_cache_dtype applied (weights, GEMM format and KV bytes follow them).
  ModelSpec deployed_model(const PoolConfig& pool) const;
  const std::map<std::string, GpuSpec>& gpus() const { return gpus_; }
  // The catalog GPU of an aiconfigurator system (h100_sxm, h200_sxm, b200_sxm, ...; the catalog
  // names them h100_sxm, h200, b200): the exact name, else without its form-factor suffix.
  std::optional<std::string> gpu_of_system(const std::string& system) const;
  const std::map<std::string, ModelSpec>& models() const { return models_; }
  // A model by its catalog name, else by the checkpoint id an entry is of (its hf_id:
  // `Qwen/Qwen3-32B` is the entry qwen3-32b); null if none. (Not by same_architecture: those
  // checkpoints share the shapes, not always the weights' format.)
  const ModelSpec* find_model(const std::string& name) const;
  bool has_model(const std::string& name) const { return find_model(name) != nullptr; }
  // The catalog entry that lists this checkpoint id as its same_architecture (null if none): what
  // an error for the id can point to.
  const std::string* entry_of_architecture(const std::string& id) const {
    for (const auto& [entry, m] : models_)
      if (std::find(m.same_architecture.begin(), m.same_architecture.end(), id) != m.same_architecture.end())
        return &entry;
    return nullptr;
  }
  // Why a config.json naming this checkpoint was not read as a model (null if none was refused).
  const std::string* unreadable_config(const std::string& id) const {
    auto it = unreadable_configs_.find(id);
    return it == unreadable_configs_.end() ? nullptr : &it->second;
  }
  const std::map<std::string, EnginePreset>& engines() const { return engines_; }
  const EnginePreset& engine(const std::string& framework) const;

 private:
  std::map<std::string, GpuSpec> gpus_;
  std::map<std::string, ModelSpec> models_;
  std::map<std::string, std::string> unreadable_configs_;  // checkpoint id -> why its config.json was not read
  std::map<std::string, EnginePreset> engines_;
};

// A hybrid linear-attention model's KV cache as vLLM V1 lays it out: one pool of blocks for both
// kinds of layers. Layers are grouped by kind in groups of the full-attention layers' count; a
// block holds block_size tokens of one group's attention KV, or one sequence's recurrent state
// of one group of linear-attention layers (padded to the same page). vLLM raises the attention
// block size until a block's page holds a linear layer's state (kernel alignment 16 tokens) and
// serves these models without prefix caching by default.
struct HybridKvLayout {
  int min_block_size = 0;  // tokens (vLLM logs "Setting attention block size to N tokens")
  std::int64_t state_blocks_per_sequence = 0;  // blocks a running sequence holds for its state
};
// Zero for a model without linear attention. `m` as deployed (its KV dtype sets the page).
HybridKvLayout hybrid_kv_layout(const ModelSpec& m, int tp);
// What a hybrid model changes in `pool`'s engine (none for other models): a block size below the
// layout's minimum is raised to it, and prefix caching is turned off, as vLLM does. Returns a line
// for each change. Throws ConfigError when `prefix_caching_given` (the scenario asks for it):
// prefix caching of linear-attention state is not modelled.
std::vector<std::string> apply_hybrid_engine_rules(PoolConfig& pool, const Catalog& catalog, bool prefix_caching_given);

struct KvCapacity {
  MemoryLedger ledger;  // how the engine arrived at kv_bytes (num_gpu_blocks, when set, overrides it)
  std::int64_t blocks = 0;
  std::int64_t state_blocks_per_sequence = 0;  // hybrid linear-attention models (HybridKvLayout)
  double weight_bytes = 0, kv_bytes = 0;
  double lora_bytes = 0;  // the LoRA slots: max_loras adapters at max_lora_rank
  double draft_bytes = 0;  // a speculative draft's weights (draft model, MTP or EAGLE layer)
};

// Bytes of one LoRA adapter of rank `rank` on each GPU of a tp-way worker, as vLLM holds it: A
// (in x r) and B (r x out) for q, k, v, o, gate, up and down of every layer (its default target
// modules), in bf16; column-parallel layers (q, k, v, gate, up) shard B over the GPUs, row-parallel
// ones (o, down) shard A. Dense attention and MLP only (validation refuses MoE and MLA models).
double lora_bytes_per_gpu(const ModelSpec& m, int rank, int tp);

// KV offloading of one worker of `pool` (pools[].kv_offload; KvOffloadCosts in kv_host_tier.h).
KvOffloadCosts kv_offload_costs(const PoolConfig& pool, const Catalog& catalog);

// KV-cache blocks of one worker of `pool`: the memory the engine's rule (engine.memory_rule,
// models/memory_ledger.h) leaves after the weights, the profile run's peak, non-torch memory, the
// LoRA slots and a speculative draft, over the bytes of one block. Explicit engine.num_gpu_blocks
// wins. Throws ConfigError (with the ledger, naming the shortfall) when nothing is left.
KvCapacity kv_capacity(const PoolConfig& pool, const Catalog& catalog);

}  // namespace servesim
