#include "models/catalog.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "models/hf_config.h"
#include "models/speculative.h"

namespace servesim {

namespace {
constexpr double kActivationBytes = 2;  // activations stay bf16 under fp8 weights
constexpr double kGiB = 1073741824.0;
// vLLM V1's sampler at its peak in the profile run (top-k and top-p set, the native PyTorch path),
// in fp32 rows of the vocabulary: the bf16 logits (0.5), their fp32 copy (1), the sorted values
// (1) and int64 indices (2), the softmax of the sorted values (1), the top-k/top-p masks (0.25)
// and the logits scattered back (1).
constexpr double kSamplerBuffers = 6.75;
template <class Spec>
const Spec& find(const std::map<std::string, Spec>& m, const std::string& name, const char* kind) {
  auto it = m.find(name);
  if (it == m.end()) {
    std::vector<std::string> names;
    for (auto& [k, v] : m) names.push_back(k);
    throw ConfigError(fmt::format("unknown {} '{}'; the catalog has: {}", kind, name, fmt::join(names, ", ")));
  }
  return it->second;
}
}  // namespace

std::optional<ModelProblem> model_problem(const ModelSpec& m) {
  auto problem = [](std::string what, std::string fix) { return ModelProblem{std::move(what), std::move(fix)}; };
  // the ranges its fields declare (models.yaml entries are read through them; a config.json's are not)
  if (std::string out_of_range = config::range_problem(m); !out_of_range.empty())
    return problem(std::move(out_of_range), "give the model's shapes as its config.json has them");
  if (m.heads % m.kv_heads != 0)
    return problem(fmt::format("{} KV heads do not divide {} attention heads", m.kv_heads, m.heads),
                   "give kv_heads dividing heads (grouped-query attention shares each KV head among heads / kv_heads)");
  if (m.experts > 0 && (m.top_k < 1 || m.top_k > m.experts))
    return problem(fmt::format("top_k {} is not between 1 and its {} experts", m.top_k, m.experts),
                   "give the experts each token is routed to (num_experts_per_tok)");
  if (m.experts == 0 && (m.top_k > 0 || m.shared_experts > 0 || m.dense_layers > 0))
    return problem("top_k, shared_experts or dense_layers is set on a model with no experts",
                   "remove them, or give its experts");
  if (m.dense_layers > m.layers)
    return problem(fmt::format("dense_layers {} exceeds its {} layers", m.dense_layers, m.layers),
                   "count the layers before the first MoE layer (first_k_dense_replace)");
  if (m.ffn_free_layers >= m.layers || m.dense_layers > m.ffn_layers())
    return problem(fmt::format("ffn_free_layers {} leaves {} of its {} layers with an FFN, fewer than one or than its "
                               "dense_layers {}",
                               m.ffn_free_layers, m.ffn_layers(), m.layers, m.dense_layers),
                   "count the mixer layers with no FFN after them only");
  if ((m.sliding_window > 0) != (m.sliding_layers > 0))
    return problem("sliding_window and sliding_layers come together",
                   "give both (the window in tokens, the layers using it) or neither");
  if (m.sliding_layers > m.layers)
    return problem(fmt::format("sliding_layers {} exceeds its {} layers", m.sliding_layers, m.layers),
                   "count the windowed layers only");
  if (m.sparse_topk > 0 && (m.indexer_heads < 1 || m.indexer_head_dim < 1 || m.kv_lora_rank < 1))
    return problem("sparse_topk needs indexer_heads, indexer_head_dim and MLA (kv_lora_rank)",
                   "give the indexer's heads and head dim of a DeepSeek-V3.2-style model, or remove sparse_topk");
  if (m.shared_indexer_layers > 0 && (m.sparse_topk == 0 || m.shared_indexer_layers >= m.layers))
    return problem(fmt::format("shared_indexer_layers {} needs sparse attention and fewer than its {} layers",
                               m.shared_indexer_layers, m.layers),
                   "count the layers that reuse an earlier layer's indexer picks (indexer_types: shared)");
  if (m.v_head_dim > 0 && m.kv_lora_rank == 0)
    return problem("v_head_dim is set on a model without MLA (kv_lora_rank)",
                   "remove it: other models' values are head_dim wide");
  if (m.moe_latent_size > 0 && (m.experts == 0 || m.moe_latent_size >= m.hidden_size))
    return problem(fmt::format("moe_latent_size {} needs experts and a width below the hidden size {}",
                               m.moe_latent_size, m.hidden_size),
                   "give the latent width the routed experts run at (moe_latent_size), or remove it");
  if (!m.mla_input_precision.empty() && m.kv_lora_rank == 0)
    return problem("mla_input_precision is set on a model without MLA (kv_lora_rank)", "remove it");
  if (!m.attention_precision.empty() && m.kv_lora_rank == 0)
    return problem("attention_precision is set on a model without MLA (kv_lora_rank)", "remove it");
  if (!m.attention_precision.empty() && !m.mla_input_precision.empty())
    return problem("attention_precision and mla_input_precision are both set",
                   "keep attention_precision alone: it covers MLA's input projections too");
  if (!m.expert_precision.empty() && m.experts == 0)
    return problem("expert_precision is set on a model with no experts", "remove it, or give experts and top_k");
  if (m.linear_layers > 0) {
    if (m.linear_key_heads < 1 || m.linear_value_heads < 1 || m.linear_key_head_dim < 1 ||
        m.linear_value_head_dim < 1 || m.linear_conv_kernel < 1 || m.linear_state_dtype_bytes < 1)
      return problem("linear_layers needs linear_key_heads, linear_value_heads, linear_key_head_dim, "
                     "linear_value_head_dim, linear_conv_kernel and linear_state_dtype_bytes",
                     "give the Gated DeltaNet or Mamba2 shapes of the model's config.json (linear_num_key_heads, "
                     "n_groups, ...)");
    if (m.linear_value_heads % m.linear_key_heads != 0)
      return problem(fmt::format("{} linear-attention key heads do not divide its {} value heads", m.linear_key_heads,
                                 m.linear_value_heads),
                     "give the heads as the config.json has them");
    if (m.kv_lora_rank > 0 || m.sliding_layers > 0 || m.sparse_topk > 0)
      return problem("linear attention beside MLA, sliding-window or sparse attention is not modelled",
                     "model its full-attention layers as plain attention");
    // vLLM groups the layers by kind into groups of the smaller kind's count; one group of
    // full-attention layers is what KvCapacity's state blocks per sequence assume
    if (m.linear_layers < m.full_attention_layers() || m.full_attention_layers() < 1)
      return problem(fmt::format("{} linear-attention layers beside {} full-attention ones: servesim models hybrids "
                                 "with at least as many linear-attention layers as full-attention ones, and some "
                                 "of each",
                                 m.linear_layers, m.full_attention_layers()),
                     "check linear_layers against layers");
  } else if (m.linear_key_heads > 0 || m.linear_value_heads > 0 || m.linear_mixer != ModelSpec{}.linear_mixer) {
    return problem("linear-attention shapes or linear_mixer are set on a model without linear_layers",
                   "remove them, or give linear_layers");
  }
  return std::nullopt;
}

Catalog Catalog::load() {
  Catalog c;
  c.gpus_ = load_from_search_path<GpuSpec>("gpus.yaml", true);
  c.models_ = load_from_search_path<ModelSpec>("models.yaml", true);
  for (const auto& [name, m] : c.models_)
    if (const auto problem = model_problem(m))
      throw ConfigError(fmt::format("models.yaml on the catalog path, model '{}': {}. Fix: {}", name, problem->what,
                                    problem->fix));
  std::vector<std::filesystem::path> config_dirs{std::filesystem::path(SERVESIM_SOURCE_DIR) / "data" / "aiconfigurator" /
                                                 "model_configs"};
  for (const auto& d : catalog_search_path()) config_dirs.push_back(std::filesystem::path(d) / "model_configs");
  for (const auto& dir : config_dirs) {
    std::error_code ec;
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) files.push_back(e.path());
    std::sort(files.begin(), files.end());  // directory order is the file system's
    for (const auto& file : files) {
      const std::string id = hf_id_of_config_file(file.filename().string());
      if (id.empty() || c.models_.count(id) || c.unreadable_configs_.count(id)) continue;
      bool named = false;
      for (const auto& [name, m] : c.models_) named = named || m.is_checkpoint(id);
      if (named) continue;
      try {
        c.models_.emplace(id, model_from_hf_config(file.string(), id));
      } catch (const InputError& e) {
        c.unreadable_configs_.emplace(id, e.what());
      }
    }
  }
  c.engines_ = load_from_search_path<EnginePreset>("engines.yaml", true);
  return c;
}

