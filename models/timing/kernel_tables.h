#pragma once
// Per-kernel latency tables measured on one GPU system, in aiconfigurator's layout (its published
// database, data/aiconfigurator/systems/data/<system>/, or the older data/aiconfigurator/<system>/):
//   gemm/<backend>/<version>/gemm_perf.{parquet,csv.gz}                      m x n x k per GEMM dtype
//   attention/<backend>/<version>/context_attention_perf.{parquet,csv.gz}    batch x prompt length
//   attention/<backend>/<version>/generation_attention_perf.{parquet,csv.gz} batch x KV length
//   comm/<backend>/<version>/custom_allreduce_perf.{parquet,csv}             GPUs x elements
//   comm/nccl/<version>/nccl_perf.{parquet,csv}                              collective x GPUs x elements
// Latencies are in ms. Attention tables are keyed by the heads one GPU holds.
//
// Versions: the backend's version is the one asked for, else its newest GEMM folder in release
// order (core/version_order.h). Each table is read from that version's folder; where the folder
// lacks it, from the version its reuse.yaml names (aiconfigurator's own reuse contract), else from
// the newest older version that has it. Every table records where it came from (`sources`).
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "models/timing/log_grid.h"

namespace servesim {

struct ModelSpec;

struct AttentionKey {
  int heads = 0, kv_heads = 0, head_dim = 0;
  std::string kv_dtype;  // bfloat16 | fp8
  int window = 0;        // sliding-window kernels' window (tokens); 0: full attention
  auto tie() const { return std::tie(heads, kv_heads, head_dim, kv_dtype, window); }
  bool operator<(const AttentionKey& o) const { return tie() < o.tie(); }
};

// The GEMM table that prices a servesim precision (bf16 | fp8 | fp8_block | nvfp4): bfloat16 | fp8 |
// fp8_block | nvfp4.
const char* gemm_table_dtype(const std::string& precision);

// The attention kernels one GPU of a deployment runs: its share of the heads and the KV dtype.
struct AttentionShape {
  int heads = 0, kv_heads = 0, head_dim = 0;
  std::string kv_dtype;  // bfloat16 | fp8
  auto tie() const { return std::tie(heads, kv_heads, head_dim, kv_dtype); }
  bool operator<(const AttentionShape& o) const { return tie() < o.tie(); }
  bool operator==(const AttentionShape& o) const { return tie() == o.tie(); }
  bool of(const AttentionKey& k) const { return tie() == std::tie(k.heads, k.kv_heads, k.head_dim, k.kv_dtype); }
};
// A dense or MoE model's attention shape at tensor parallelism `tp` (KV heads replicated where
// fewer than tp).
AttentionShape attention_shape_per_gpu(const ModelSpec& m, int tp);

// What of the tables to read. A dense model's timing needs neither the MoE nor the MLA tables,
// and only one or two of the GEMM table's dtypes and one of the attention tables' shapes: the
// other rows are skipped unparsed (most of the rows, and of a kernel-timed run's start-up).
struct KernelTableParts {
  bool moe = true, mla = true;
  bool windows = true;  // the sliding-window attention rows
  bool sparse = true;   // the sparse-attention (DSA) modules
  bool linear = true;   // the linear-attention (Gated DeltaNet) kernels
  // Sorted, unique; nullopt: every one of them
  std::optional<std::vector<std::string>> gemm_dtypes = std::nullopt;
  std::optional<std::vector<AttentionShape>> attention_shapes = std::nullopt;
  bool covers(const KernelTableParts& o) const;
  // What this and `o` ask, together.
  KernelTableParts merged(const KernelTableParts& o) const;
  // a MoE model's MoE tables (where its experts are priced from them: `moe_table`), an MLA
  // model's MLA ones, a sliding-window model's window rows, a sparse-attention model's modules,
  // a hybrid model's linear-attention kernels
  static KernelTableParts for_model(const ModelSpec& m, bool moe_table = true);
  // every GEMM dtype and full-attention shape, nothing else (calibration fits them all)
  static KernelTableParts dense_every_shape();
  // for_model(), narrowed to the GEMM dtypes and the attention shape a kernel-timed pool of `m`
  // at `tp` reads
  static KernelTableParts for_deployment(const ModelSpec& m, int tp, bool moe_table);
};

struct KernelTables {
  std::string dir, backend;
  std::string version;  // the backend version asked for, or the newest GEMM folder's
  std::map<std::string, LogGrid> gemm;                // by gemm_table_dtype(): m, n, k
  // batch, isl; sliding-window kernels (where read) under their window, at the prompt's whole length
  std::map<AttentionKey, LogGrid> context_attention;
  std::map<AttentionKey, LogGrid> generation_attention;  // batch, kv_len (the whole context, windows too)
  // MLA (DeepSeek-style attention) where the backend publishes its kernels (SGLang, TensorRT-LLM:
  // mla/<backend>/<version>/{context,generation}_mla_perf, mla_bmm/...): attention by (heads per
  // GPU, KV dtype) over batch x isl / kv_len, and the absorbed decode's two batched GEMMs by
  // (mla_gen_pre | mla_gen_post, bfloat16 | fp8) over tokens x heads per GPU. Empty where absent.
  std::map<std::pair<int, std::string>, LogGrid> context_mla, generation_mla;
  std::map<std::pair<std::string, std::string>, LogGrid> mla_bmm;
  // vLLM publishes the whole MLA attention block instead (mla/vllm/<version>/mla_{context,
  // generation}_module_perf: the query and KV projections, the attention and the output
  // projection of one layer, for the checkpoints `mla_module_models` at each head count per GPU):
  // by (checkpoint, heads per GPU, KV dtype, GEMM dtype) over batch x isl / kv_len, whichever of
  // vLLM's MLA backends measured a point (FlashMLA, then FlashAttention MLA, preferred where two did).
  using MlaModuleKey = std::tuple<std::string, int, std::string, std::string>;
  std::map<MlaModuleKey, LogGrid> context_mla_module, generation_mla_module;
  std::vector<std::string> mla_module_models;  // sorted
  // DeepSeek sparse attention (DSA: DeepSeek-V3.2's MLA over the indexer's top-k tokens), which
  // every backend publishes as a whole block per layer (sparse_attention/<backend>/<version>/
  // dsa_{context,generation}_module_perf: projections, indexer and sparse attention), keyed as the
  // MLA modules are (KernelTableParts::sparse).
  std::map<MlaModuleKey, LogGrid> context_dsa_module, generation_dsa_module;
  std::vector<std::string> dsa_module_models;  // sorted
  // The same block where it skips the indexer and reuses an earlier layer's picks (GLM-5.2's
  // shared layers; op *_skip_indexer, SGLang's tables only)
  std::map<MlaModuleKey, LogGrid> context_dsa_skip_module, generation_dsa_skip_module;
  std::vector<std::string> dsa_skip_module_models;  // sorted
  // Linear attention (Gated DeltaNet, linear_attention/<backend>/<version>/gdn_perf): by (key
  // heads, value heads) per GPU (head dims 128), the kernels of one layer summed: prefill's causal
  // convolution and chunked delta rule over batch x prompt length, decode's convolution update
  // and recurrent step over batch. Where the table measured a shape for several models (hidden
  // sizes, which these kernels do not read), the model with the most points.
  std::map<std::pair<int, int>, LogGrid> context_linear_attention, generation_linear_attention;
  static constexpr int kLinearAttentionTableHeadDim = 128;
  // A whole MoE layer's experts on one GPU (moe/<backend>/<version>/moe_perf): by (moe dtype,
  // hidden, expert FFN width, top-k, experts, moe_tp, moe_ep, token distribution) over tokens.
  struct MoeKey {
    std::string dtype;
    int hidden = 0, inter = 0, top_k = 0, experts = 0, moe_tp = 1, moe_ep = 1;
    std::string distribution;  // balanced | power_law_1.01 | power_law_1.2
    auto tie() const { return std::tie(dtype, hidden, inter, top_k, experts, moe_tp, moe_ep, distribution); }
    bool operator<(const MoeKey& o) const { return tie() < o.tie(); }
  };
  std::map<MoeKey, LogGrid> moe;
  // all-reduce by (implementation, GPUs): elements. Implementations: custom_graph, custom_eager, nccl;
  // NCCL's all-to-all as nccl_alltoall (elements each GPU holds for all of them).
  std::map<std::pair<std::string, int>, LogGrid> allreduce;
  struct Source {
    std::string file, version;
    std::string note;  // why the version differs from `version`, empty when it does not
  };
  std::map<std::string, Source> sources;  // table -> file it was read from

