#pragma once
// A model's shapes read from its Hugging Face config.json, so that a checkpoint is data: the
// catalog registers every <org>--<name>_config.json of its model_configs folders under the
// checkpoint's id (org/name). Families read: Llama, Qwen2/3 (dense and MoE), Mixtral, MiniMax-M2,
// DeepSeek-V2/V3 (MLA, Kimi K2), DeepSeek-V3.2 and GLM-5 (sparse attention), gpt-oss (sliding-window layers from layer_types, MXFP4
// experts), Qwen3-Next and Qwen3.5 (Gated DeltaNet linear-attention layers from layer_types; a
// multimodal config's text_config), Nemotron-H (Mamba2 mixers, attention and squared-ReLU FFN
// layers from hybrid_override_pattern; a latent MoE's width). Python's Infinity/NaN read as null. Parameters are counted from the shapes (embeddings, the LM head unless tied,
// attention or MLA projections, dense and expert FFNs, routers; norms, biases and attention sinks
// are below 0.1% and left out); the GEMM format from quantization_config.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "models/catalog.h"

namespace servesim {

// Throws InputError naming the file and the key (a missing shape, an architecture outside the
// families above, shapes no model has: model_problem).
ModelSpec model_from_hf_config(const std::string& path, const std::string& hf_id);
// The same from the file's text (`path` names it in errors).
ModelSpec model_from_hf_config_text(std::string_view text, const std::string& path, const std::string& hf_id);

// A ModelOpt checkpoint's hf_quant_config.json (NVIDIA's FP8 and NVFP4 exports name their format
// there, beside config.json, and vLLM reads it): quant_algo FP8 -> fp8, NVFP4 -> nvfp4, applied to
// `m`. model_from_hf_config reads the file beside a <name>_config.json as <name>_hf_quant_config.json;
// a config.json whose quantization_config says quant_method modelopt carries the same fields
// (its `ignore` list for exclude_modules). Its KV cache format (kv_cache_quant_algo) is not taken:
// a pool's kv_cache_dtype chooses it. See apply_modelopt_exclusions for what may stay unquantised.
void apply_modelopt_quantization(std::string_view text, const std::string& path, ModelSpec& m);

// The format of a ModelOpt checkpoint of quant_algo `algo` (FP8 | NVFP4) whose `excluded` modules
// stay unquantised (exclude_modules: module names, `*` globs), applied to `m`, a model read from
// its config.json. The LM head and embeddings (bf16 in servesim's formats anyway), MoE router
// gates (a tiny GEMM, priced in the model's format), and what is not the language model's forward
// pass (MTP layers, vision towers and projectors) may be excluded: the checkpoint is then quantised
// whole. An NVFP4 MoE checkpoint that keeps every layer's attention, its dense layers and its
// shared experts unquantised, as NVIDIA's exports of MiniMax-M2.5, Qwen3.5 and GLM-5.1 do, is
// its routed experts in NVFP4 and the rest bf16 (precision bf16, expert_precision nvfp4); one that
// keeps every layer's MLA input projections (q_a, q_b, kv_a, kv_b, the indexer's) and nothing else,
// as NVIDIA's DeepSeek-V3.1 and V3.2 exports do, is NVFP4 with mla_input_precision bf16; an MLA
// MoE checkpoint that keeps every layer's attention block and nothing else, as NVIDIA's GLM-5 and
// Kimi K2.5 exports do, is NVFP4 with attention_precision bf16. Anything else (some layers'
// attention, a dense model's layers, Mamba mixers) is an InputError naming `path` and a module:
// no one format prices it.
void apply_modelopt_exclusions(std::string_view algo, const std::vector<std::string>& excluded, const std::string& path,
                               ModelSpec& m);

// A ModelOpt MIXED_PRECISION checkpoint: each quantised module's quant_algo (quantized_layers:
// module name -> FP8 | NVFP4 | W4A16_NVFP4), the rest unquantised, applied to `m`. Modelled:
// every layer's attention (full and linear) in one format, the dense FFNs and shared experts in
// one, the routed experts in one, the LM head in one or bf16, as NVIDIA's Qwen3.6 exports are (FP8
// attention, the rest W4A16 NVFP4: precision fp8, ffn_precision, expert_precision and
// lm_head_precision nvfp4_w4a16). Anything else (a Mamba mixer, a layer left out) is an InputError
// naming `path` and a module.
void apply_modelopt_mixed_precision(const std::vector<std::pair<std::string, std::string>>& quantized,
                                    const std::string& path, ModelSpec& m);

// A compressed-tensors checkpoint's weight scheme (quantization_config.config_groups: one group's
// `weights`, and whether its input activations are quantised too).
struct CompressedTensorsScheme {
  int bits = 0;
  std::string type;      // int | float
  std::string strategy;  // group | channel | tensor | block
  int group_size = 0;
  bool symmetric = true;
  bool activations = false;  // input_activations quantised (W4A8, W8A8) or not (W4A16)
};
// That scheme on every Linear module but the `ignore`d ones (module names, or `re:` regular
// expressions matched whole), applied to `m`. Modelled: 4-bit symmetric integers in groups of 32
// with bf16 activations on the routed experts alone, attention, dense FFNs, shared experts and the
// LM head left out, as moonshotai/Kimi-K2.5 ships (precision bf16, expert_precision int4).
// Anything else is an InputError naming `path` and what differs.
void apply_compressed_tensors(const CompressedTensorsScheme& scheme, const std::vector<std::string>& ignore,
                              const std::string& path, ModelSpec& m);

// The checkpoint id of a model_configs file name: "Qwen--Qwen3-32B_config.json" -> "Qwen/Qwen3-32B";
// empty if the name is not of that form.
std::string hf_id_of_config_file(const std::string& file_name);

}  // namespace servesim