std::string catalog_dir() {
  const char* env = std::getenv("SERVESIM_CATALOG_DIR");
  return env ? env : SERVESIM_SOURCE_DIR "/models/catalog";
}

std::vector<std::string> catalog_search_path() {
  std::vector<std::string> out{catalog_dir()};
  const char* env = std::getenv("SERVESIM_CATALOG_PATH");
  const std::string dirs = env ? env : "";
  for (size_t start = 0; start < dirs.size();) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    const std::string dir = dirs.substr(start, end - start);
    if (!dir.empty()) {
      if (!std::filesystem::is_directory(dir))
        throw ConfigError(fmt::format("the catalog path (SERVESIM_CATALOG_PATH or --catalog) names '{}', which is not "
                                      "a folder. Fix: give a folder laid out as models/catalog",
                                      dir));
      out.push_back(dir);
    }
    start = end + 1;
  }
  return out;
}

void add_catalog_folder(const std::string& dir) {
  const std::string abs = std::filesystem::absolute(dir).lexically_normal().string();
  for (const auto& d : catalog_search_path())
    if (std::filesystem::absolute(d).lexically_normal().string() == abs) return;  // a relative entry too
  const char* env = std::getenv("SERVESIM_CATALOG_PATH");
  const std::string value = env && *env ? std::string(env) + ":" + abs : abs;
  setenv("SERVESIM_CATALOG_PATH", value.c_str(), 1);
}

