// "roofline": an analytical iteration time from the pool's GPU and model specs and TP degree.
//   linear layers: per GEMM, max(FLOPs / achieved FLOP/s, bytes / achieved bandwidth) plus a
//                  fixed kernel latency; MoE runs only the experts the batch is expected to touch
//   attention:     prefill FLOPs (quadratic in the chunk's context), decode KV bytes read
//   elementwise:   norms, rotary, activation: bytes at the achieved bandwidth
//   TP:            two all-reduces of the activations per layer over NVLink
//   plus a fixed per-iteration overhead. Efficiency factors come from the catalog (data).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "core/paths.h"

#include "models/catalog.h"
#include "models/timing/model_ops.h"
#include "models/timing/roofline.h"
#include "models/timing/timing_model.h"

namespace servesim {

namespace {
// efficiency.yaml and efficiency/*.yaml (what calibrate writes) of every folder on the catalog path
std::map<std::string, RooflineEfficiency> load_efficiencies() {
  auto table = load_from_search_path<RooflineEfficiency>("efficiency.yaml", true);
  for (const auto& dir : catalog_search_path()) {
    std::vector<std::filesystem::path> files;
    std::error_code ec;
    for (auto& e : std::filesystem::directory_iterator(dir + "/efficiency", ec))
      if (e.path().extension() == ".yaml") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (auto& f : files)
      for (auto& [name, eff] : load_named_specs<RooflineEfficiency>(f.string())) {
        if (table.count(name))
          throw ConfigError(fmt::format("{}: efficiency entry '{}' is defined twice on the catalog path", f.string(), name));
        table.emplace(name, eff);
      }
  }
  return table;
}

const RooflineEfficiency& efficiency_file(const std::string& path) {
  static std::map<std::string, RooflineEfficiency> loaded;  // one process, one scenario: a small cache
  auto it = loaded.find(path);
  if (it != loaded.end()) return it->second;
  if (!std::filesystem::is_regular_file(path))
    throw ConfigError(fmt::format("efficiency file '{}' does not exist (a path ending in .yaml is read as a file "
                                  "servesim calibrate -o wrote, relative to the scenario's folder)",
                                  path));
  auto entries = load_named_specs<RooflineEfficiency>(path);
  if (entries.size() != 1)
    throw ConfigError(fmt::format("{}: holds {} efficiency entries; a file given by path must hold exactly one", path,
                                  entries.size()));
  return loaded.emplace(path, entries.begin()->second).first->second;
}
}  // namespace

const RooflineEfficiency& roofline_efficiency(const std::string& name, const std::string& base_dir) {
  if (name.size() > 5 && name.compare(name.size() - 5, 5, ".yaml") == 0)
    return efficiency_file(resolve_path(base_dir, name));
  static std::map<std::vector<std::string>, std::map<std::string, RooflineEfficiency>> loaded;  // per search path
  const auto path = catalog_search_path();
  auto at = loaded.find(path);
  if (at == loaded.end()) at = loaded.emplace(path, load_efficiencies()).first;
  const auto& table = at->second;
  auto it = table.find(name);
  if (it == table.end()) {
    std::vector<std::string> names;
    for (auto& [k, v] : table) names.push_back(k);
    throw ConfigError(fmt::format("unknown roofline efficiency '{}'; the catalog path (models/catalog/efficiency*.yaml, "
                                  "then SERVESIM_CATALOG_PATH) has: {}; or give a file: timing.roofline.efficiency: FILE.yaml",
                                  name, fmt::join(names, ", ")));
  }
  return it->second;
}

double RooflineKernels::gemm_s(double m, double n, double k, const std::string& precision) const {
  // MXFP4, int4 and W4A16 NVFP4 weights run as w4a16 (dequantised to bf16 in the kernel, as
  // vLLM's and TensorRT-LLM's Hopper MoE kernels do): bf16 FLOPs, 4.25- or 4.5-bit weights. NVFP4 runs on FP4
  // units (validation refuses it on a GPU without them).
  const bool mxfp4 = precision == "mxfp4" || precision == "int4" || precision == "nvfp4_w4a16",
             nvfp4 = precision == "nvfp4";
  const bool fp8 = precision != "bf16" && !mxfp4 && !nvfp4 && gpu.fp8_tflops > 0;
  const double peak = (nvfp4 ? gpu.fp4_tflops : fp8 ? gpu.fp8_tflops : gpu.bf16_tflops) * 1e12;
  const double weight_bytes = n * k * ModelSpec::bytes_per_weight(precision);
  const double bytes = weight_bytes + (m * k + m * n) * kActivationBytes;
  return std::max(2.0 * m * n * k / (peak * eff.compute_efficiency), bytes / (gpu.hbm_gbps * 1e9 * eff.memory_efficiency)) +
         eff.kernel_latency_us * 1e-6;
}

double RooflineKernels::context_attention_s(double batch, double isl, int heads, double head_dim) const {
  // causal: isl(isl+1)/2 (query, key) pairs, QK^T and PV at 2 FLOPs per multiply-add (head_dim:
  // the mean of the key and value heads' widths, ModelSpec::attention_head_dim)
  const double flops = 4.0 * batch * isl * (isl + 1) / 2 * heads * head_dim;
  return flops / (gpu.bf16_tflops * 1e12 * eff.attention_efficiency) + eff.attention_latency_us * 1e-6;
}

double RooflineKernels::generation_attention_s(double batch, double kv_len, int kv_heads, int head_dim,
                                               double kv_dtype_bytes) const {
  const double bytes = batch * kv_len * 2.0 * kv_heads * head_dim * kv_dtype_bytes;
  return bytes / (gpu.hbm_gbps * 1e9 * eff.memory_efficiency) + eff.attention_latency_us * 1e-6;
}

double RooflineKernels::allreduce_s(double bytes, int gpus) const {
  if (gpus <= 1) return 0;
  const double ring = 2.0 * (gpus - 1) / gpus * bytes / (gpu.nvlink_gbps * 1e9 * eff.allreduce_bandwidth_efficiency);
  // alpha-beta: a fixed cost (one-shot kernels such as vLLM's custom all-reduce) plus a hop
  // latency per ring step (NCCL rings), plus the ring's bytes over the achieved bandwidth
  return ring + (eff.allreduce_latency_us + 2.0 * (gpus - 1) * eff.allreduce_step_latency_us) * 1e-6;
}

double RooflineKernels::alltoall_s(double bytes, int gpus) const {
  if (gpus <= 1) return 0;
  const int node = gpu.gpus_per_node.value_or(gpus);
  if (gpus <= node || !gpu.internode_gbps)  // (scenario validation refuses the latter)
    return (gpus - 1.0) / gpus * bytes / (gpu.nvlink_gbps * 1e9 * eff.allreduce_bandwidth_efficiency) +
           eff.allreduce_latency_us * 1e-6;
  // across nodes: the share bound for the node's other GPUs goes over NVLink, the rest over the
  // GPU's network link, at the same time; the slower decides
  const double nvlink_s = (node - 1.0) / gpus * bytes / (gpu.nvlink_gbps * 1e9 * eff.allreduce_bandwidth_efficiency);
  const double network_s = static_cast<double>(gpus - node) / gpus * bytes /
                           (*gpu.internode_gbps * 1e9 * eff.allreduce_bandwidth_efficiency);
  return std::max(nvlink_s, network_s) + eff.allreduce_latency_us * 1e-6;
}

RooflineTiming::RooflineTiming(const ModelSpec& m, const GpuSpec& g, int tp, const RooflineEfficiency& e, int ep)
    : m_(m), g_(g), tp_(tp), e_(e), ep_(ep) {}

double RooflineTiming::gemms_s(const GemmOps& ops) const {
  const RooflineKernels k{g_, e_};
  double s = 0;
  for (const GemmOp& op : ops) {
    if (op.group > 0)  // one fused kernel per layer over the touched experts
      s += op.count / op.group * k.gemm_s(op.m, op.group * op.n, op.k, gemm_precision(m_, op));
    else
      s += op.count * k.gemm_s(op.m, op.n, op.k, gemm_precision(m_, op));
  }
  return s;
}

RooflineTiming::Breakdown RooflineTiming::breakdown(const BatchShape& b) const {
  Breakdown out;
  const RooflineKernels k{g_, e_};
  const std::int64_t token_count = b.computed_tokens();
  const double tokens = static_cast<double>(token_count);
  const double L = m_.layers;
  // summed in iteration_gemms' order (the LM head last), so the memo changes no bit of the result;
  // every verified draft position needs its logits
  const std::int64_t sequences = b.decode_computed_tokens() + b.prefill_seqs;
  if (b.moe_group_ranks > 1 && m_.experts > 0)  // the shared experts see every rank's tokens: not memoised
    out.linear_s = gemms_s(iteration_gemms(m_, tp_, tokens, 0, ep_, static_cast<double>(b.moe_group_tokens),
                                           b.moe_group_ranks));
  else
    out.linear_s = body_linear_s_.get(static_cast<size_t>(token_count),
                                      [&] { return gemms_s(iteration_gemms(m_, tp_, tokens, 0, ep_)); });
  out.linear_s += lm_head_s_.get(static_cast<size_t>(sequences), [&] {
    return gemms_s(iteration_gemms(m_, tp_, 0, static_cast<double>(sequences), ep_));
  });
  // Attention per GPU: heads/tp query heads; a prefill chunk's pairs as an equivalent prompt.
  // Sliding-window layers see the pairs within their window of that prompt, and decodes read at
  // most the window's KV (from the mean context: exact unless contexts straddle the window).
  const int heads = std::max(1, m_.heads / tp_);
  const double full_layers = m_.full_attention_layers(), window_layers = m_.windowed_layers();
  const double window = m_.sliding_window;
  if (b.prefill_seqs > 0) {
    const double isl = equivalent_prompt_tokens(b.prefill_attention_pairs / b.prefill_seqs);
    if (m_.sparse_topk > 0) {
      // sparse attention: a query attends to at most top-k tokens (the pairs of a top-k window);
      // the indexer scores every causal pair on all its heads (replicated on every GPU): QK^T in
      // FP8, as DeepSeek's reference indexer computes it (the GPU's bf16 rate where it has no FP8)
      const double attended =
          attended_prompt_pairs(m_, b.prefill_attention_pairs, b.prefill_seqs) / b.prefill_seqs;
      const double fp8_tflops = g_.fp8_tflops > 0 ? g_.fp8_tflops : g_.bf16_tflops;
      const double indexer_s = indexer_flops(m_, b.prefill_attention_pairs) / (fp8_tflops * 1e12 * e_.attention_efficiency);
      const double context_s =
          k.context_attention_s(b.prefill_seqs, equivalent_prompt_tokens(attended), heads, m_.attention_head_dim());
      const double latency_s = e_.attention_latency_us * 1e-6;
      // (layers that share an earlier layer's picks run no indexer)
      out.attention_s += m_.shared_indexer_layers > 0 ? L * context_s + m_.indexer_layers() * (indexer_s + latency_s)
                                                      : L * (context_s + indexer_s + latency_s);
    } else {
      out.attention_s += full_layers * k.context_attention_s(b.prefill_seqs, isl, heads, m_.attention_head_dim());
    }
    if (window_layers > 0)
      out.attention_s +=
          window_layers * k.context_attention_s(b.prefill_seqs,
                                                equivalent_prompt_tokens(windowed_prompt_pairs(isl, window)), heads,
                                                m_.attention_head_dim());
  }
  if (b.decode_seqs > 0) {
    // the KV bytes one GPU reads: its share of the model's cache (MLA latents are replicated)
    const double shards = m_.kv_lora_rank > 0 ? 1 : std::min(tp_, m_.kv_heads);
    double per_gpu_bytes =
        m_.decode_kv_read_bytes(static_cast<double>(b.decode_context_tokens), b.decode_seqs) / shards;
    if (window_layers > 0)
      per_gpu_bytes += b.decode_seqs *
                       std::min(static_cast<double>(b.decode_context_tokens) / b.decode_seqs, window) *
                       m_.window_kv_bytes_per_token() / shards;
    out.attention_s += per_gpu_bytes / (g_.hbm_gbps * 1e9 * e_.memory_efficiency) +
                       (L - m_.linear_layers) * e_.attention_latency_us * 1e-6;
  }
  if (m_.linear_layers > 0) {  // a hybrid's linear-attention layers, from their FLOPs and bytes
    auto priced = [&](const LinearAttentionWork& w) {
      return std::max(w.flops / (g_.bf16_tflops * 1e12 * e_.attention_efficiency),
                      w.bytes / (g_.hbm_gbps * 1e9 * e_.memory_efficiency)) +
             w.kernels * e_.attention_latency_us * 1e-6;
    };
    double per_layer_s = 0;
    if (b.prefill_seqs > 0)
      per_layer_s += priced(linear_attention_prefill(m_, tp_, static_cast<double>(b.prefill_tokens), b.prefill_seqs));
    if (b.decode_seqs > 0)
      per_layer_s += priced(linear_attention_decode(m_, tp_, b.decode_seqs));
    out.attention_s += m_.linear_layers * per_layer_s;
  }
  if (tokens > 0)
    out.elementwise_s = L * (tokens * elementwise_bytes_per_token_layer(m_, tp_) / (g_.hbm_gbps * 1e9 * e_.memory_efficiency) +
                             kElementwiseKernelsPerLayer * e_.kernel_latency_us * 1e-6);
  // an all-reduce after each mixer and each FFN
  if (tp_ > 1)
    out.allreduce_s = (L + m_.ffn_layers()) * k.allreduce_s(tokens * m_.hidden_size * kActivationBytes, tp_);
  // attention DP: each MoE layer sends the rank's tokens to the GPUs of their top-k experts
  // (dispatch) and brings the results back (combine), all-to-all over the group's GPUs
  if (b.moe_group_ranks > 1 && m_.experts > 0) {
    const int gpus = b.moe_group_ranks * tp_;
    out.alltoall_s = m_.moe_layers() *
                     moe_dispatch_and_combine(m_, tokens * moe_dispatch_copies(m_, gpus) * m_.expert_width(),
                                              [&](double v) { return k.alltoall_s(v * kActivationBytes, gpus); });
  }
  out.overhead_s = e_.overhead_ms * 1e-3;
  return out;
}

std::vector<TimingModel::Part> RooflineTiming::parts(const BatchShape& b) const {
  const Breakdown d = breakdown(b);
  return {{"linear", d.linear_s * 1e3},         {"attention", d.attention_s * 1e3}, {"allreduce", d.allreduce_s * 1e3},
          {"alltoall", d.alltoall_s * 1e3},     {"elementwise", d.elementwise_s * 1e3},
          {"overhead", d.overhead_s * 1e3}};
}

TimeNs RooflineTiming::iteration_ns(const BatchShape& b) const {
  Breakdown d = breakdown(b);
  return std::max<TimeNs>(
      1, s_to_ns(d.linear_s + d.attention_s + d.elementwise_s + d.allreduce_s + d.overhead_s + d.alltoall_s));
}

SERVESIM_REGISTER(TimingRegistry, "roofline",
                  "analytical: per-GEMM FLOPs vs bytes, attention FLOPs vs KV bytes, elementwise bytes, TP all-reduce, "
                  "overhead (pool's gpu, model, tp, precision; efficiency factors from the catalog)",
                  [](const TimingContext& ctx) {
                    const Catalog& c = Catalog::builtin();
                    const ModelSpec model = ctx.model ? *ctx.model : c.deployed_model(ctx.pool);
                    return std::make_unique<RooflineTiming>(model, c.gpu(ctx.pool.gpu), ctx.pool.tp,
                                                            roofline_efficiency(ctx.pool.timing.roofline.efficiency, ctx.base_dir),
                                                            ctx.pool.expert_parallel);
                  })

}  // namespace servesim
