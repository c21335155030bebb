#include "models/timing/kernel.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include "core/error.h"
#include "models/timing/model_ops.h"

namespace servesim {
namespace {

// Whose rows of a module table (vLLM's MLA modules, the DSA modules) may price `m`, most fitting
// first: its own checkpoint's where measured, then those of the checkpoints it names as the same
// architecture, then (by name) those of any checkpoint with its shapes (hidden size, query and KV
// ranks, head dims): the block's cost follows its shapes.
std::vector<std::string> module_checkpoints(const std::vector<std::string>& measured, const KernelTables& tables,
                                            const ModelSpec& m, std::string_view kind) {
  std::vector<std::string> out;
  auto add = [&](const std::string& checkpoint) {
    if (std::find(out.begin(), out.end(), checkpoint) == out.end()) out.push_back(checkpoint);
  };
  if (std::find(measured.begin(), measured.end(), m.hf_id) != measured.end()) add(m.hf_id);
  for (const std::string& checkpoint : measured)
    if (m.is_checkpoint(checkpoint)) add(checkpoint);
  auto shapes = [](const ModelSpec& s) {
    return std::make_tuple(s.hidden_size, s.q_lora_rank, s.kv_lora_rank, s.qk_rope_head_dim, s.head_dim,
                           s.value_head_dim());
  };
  for (const std::string& checkpoint : measured)
    for (const auto& [name, spec] : Catalog::builtin().models())
      if (spec.is_checkpoint(checkpoint) && shapes(spec) == shapes(m)) add(checkpoint);
  if (out.empty())
    throw ConfigError(fmt::format("model {}: {}'s {} tables measured the attention block of {}, none of whose shapes "
                                  "(hidden size, query and KV ranks, head dims) it shares. Fix: set "
                                  "timing.kernel.backend to one whose tables measured it, or use timing.model: roofline",
                                  m.hf_id, tables.backend, kind, fmt::join(measured, ", ")));
  return out;
}

}  // namespace

SystemMemory SystemMemory::load(const std::string& path) {
  if (!std::filesystem::exists(path))
    throw InputError(fmt::format("{}: not found; the kernel timing model reads the system's memory constants "
                                 "(gpu.mem_bw, mem_bw_empirical_scaling_factor, mem_empirical_constant_latency) from "
                                 "the system's YAML file (next to a table folder given as timing.kernel.tables)",
                                 path));
  try {
    YAML::Node gpu = YAML::LoadFile(path)["gpu"];
    SystemMemory m;
    m.bandwidth_bytes_per_s = gpu["mem_bw"].as<double>();
    m.efficiency = gpu["mem_bw_empirical_scaling_factor"].as<double>();
    m.kernel_latency_s = gpu["mem_empirical_constant_latency"].as<double>();
    if (!(m.bandwidth_bytes_per_s > 0) || !(m.efficiency > 0) || m.kernel_latency_s < 0)
      throw InputError(fmt::format("{}: gpu memory constants must be positive", path));
    return m;
  } catch (const YAML::Exception& e) {
    throw InputError(fmt::format("{}: cannot read gpu.mem_bw, gpu.mem_bw_empirical_scaling_factor and "
                                 "gpu.mem_empirical_constant_latency ({})",
                                 path, e.what()));
  }
}

KernelTiming::KernelTiming(const ModelSpec& m, int tp, const KernelTimingConfig& c,
                           std::shared_ptr<const KernelTables> tables, SystemMemory memory, int ep, int attention_dp)
    : m_(m), tp_(tp), ep_(ep), c_(c), tables_(std::move(tables)), mem_(memory), policy_(parse_extrapolation(c.extrapolation)) {
  const std::string where = tables_->dir;
  auto git = tables_->gemm.find(gemm_table_dtype(m_.precision));
  if (git == tables_->gemm.end())
    throw InputError(fmt::format("{}: no {} GEMM table for precision {}. Fix: choose a precision the tables cover",
                                 where, gemm_table_dtype(m_.precision), m_.precision));
  gemm_ = &git->second;
  // (the GEMM loop prices dense and shared FFNs and the LM head in the model's format)
  if (!m_.ffn_precision.empty() || !m_.lm_head_precision.empty())
    throw ConfigError(fmt::format("model {}: its FFNs or LM head are stored in a format of their own ({}, {}), which "
                                  "the kernel model does not price apart (no table measures W4A16 NVFP4 GEMMs). Fix: "
                                  "timing.model: roofline",
                                  m_.hf_id, m_.ffn_precision.empty() ? m_.precision : m_.ffn_precision,
                                  m_.lm_head_precision.empty() ? m_.precision : m_.lm_head_precision));
  lm_head_gemm_ = gemm_;
  if (m_.precision == "nvfp4") {  // ModelOpt's NVFP4 checkpoints keep the LM head in bf16
    auto bf16 = tables_->gemm.find("bfloat16");
    if (bf16 == tables_->gemm.end())
      throw InputError(fmt::format("{}: no bfloat16 GEMM table for the LM head of an nvfp4 model", where));
    lm_head_gemm_ = &bf16->second;
  }
  mla_input_gemm_ = gemm_;
  if (const std::string& inputs = mla_input_gemm_precision(m_); inputs != m_.precision) {
    auto it = tables_->gemm.find(gemm_table_dtype(inputs));
    if (it == tables_->gemm.end())
      throw InputError(fmt::format("{}: no {} GEMM table for the {} of {}", where, gemm_table_dtype(inputs),
                                   m_.attention_precision.empty() ? "MLA input projections" : "attention projections",
                                   m_.hf_id));
    mla_input_gemm_ = &it->second;
  }
  o_proj_gemm_ = m_.attention_precision.empty() ? gemm_ : mla_input_gemm_;
  if (m_.heads % tp_ != 0)
    throw ConfigError(fmt::format("model {}: {} attention heads do not split over tp {}", m_.hf_id, m_.heads, tp_));
  const std::string kv_dtype = m_.kv_dtype_bytes == 1 ? "fp8" : "bfloat16";
  const bool mla_kernels =
      !(tables_->context_mla.empty() || tables_->generation_mla.empty() || tables_->mla_bmm.empty());
  // A module table prices a whole attention block per layer, its projections included. Of the
  // checkpoints whose rows may price the model (module_checkpoints), the first measured at this
  // deployment's heads per GPU, KV dtype and GEMM format (a backend may have measured a model's
  // FP8 checkpoint only).
  auto find_modules = [&](const std::map<KernelTables::MlaModuleKey, LogGrid>& context,
                          const std::map<KernelTables::MlaModuleKey, LogGrid>& generation,
                          const std::vector<std::string>& measured, const char* kind) -> ModuleTables {
    const std::vector<std::string> checkpoints = module_checkpoints(measured, *tables_, m_, kind);
    // the block's GEMMs in attention's own format where the checkpoint keeps it apart
    const std::string gemm_dtype = gemm_table_dtype(m_.attention_precision.empty() ? m_.precision : m_.attention_precision);
    const int heads = m_.heads / tp_;
    for (const std::string& checkpoint : checkpoints) {
      const KernelTables::MlaModuleKey key{checkpoint, heads, kv_dtype, gemm_dtype};
      auto c = context.find(key), g = generation.find(key);
      if (c == context.end() || g == generation.end()) continue;
      return {&c->second, &g->second, fmt::format("{} context module", kind),
              fmt::format("{} generation module", kind)};
    }
    const char* what = context.count({checkpoints.front(), heads, kv_dtype, gemm_dtype}) ? "generation" : "context";
    throw InputError(fmt::format("{}: no {} {} module table of {} for {} heads per GPU, a {} KV cache and {} GEMMs "
                                 "(model {} at tp {}). Fix: a precision and tp the table covers, or "
                                 "timing.model: roofline",
                                 where, kind, what, fmt::join(checkpoints, " or "), heads, kv_dtype, gemm_dtype,
                                 m_.hf_id, tp_));
  };
  if (m_.linear_layers > 0 && m_.linear_mixer != "gated_deltanet")
    throw ConfigError(fmt::format("model {}: its {} layers have no kernel tables servesim reads (the database's "
                                  "mamba2_perf rows measure the causal convolution, not the decode's state update, "
                                  "and the chunked scan on one B200 version only). Fix: timing.model: roofline",
                                  m_.hf_id, m_.linear_mixer));
  if (m_.linear_layers > 0) {
    // Gated DeltaNet layers: their kernels at the heads one GPU holds
    const std::pair<int, int> heads{m_.linear_key_heads / tp_, m_.linear_value_heads / tp_};
    auto shapes = [&] {
      std::vector<std::string> out;
      for (const auto& [k, grid] : tables_->context_linear_attention) out.push_back(fmt::format("{}/{}", k.first, k.second));
      return out.empty() ? std::string("none") : fmt::format("{}", fmt::join(out, ", "));
    };
    if (m_.linear_key_head_dim != KernelTables::kLinearAttentionTableHeadDim ||
        m_.linear_value_head_dim != KernelTables::kLinearAttentionTableHeadDim)
      throw ConfigError(fmt::format("model {}: linear-attention heads {} x {} wide; the tables measure 128 x 128. "
                                    "Fix: timing.model: roofline",
                                    m_.hf_id, m_.linear_key_head_dim, m_.linear_value_head_dim));
    auto context = tables_->context_linear_attention.find(heads);
    auto generation = tables_->generation_linear_attention.find(heads);
    if (context == tables_->context_linear_attention.end() || generation == tables_->generation_linear_attention.end())
      throw ConfigError(fmt::format(
          "model {} at tp {}: {} has no linear-attention (Gated DeltaNet) kernels for {} key / {} value heads per "
          "GPU (linear_attention/{}/<version>/gdn_perf; key/value heads measured: {}). Fix: a tp or backend the "
          "table covers, or timing.model: roofline",
          m_.hf_id, tp_, where, heads.first, heads.second, tables_->backend, shapes()));
    linear_context_ = &context->second;
    linear_generation_ = &generation->second;
  }
  if (m_.sparse_topk > 0) {
    // DeepSeek sparse attention: every backend publishes the whole block (indexer included)
    if (tables_->context_dsa_module.empty() || tables_->generation_dsa_module.empty())
      throw ConfigError(fmt::format("model {}: {} has no sparse-attention tables for backend {} (sparse_attention/{}/"
                                    "<version>/dsa_{{context,generation}}_module_perf). Fix: a backend or version "
                                    "that measured them, or timing.model: roofline",
                                    m_.hf_id, where, tables_->backend, tables_->backend));
    modules_ =
        find_modules(tables_->context_dsa_module, tables_->generation_dsa_module, tables_->dsa_module_models, "DSA");
    if (m_.shared_indexer_layers > 0) {
      // the layers that reuse an earlier layer's picks: the block without its indexer
      if (tables_->context_dsa_skip_module.empty() || tables_->generation_dsa_skip_module.empty())
        throw ConfigError(fmt::format("model {}: {} of its layers reuse an earlier layer's indexer picks, and {} has no "
                                      "such blocks for backend {} (op dsa_*_module_skip_indexer; SGLang's tables "
                                      "measure them). Fix: timing.kernel.backend sglang, or timing.model: roofline",
                                      m_.hf_id, m_.shared_indexer_layers, where, tables_->backend));
      skip_modules_ = find_modules(tables_->context_dsa_skip_module, tables_->generation_dsa_skip_module,
                                   tables_->dsa_skip_module_models, "DSA skip-indexer");
    }
  } else if (m_.kv_lora_rank > 0 && !mla_kernels) {
    // vLLM's database publishes the whole attention block of one checkpoint instead of its kernels
    if (tables_->context_mla_module.empty() || tables_->generation_mla_module.empty())
      throw ConfigError(fmt::format("model {}: {} has no MLA tables for backend {} (mla/{}/<version>/"
                                    "{{context,generation}}_mla_perf and mla_bmm/, or vLLM's mla_{{context,generation}}"
                                    "_module_perf). Fix: set timing.kernel.backend to one that has them, or use "
                                    "timing.model: roofline",
                                    m_.hf_id, where, tables_->backend, tables_->backend));
    modules_ =
        find_modules(tables_->context_mla_module, tables_->generation_mla_module, tables_->mla_module_models, "MLA");
  } else if (m_.kv_lora_rank > 0) {
    // MLA: SGLang's and TensorRT-LLM's databases publish the attention kernels and the decode's
    // batched GEMMs
    const std::pair<int, std::string> key{m_.heads / tp_, kv_dtype};
    auto find_mla = [&](const std::map<std::pair<int, std::string>, LogGrid>& t, const char* what) {
      auto it = t.find(key);
      if (it == t.end())
        throw InputError(fmt::format("{}: no {} table for {} heads per GPU with a {} KV cache (model {} at tp {}). "
                                     "Fix: choose a tp the table covers, or use timing.model: roofline",
                                     where, what, key.first, key.second, m_.hf_id, tp_));
      return &it->second;
    };
    context_ = find_mla(tables_->context_mla, "context MLA");
    generation_ = find_mla(tables_->generation_mla, "generation MLA");
    const std::string bmm_dtype = m_.precision == "bf16" ? "bfloat16" : "fp8";
    auto find_bmm = [&](const char* op) {
      auto it = tables_->mla_bmm.find({op, bmm_dtype});
      if (it == tables_->mla_bmm.end()) {
        std::vector<std::string> measured;
        for (const auto& [name_dtype, grid] : tables_->mla_bmm)
          if (name_dtype.first == op) measured.push_back(name_dtype.second);
        const auto source = tables_->sources.find("mla_bmm");
        throw InputError(fmt::format("{}: {} {} measured no {} {} batched GEMM (the MLA decode's absorbed projection "
                                     "of a {} model; it has: {}). Fix: timing.kernel.backend_version of a version "
                                     "that measured it, a model precision it covers, or timing.model: roofline",
                                     where, tables_->backend,
                                     source == tables_->sources.end() ? tables_->version : source->second.version,
                                     bmm_dtype, op, m_.precision,
                                     measured.empty() ? "none" : fmt::format("{}", fmt::join(measured, ", "))));
      }
      return &it->second;
    };
    mla_bmm_pre_ = find_bmm("mla_gen_pre");
    mla_bmm_post_ = find_bmm("mla_gen_post");
  } else {
    const AttentionShape shape = attention_shape_per_gpu(m_, tp_);
    const AttentionKey key{shape.heads, shape.kv_heads, shape.head_dim, shape.kv_dtype};
    auto find_attention = [&](const std::map<AttentionKey, LogGrid>& t, const char* what) {
      auto it = t.find(key);
      if (it == t.end())
        throw InputError(fmt::format("{}: no {} table for {} query heads, {} KV heads, head dim {}, {} KV cache per "
                                     "GPU (model {} at tp {}). Fix: measure that shape, or use timing.model: roofline",
                                     where, what, key.heads, key.kv_heads, key.head_dim, key.kv_dtype, m_.hf_id, tp_));
      return &it->second;
    };
    context_ = find_attention(tables_->context_attention, "context attention");
    generation_ = find_attention(tables_->generation_attention, "generation attention");
    if (m_.windowed_layers() > 0) {
      AttentionKey windowed = key;
      windowed.window = m_.sliding_window;
      const auto c = tables_->context_attention.find(windowed), g = tables_->generation_attention.find(windowed);
      if (c != tables_->context_attention.end() && g != tables_->generation_attention.end()) {
        context_window_ = &c->second;
        generation_window_ = &g->second;
      } else {
        spdlog::info("{}: no sliding-window ({} tokens) attention kernels measured for {}'s shape: its {} windowed "
                     "layers are priced as full-attention kernels over the window's pairs and KV",
                     where, m_.sliding_window, m_.hf_id, m_.windowed_layers());
      }
    }
  }
  // Experts in a format of their own (gpt-oss's MXFP4 and Kimi K2.5's int4, run as w4a16; NVFP4
  // MoE checkpoints' FP4) are priced from the MoE tables only: the GEMM loop prices every expert
  // GEMM in the model's format
  const bool own_format = m_.experts > 0 && !m_.expert_precision.empty();
  const std::string moe_dtype = m_.expert_precision == "mxfp4"  ? "w4a16_mxfp4"
                                : m_.expert_precision == "int4" ? "int4_wo"
                                : own_format                    ? gemm_table_dtype(m_.expert_precision)
                                                                : gemm_table_dtype(m_.precision);
  if (own_format && attention_dp > 1)
    throw ConfigError(fmt::format("model {}: {} experts shared by attention-DP ranks are not priced by the kernel "
                                  "model (the MoE tables measure one rank's layout). Fix: timing.model: roofline",
                                  m_.hf_id, m_.expert_precision));
  if (own_format && c_.moe != "table")
    throw ConfigError(fmt::format("model {}: its {} experts are priced only from the MoE tables ({}), not as GEMMs. "
                                  "Fix: timing.kernel.moe: table, or timing.model: roofline",
                                  m_.hf_id, m_.expert_precision, moe_dtype));
  if (m_.experts > 0 && c_.moe == "table" && !m_.gated_ffn)
    throw ConfigError(fmt::format("model {}: its experts have no gate (squared ReLU), and the MoE tables measure "
                                  "gated ones. Fix: timing.kernel.moe: gemm, or timing.model: roofline",
                                  m_.hf_id));
  if (m_.experts > 0 && c_.moe == "table") {
    const KernelTables::MoeKey key{moe_dtype,
                                   m_.expert_width(),
                                   m_.expert_ffn_size(),
                                   m_.top_k,
                                   m_.experts,
                                   tp_ / ep_,
                                   ep_,
                                   c_.moe_distribution};
    auto it = tables_->moe.find(key);
    if (it == tables_->moe.end() && key.dtype == "fp8") {
      // Per-tensor fp8 experts where only block-scaled ones were measured for this shape: the same
      // one-byte weights with a scale per 128 x 128 block, and at decode batches a MoE layer's time
      // is mostly its experts' weight reads, which the scales' granularity barely changes. The GEMM
      // loop below would price each expert group as one wide GEMM and miss the fused kernel's
      // routing and per-expert cost (MiniMax-M2.5's vLLM rows at EP 4: TPOT MAPE 19% -> 7%).
      KernelTables::MoeKey block = key;
      block.dtype = "fp8_block";
      it = tables_->moe.find(block);
      if (it != tables_->moe.end())
        spdlog::info("{}: no fp8 MoE table for {} experts top-{} (hidden {}, FFN {}, moe_tp {}, moe_ep {}): its "
                     "experts are priced from the fp8_block one",
                     where, key.experts, key.top_k, key.hidden, key.inter, key.moe_tp, key.moe_ep);
    }
    if (it != tables_->moe.end())
      moe_ = &it->second;
    else if (own_format)
      throw ConfigError(fmt::format("{}: no {} MoE table for {} experts top-{} (hidden {}, FFN {}) at moe_tp {} x "
                                    "moe_ep {}, and {} experts have no GEMM table to fall back on. Fix: a tp and "
                                    "expert_parallel the table measured, or timing.model: roofline",
                                    where, key.dtype, key.experts, key.top_k, key.hidden, key.inter, key.moe_tp,
                                    key.moe_ep, m_.expert_precision));
    else
      spdlog::warn("{}: no {} MoE table for {} experts top-{} (hidden {}, FFN {}, moe_tp {}, moe_ep {}): its experts "
                   "are priced as GEMMs",
                   where, key.dtype, key.experts, key.top_k, key.hidden, key.inter, key.moe_tp, key.moe_ep);
  }
  if (tp_ > 1) {
    auto ar = [&](const std::string& impl) -> const LogGrid* {
      auto it = tables_->allreduce.find({impl, tp_});
      return it == tables_->allreduce.end() ? nullptr : &it->second;
    };
    allreduce_nccl_ = ar("nccl");
    if (c_.allreduce == "custom") {
      allreduce_graph_ = ar("custom_graph");
      allreduce_eager_ = ar("custom_eager");
    }
    if (!allreduce_nccl_ && !(allreduce_graph_ && allreduce_eager_))
      throw InputError(fmt::format("{}: no all-reduce table for {} GPUs", where, tp_));
  }
  if (attention_dp > 1 && m_.experts > 0) {
    // the group's GPU count, else the largest one NCCL was measured on below it (counted: a larger
    // group spans more nodes, so this prices it as if it did not; adding the network's share at
    // its nominal rate, as the roofline does, over-priced the measured two-node vLLM rows' prefill
    // (CheckSilicon.VllmMoeAttentionDp: TTFT error 52% -> 108%), so the measured table stands)
    const int gpus = attention_dp * tp_;
    int measured = 0;
    for (const auto& [key, grid] : tables_->allreduce)
      if (key.first == "nccl_alltoall" && key.second <= gpus && key.second > measured) {
        measured = key.second;
        alltoall_ = &grid;
      }
    if (!alltoall_)
      throw InputError(fmt::format("{}: no NCCL all-to-all table for {} GPUs or fewer (attention_dp {} x tp {}), "
                                   "which prices the MoE layers' token dispatch. Fix: tables with nccl_perf "
                                   "all-to-all rows, or timing.model roofline",
                                   where, gpus, attention_dp, tp_));
    if (measured != gpus)
      count_extrapolation([&] {
        return fmt::format("the MoE dispatch over {} GPUs priced from NCCL's all-to-all on {}, the most it was measured on",
                           gpus, measured);
      });
  }
  elementwise_bytes_ = elementwise_bytes_per_token_layer(m_, tp_);
}

double KernelTiming::lookup(const LogGrid& grid, std::initializer_list<double> x, const char* what,
                            bool* extrapolated) const {
  LogGrid::Result r = grid.at(x, policy_, tables_->dir, what);
  if (extrapolated) *extrapolated = r.extrapolated;
  if (r.hole)
    throw InputError(fmt::format("{}: the {} table has a hole around {} and no rule to fill it", tables_->dir, what,
                                 fmt::join(x, " x ")));
  if (r.extrapolated)
    count_extrapolation([&] {
      return fmt::format("a {} lookup ({}) fell outside the measured range and was {}", what, fmt::join(x, " x "),
                         policy_ == Extrapolation::kClamp ? "clamped" : "extrapolated");
    });
  return r.value;
}

double KernelTiming::attention_ms(const LogGrid& grid, double batch, double len, const char* what) const {
  LogGrid::Result r = grid.at({batch, len}, policy_, tables_->dir, what);
  if (!r.hole) {
    if (r.extrapolated)
      count_extrapolation([&] {
        return fmt::format("a {} lookup (batch {:g}, length {:g}) fell outside the measured range", what, batch, len);
      });
    return r.value;
  }
  const auto& batches = grid.axis(0);
  for (auto it = batches.rbegin(); it != batches.rend(); ++it) {
    if (*it >= batch) continue;
    LogGrid::Result s = grid.at({*it, len}, policy_, tables_->dir, what);
    if (s.hole) continue;
    count_extrapolation([&] {
      return fmt::format("the {} table {} batch {:g} at length {:g}; scaled from batch {:g}", what,
                         batch > batches.back() ? "stops short of" : "has a hole around", batch, len, *it);
    });
    return s.value * batch / *it;
  }
  // none smaller (a hole at the smallest batch): the next larger batch measured there bounds it,
  // since fewer sequences do no more work (small batches cost about the same in these tables)
  for (double larger : batches) {
    if (larger <= batch) continue;
    LogGrid::Result s = grid.at({larger, len}, policy_, tables_->dir, what);
    if (s.hole) continue;
    count_extrapolation([&] {
      return fmt::format("the {} table has a hole at batch {:g}, length {:g}; read at batch {:g}", what, batch, len,
                         larger);
    });
    return s.value;
  }
  throw InputError(fmt::format("{}: the {} table has no batch measured at length {:g}", tables_->dir, what, len));
}

double KernelTiming::layers_attention_ms(const LogGrid& full, const LogGrid* windowed, double batch, double len,
                                         double window_len, const char* what, const char* windowed_what) const {
  double ms = m_.full_attention_layers() * attention_ms(full, batch, len, what);
  if (m_.windowed_layers() > 0)
    ms += m_.windowed_layers() * (windowed ? attention_ms(*windowed, batch, len, windowed_what)
                                           : attention_ms(full, batch, window_len, what));
  return ms;
}

double KernelTiming::module_layers_ms(bool generation, double batch, double len) const {
  auto ms = [&](const ModuleTables& t) {
    return generation ? attention_ms(*t.generation, batch, len, t.generation_label.c_str())
                      : attention_ms(*t.context, batch, len, t.context_label.c_str());
  };
  if (!skip_modules_.context) return m_.layers * ms(modules_);
  return m_.indexer_layers() * ms(modules_) + m_.shared_indexer_layers * ms(skip_modules_);
}

double KernelTiming::gemm_ms(double m, double n, double k) const { return lookup(*gemm_, {m, n, k}, "gemm"); }
double KernelTiming::mla_input_gemm_ms(double m, double n, double k) const {
  return lookup(*mla_input_gemm_, {m, n, k}, "gemm");
}

double KernelTiming::allreduce_ms(double elements, bool graph, bool* extrapolated) const {
  const LogGrid* custom = graph ? allreduce_graph_ : allreduce_eager_;
  // vLLM's custom all-reduce handles messages up to its buffer; larger ones go to NCCL
  if (custom && (elements <= custom->axis(0).back() || !allreduce_nccl_))
    return lookup(*custom, {elements}, "all-reduce", extrapolated);
  return lookup(*allreduce_nccl_, {elements}, "nccl all-reduce", extrapolated);
}

double KernelTiming::linear_ms(std::int64_t tokens) const {
  return linear_ms_.get(static_cast<size_t>(tokens), [&] { return layers_ms(static_cast<double>(tokens), -1, 1); });
}

double KernelTiming::lm_head_ms(std::int64_t seqs) const {
  return lm_head_ms_.get_kept(static_cast<size_t>(seqs), [&](bool& keep) {
    bool extrapolated = false;
    const double ms = lookup(*lm_head_gemm_, {static_cast<double>(seqs), static_cast<double>(m_.vocab_size) / tp_,
                                              static_cast<double>(m_.hidden_size)},
                             "gemm", &extrapolated);
    keep = !extrapolated;
    return ms;
  });
}

double KernelTiming::allreduce_tokens_ms(std::int64_t tokens) const {
  return allreduce_tokens_ms_.get_kept(static_cast<size_t>(tokens), [&](bool& keep) {
    bool extrapolated = false;
    const double ms = allreduce_ms(static_cast<double>(tokens) * m_.hidden_size, tokens <= c_.cuda_graph_max_tokens,
                                   &extrapolated);
    keep = !extrapolated;
    return ms;
  });
}

double KernelTiming::layers_ms(double tokens, double moe_tokens, int moe_ranks) const {
  // the measured MoE layer stands for every expert's GEMMs, in the layout it was measured in:
  // experts shared by attention-DP ranks are priced as their GEMMs
  const LogGrid* moe = moe_ranks > 1 ? nullptr : moe_;
  double ms = 0;
  const double widest = gemm_->axis(1).back();
  for (const GemmOp& op : iteration_gemms(m_, tp_, tokens, 0, ep_, moe_tokens, moe_ranks)) {
    // a module table holds the attention block's projections (the sparse-attention indexer's too)
    if (modules_.context && (op.name == std::string_view("qkv_proj") || op.name == std::string_view("o_proj") ||
                                op.name == std::string_view("indexer_q") || op.name == std::string_view("indexer_k")))
      continue;
    if (m_.kv_lora_rank > 0 && op.name == std::string_view("qkv_proj")) {
      ms += op.count * mla_projection_ms(tokens);
      continue;
    }
    if (op.group <= 0) {
      ms += op.count * (is_mla_input_projection(m_, op)            ? mla_input_gemm_ms(op.m, op.n, op.k)
                        : op.name == std::string_view("o_proj") ? lookup(*o_proj_gemm_, {op.m, op.n, op.k}, "gemm")
                                                                : gemm_ms(op.m, op.n, op.k));
      continue;
    }
    if (moe) continue;
    // A fused MoE kernel over `group` experts costs like one GEMM `group` times as wide; the
    // widest measured GEMM bounds how many experts one lookup may stand for.
    const double layers = op.count / op.group;
    const double per_lookup = std::clamp(std::floor(widest / op.n), 1.0, std::ceil(op.group));
    const double width = std::min(op.group, per_lookup);
    ms += layers * (op.group / width) * gemm_ms(op.m, width * op.n, op.k);
  }
  if (moe) ms += m_.moe_layers() * lookup(*moe, {tokens}, "moe");
  return ms;
}

// MLA's input projections per layer (DeepSeek-V3's fused_qkv_a_proj_with_mqa, replicated on every
// GPU, then q_b_proj split by heads; without a query LoRA, q_proj and kv_a_proj from the hidden
// state). kv_b_proj, which only the prefill's uncompressed attention needs, is priced there.
double KernelTiming::mla_projection_ms(double tokens) const {
  const double h = m_.hidden_size, heads = static_cast<double>(m_.heads) / tp_;
  const double q_head = m_.head_dim + m_.qk_rope_head_dim, kv_a = m_.kv_lora_rank + m_.qk_rope_head_dim;
  if (m_.q_lora_rank > 0)
    return mla_input_gemm_ms(tokens, m_.q_lora_rank + kv_a, h) + mla_input_gemm_ms(tokens, heads * q_head, m_.q_lora_rank);
  return mla_input_gemm_ms(tokens, heads * q_head, h) + mla_input_gemm_ms(tokens, kv_a, h);
}

KernelTiming::Breakdown KernelTiming::breakdown(const BatchShape& b) const {
  Breakdown out;
  const std::int64_t tokens = b.computed_tokens();
  const double L = m_.layers;
  if (tokens > 0) {
    out.gemm_ms = b.moe_group_ranks > 1 && m_.experts > 0  // shared experts see every rank's tokens
                      ? layers_ms(static_cast<double>(tokens), static_cast<double>(b.moe_group_tokens), b.moe_group_ranks)
                      : linear_ms(tokens);
    const std::int64_t lm_tokens = b.prefill_seqs + b.decode_computed_tokens();
    if (lm_tokens > 0) out.gemm_ms += lm_head_ms(lm_tokens);
    out.elementwise_ms = L * (static_cast<double>(tokens) * elementwise_bytes_ / (mem_.bandwidth_bytes_per_s * mem_.efficiency) +
                              kElementwiseKernelsPerLayer * mem_.kernel_latency_s) * 1e3;
    if (tp_ > 1)
      out.allreduce_ms = (L + m_.ffn_layers()) * allreduce_tokens_ms(tokens);  // after each mixer and FFN
    // attention DP: each MoE layer sends the rank's tokens to their top-k experts' GPUs and back
    if (alltoall_ && b.moe_group_ranks > 1) {
      // the table's unit: bf16 values per GPU
      const double elements =
          static_cast<double>(tokens) * moe_dispatch_copies(m_, b.moe_group_ranks * tp_) * m_.expert_width();
      out.alltoall_ms = m_.moe_layers() * moe_dispatch_and_combine(m_, elements, [&](double v) {
                          return lookup(*alltoall_, {v}, "nccl all-to-all");
                        });
    }
  }
  if (b.prefill_seqs > 0) {
    // a chunk of c tokens after k earlier ones attends to as many (query, key) pairs as a fresh
    // causal prompt of s tokens with s(s+1)/2 = pairs: the prompt length the table is read at
    const double isl = equivalent_prompt_tokens(b.prefill_attention_pairs / b.prefill_seqs);
    if (linear_context_)  // a hybrid's linear-attention layers: their whole prompt chunks
      out.context_attention_ms += m_.linear_layers * attention_ms(*linear_context_, b.prefill_seqs,
                                                                  static_cast<double>(b.prefill_tokens) / b.prefill_seqs,
                                                                  "linear-attention context");
    if (modules_.context) {  // the whole attention block, its projections included
      out.context_attention_ms += module_layers_ms(false, b.prefill_seqs, isl);
    } else {
      const double window_isl =
          m_.windowed_layers() > 0 ? equivalent_prompt_tokens(windowed_prompt_pairs(isl, m_.sliding_window)) : 0;
      out.context_attention_ms += layers_attention_ms(*context_, context_window_, b.prefill_seqs, isl, window_isl,
                                                     "context attention", "sliding-window context attention");
      if (m_.kv_lora_rank > 0)  // the prompt's compressed KV expanded to heads (kv_b_proj)
        out.gemm_ms += L * mla_input_gemm_ms(static_cast<double>(b.prefill_tokens),
                                   static_cast<double>(m_.heads) / tp_ * (m_.head_dim + m_.value_head_dim()),
                                   m_.kv_lora_rank);
    }
  }
  if (b.decode_seqs > 0) {
    // verified draft tokens share their sequence's KV read: priced as the decode kernel (memory-bound)
    const double kv_len = std::max(1.0, static_cast<double>(b.decode_context_tokens) / b.decode_seqs);
    if (linear_generation_)  // one recurrent step per sequence (draft tokens ride along)
      out.generation_attention_ms +=
          m_.linear_layers * lookup(*linear_generation_, {static_cast<double>(b.decode_seqs)}, "linear-attention generation");
    if (modules_.generation) {
      out.generation_attention_ms += module_layers_ms(true, b.decode_seqs, kv_len);
    } else {
      out.generation_attention_ms +=
          layers_attention_ms(*generation_, generation_window_, b.decode_seqs, kv_len,
                              std::min(kv_len, static_cast<double>(m_.sliding_window)), "generation attention",
                              "sliding-window generation attention");
      if (m_.kv_lora_rank > 0) {  // absorbed MLA: queries into the latent space and the output back out
        const double tokens = static_cast<double>(b.decode_computed_tokens());
        const double heads = static_cast<double>(m_.heads) / tp_;
        out.gemm_ms += L * (lookup(*mla_bmm_pre_, {tokens, heads}, "mla_bmm pre") +
                            lookup(*mla_bmm_post_, {tokens, heads}, "mla_bmm post"));
      }
    }
  }
  out.overhead_ms = c_.overhead_ms;
  return out;
}

std::vector<TimingModel::Part> KernelTiming::parts(const BatchShape& b) const {
  const Breakdown d = breakdown(b);
  return {{"gemm", d.gemm_ms},
          {"context_attn", d.context_attention_ms},
          {"gen_attn", d.generation_attention_ms},
          {"allreduce", d.allreduce_ms},
          {"alltoall", d.alltoall_ms},
          {"elementwise", d.elementwise_ms},
          {"overhead", d.overhead_ms}};
}

TimeNs KernelTiming::iteration_ns(const BatchShape& b) const {
  return std::max<TimeNs>(1, std::llround(breakdown(b).total_ms() * 1e6));
}

SERVESIM_REGISTER(TimingRegistry, "kernel",
                  "measured per-kernel tables (GEMM, context/generation attention, all-reduce; aiconfigurator "
                  "layout) composed per layer, plus elementwise kernels and a per-iteration overhead",
                  [](const TimingContext& ctx) {
                    const auto& k = ctx.pool.timing.kernel;
                    const KernelTableLocation where = locate_kernel_tables(
                        k.system, k.database, k.tables, ctx.pool.gpu,
                        [&](const std::string& p) { return ctx.resolve(p); });
                    const std::string& dir = where.dir;
                    const ModelSpec model = ctx.model ? *ctx.model : Catalog::builtin().deployed_model(ctx.pool);
                    SystemMemory memory = SystemMemory::load(where.system_yaml);
                    // tables measured on one GPU do not price another: their system's memory
                    // bandwidth must be the pool's GPU's (within 5%)
                    const GpuSpec& gpu = Catalog::builtin().gpu(ctx.pool.gpu);
                    if (std::abs(memory.bandwidth_bytes_per_s / (gpu.hbm_gbps * 1e9) - 1) > 0.05)
                      throw ConfigError(fmt::format(
                          "kernel tables {} were measured on a GPU with {:g} GB/s of memory bandwidth (their "
                          "system YAML), not pool gpu {} ({:g} GB/s). Fix: use timing.model roofline for this GPU, "
                          "or tables measured on it",
                          dir, memory.bandwidth_bytes_per_s / 1e9, ctx.pool.gpu, gpu.hbm_gbps));
                    // only a MoE model priced from the MoE tables reads them, only an MLA model the MLA
                    // ones; only this pool's GEMM dtypes and attention shape are parsed
                    const auto parts = KernelTables::Parts::for_deployment(model, ctx.pool.tp, k.moe == "table");
                    return std::make_unique<KernelTiming>(model, ctx.pool.tp, k,
                                                          KernelTables::shared(dir, k.backend, k.backend_version, parts),
                                                          memory, ctx.pool.expert_parallel, ctx.pool.attention_dp);
                  })

}  // namespace servesim