const Catalog& Catalog::builtin() {
  static std::map<std::vector<std::string>, Catalog> loaded;  // one per search path seen
  const auto path = catalog_search_path();
  auto it = loaded.find(path);
  if (it == loaded.end()) it = loaded.emplace(path, load()).first;
  return it->second;
}

const GpuSpec& Catalog::gpu(const std::string& name) const { return find(gpus_, name, "GPU"); }
const ModelSpec* Catalog::find_model(const std::string& name) const {
  if (auto it = models_.find(name); it != models_.end()) return &it->second;
  for (const auto& [entry, m] : models_)
    if (m.hf_id == name) return &m;
  return nullptr;
}

const ModelSpec& Catalog::model(const std::string& name) const {
  if (const std::string* why = unreadable_config(name)) throw ConfigError(*why);
  if (const ModelSpec* m = find_model(name)) return *m;
  return find(models_, name, "model");  // (the error naming the catalog's models)
}
const EnginePreset& Catalog::engine(const std::string& name) const { return find(engines_, name, "engine framework"); }

ModelSpec Catalog::deployed_model(const PoolConfig& pool) const {
  ModelSpec m = model(pool.model);
  if (pool.precision != "auto") {
    m.precision = pool.precision;
    m.dtype_bytes = pool.precision == "bf16" ? 2 : 1;  // (nvfp4 weights: ModelSpec::bytes_per_weight)
  }
  if (pool.kv_cache_dtype != "auto") m.kv_dtype_bytes = pool.kv_cache_dtype == "fp8" ? 1 : 2;
  // DeepEP's FP8 dispatch: one byte a value and a float32 scale per 128 of them
  if (pool.moe_dispatch == "fp8") m.moe_dispatch_bytes = 1 + 4.0 / 128;
  return m;
}

double lora_bytes_per_gpu(const ModelSpec& m, int rank, int tp) {
  const double h = m.hidden_size, q = static_cast<double>(m.heads) * m.head_dim,
               kv = static_cast<double>(m.kv_heads) * m.head_dim, inter = m.intermediate_size, t = tp;
  const double per_rank = (h + q / t) + 2 * (h + kv / t) + (q / t + h)  // q, k, v, o
                          + 2 * (h + inter / t) + (inter / t + h);     // gate, up, down
  constexpr double kLoraDtypeBytes = 2;  // bf16, vLLM's lora_dtype "auto" on bf16 models
  return per_rank * rank * m.layers * kLoraDtypeBytes;
}