  using Parts = KernelTableParts;
  bool has(const Parts& o) const { return parts.covers(o); }
  Parts parts;  // which of them were read

  // Reads the tables of `backend` (vllm | sglang | trtllm) under `dir` at `version` (empty: the
  // newest), the MoE and MLA ones where `parts` asks. Throws InputError naming a missing file or
  // a malformed row, ConfigError naming an unknown backend or version with the ones there are.
  static KernelTables load(const std::string& dir, const std::string& backend, const std::string& version = "",
                           Parts parts = {});
  // load(), once per (dir, backend, version) per process (tables read with more parts serve a
  // call that asks fewer): sweeps and check-silicon build many workers from the same tables, and
  // the GEMM table alone is ~100k rows.
  static std::shared_ptr<const KernelTables> shared(const std::string& dir, const std::string& backend,
                                                    const std::string& version = "", Parts parts = {});
};

// Where a pool's kernel tables are: a system of aiconfigurator's performance database
// (timing.kernel.system, default the pool GPU's), or a folder given as is (timing.kernel.tables).
struct KernelTableLocation {
  std::string dir;          // the tables: <database>/<data_dir of the system YAML>, or `tables`
  std::string system_yaml;  // the system's hardware constants
  std::string system;       // h100_sxm, ... (the folder's name for `tables`)
};
// `resolve` turns a scenario's relative path into one to open. Throws ConfigError naming the key
// and the choices (the systems there are, both keys set) or InputError (a missing file).
KernelTableLocation locate_kernel_tables(const std::string& system, const std::string& database,
                                         const std::string& tables, const std::string& pool_gpu,
                                         const std::function<std::string(const std::string&)>& resolve);
// The versions of `backend`'s GEMM tables under `dir`, nearest first to a measurement made with
// `measured` (check-silicon's rows): the newest not newer than it, then the older ones newest
// first, then the newer ones oldest first (all newest first when `measured` is empty); empty when
// the backend has no tables there.
std::vector<std::string> table_versions_by_nearness(const std::string& dir, const std::string& backend,
                                                    const std::string& measured);

// The database a scenario gets without `database`: the repository's copy, else an installed
// aiconfigurator's systems/ folder; empty if neither is there.
std::string default_perf_database();

}  // namespace servesim