KvOffloadCosts kv_offload_costs(const PoolConfig& pool, const Catalog& catalog) {
  const auto& o = pool.kv_offload;
  KvOffloadCosts c;
  if (!o.enabled()) return c;
  const ModelSpec m = catalog.deployed_model(pool);
  c.block_bytes = m.kv_bytes_per_token() * pool.engine.block_size;
  c.gpu_block_bytes = c.block_bytes / (m.kv_lora_rank > 0 ? 1 : std::min(pool.tp, m.kv_heads));
  c.host_blocks = static_cast<std::int64_t>(o.host_gbytes * 1e9 / c.block_bytes);
  c.latency_ns = o.host_latency.ns();
  c.ns_per_block = c.gpu_block_bytes / (o.host_gbyte_per_s * 1e9) * 1e9;
  c.blocking_write_back = o.write_back == "blocking";
  c.store_on_compute = o.store == "on_compute";
  return c;
}

HybridKvLayout hybrid_kv_layout(const ModelSpec& m, int tp) {
  HybridKvLayout out;
  if (m.linear_layers == 0) return out;
  // vLLM's FullAttentionSpec page of one token in one layer on one GPU (KV heads replicated when
  // tp exceeds them) and MambaSpec page of one sequence's state in one layer
  const double attention_page_per_token = 2.0 * std::max(1, m.kv_heads / tp) * m.head_dim * m.kv_dtype_bytes;
  constexpr double kKernelBlockAlignment = 16;  // tokens (FlashAttention's block size multiple)
  out.min_block_size = static_cast<int>(
      kKernelBlockAlignment *
      std::ceil(m.linear_state_bytes_per_layer(tp) / (kKernelBlockAlignment * attention_page_per_token)));
  const int full = m.full_attention_layers();
  out.state_blocks_per_sequence = (m.linear_layers + full - 1) / full;
  return out;
}

std::vector<std::string> apply_hybrid_engine_rules(PoolConfig& pool, const Catalog& catalog, bool prefix_caching_given) {
  std::vector<std::string> notes;
  if (!catalog.models().count(pool.model) || !catalog.gpus().count(pool.gpu)) return notes;  // validation names it
  const ModelSpec m = catalog.deployed_model(pool);
  if (m.linear_layers == 0) return notes;
  auto& e = pool.engine;
  if (e.enable_prefix_caching && prefix_caching_given)
    throw ConfigError(fmt::format(
        "{} keeps a recurrent state per sequence in {} of its {} layers, and reusing a cached prefix needs that "
        "state at the prefix's end (vLLM's experimental mamba prefix caching), which servesim does not model; vLLM "
        "serves such models without prefix caching by default",
        pool.model, m.linear_layers, m.layers));
  if (e.enable_prefix_caching) {
    e.enable_prefix_caching = false;
    notes.push_back(fmt::format("{}: prefix caching off (a hybrid linear-attention model, as vLLM defaults it)", pool.model));
  }
  const HybridKvLayout layout = hybrid_kv_layout(m, pool.tp);
  if (e.block_size < layout.min_block_size) {
    notes.push_back(fmt::format("{}: block_size raised from {} to {} tokens, so that an attention block's page holds "
                                "a linear-attention layer's state ({:.0f} bytes per GPU), as vLLM sets it",
                                pool.model, e.block_size, layout.min_block_size, m.linear_state_bytes_per_layer(pool.tp)));
    e.block_size = layout.min_block_size;
  }
  return notes;
}

KvCapacity kv_capacity(const PoolConfig& pool, const Catalog& catalog) {
  const ModelSpec m = catalog.deployed_model(pool);
  const GpuSpec& g = catalog.gpu(pool.gpu);
  const auto& e = pool.engine;
  MemoryDemand d;
  d.device_bytes = pool.tp * g.engine_visible_gib() * kGiB;
  d.device_reported = g.memory_reported_gib.has_value();
  d.utilization = e.gpu_memory_utilization;
  // an attention-DP rank's GPUs hold the dense layers whole and 1 / attention_dp of the experts
  d.weight_bytes = m.weight_bytes() - (m.experts > 0 ? m.routed_expert_bytes() * (1.0 - 1.0 / pool.attention_dp) : 0.0);
  // The profile run, per GPU. Forward: the token budget x (4 hidden-sized + 2 intermediate-sized
  // tensors) of bf16 activations. Then the sampler, with the forward's hidden states still held,
  // over one row of logits per sequence (up to the token budget): kSamplerBuffers fp32 rows of
  // the vocabulary at its peak.
  const double tokens = static_cast<double>(e.max_num_batched_tokens);
  const double rows = std::min(e.max_num_seqs, e.max_num_batched_tokens);
  d.forward_peak_bytes =
      pool.tp * tokens * (4.0 * m.hidden_size + 2.0 * m.intermediate_size / pool.tp) * kActivationBytes;
  d.sampler_peak_bytes =
      pool.tp * (tokens * m.hidden_size * kActivationBytes + rows * m.vocab_size * 4.0 * kSamplerBuffers);
  d.non_torch_bytes = pool.tp * e.non_torch_gib * kGiB;
  d.profile_tokens = e.max_num_batched_tokens;
  d.sampler_rows = static_cast<std::int64_t>(rows);
  if (pool.lora.enabled())
    d.lora_bytes = pool.lora.max_loras * lora_bytes_per_gpu(m, pool.lora.max_lora_rank, pool.tp) * pool.tp;
  // a speculative draft's weights live beside the model's, and its KV beside theirs in each block
  double kv_bytes_per_token = m.kv_bytes_per_token();
  if (const std::optional<ModelSpec> draft = draft_model_spec(pool, catalog)) {
    d.draft_bytes = draft->weight_bytes();
    kv_bytes_per_token += draft->kv_bytes_per_token();
  }
  KvCapacity cap;
  cap.state_blocks_per_sequence = hybrid_kv_layout(m, pool.tp).state_blocks_per_sequence;
  cap.ledger = memory_rule(e.memory_rule).divide(d);
  cap.weight_bytes = d.weight_bytes;
  cap.lora_bytes = d.lora_bytes;
  cap.draft_bytes = d.draft_bytes;
  const double block_bytes = kv_bytes_per_token * e.block_size;
  if (e.num_gpu_blocks) {
    cap.blocks = *e.num_gpu_blocks;
    cap.kv_bytes = static_cast<double>(cap.blocks) * block_bytes;
    return cap;
  }
  cap.kv_bytes = cap.ledger.kv_bytes;
  cap.blocks = cap.kv_bytes > 0 ? static_cast<std::int64_t>(cap.kv_bytes / block_bytes) : 0;
  // one sequence: a block of KV, and its linear-attention state's blocks in a hybrid model
  const double one_sequence_bytes = block_bytes * static_cast<double>(1 + cap.state_blocks_per_sequence);
  if (cap.blocks < 1 + cap.state_blocks_per_sequence)
    throw ConfigError(fmt::format(
        "pool '{}': {} does not fit on {} x {}: the KV cache would get {:.2f} GiB, a shortfall of {:.2f} GiB for "
        "one sequence's blocks ({}). Fix: raise tp (at least {}), choose a GPU with more memory, lower max_num_seqs or "
        "max_num_batched_tokens, lower lora.max_loras, or raise gpu_memory_utilization",
        pool.name, pool.model, pool.tp, pool.gpu, cap.kv_bytes / kGiB, (one_sequence_bytes - cap.kv_bytes) / kGiB,
        cap.ledger.one_line(),
        static_cast<int>(
            std::ceil((d.weight_bytes * 1.1) / (g.engine_visible_gib() * kGiB * e.gpu_memory_utilization)))));
  return cap;
}

std::optional<std::string> Catalog::gpu_of_system(const std::string& system) const {
  if (gpus_.count(system)) return system;
  for (const std::string suffix : {"_sxm", "_pcie", "_nvl"})
    if (system.ends_with(suffix) && gpus_.count(system.substr(0, system.size() - suffix.size())))
      return system.substr(0, system.size() - suffix.size());
  return std::nullopt;
}

}  // namespace servesim
