#pragma once
// Per-kernel latency tables measured on one GPU system, in aiconfigurator's layout
// (data/aiconfigurator/<system>/):
//   gemm/<framework>/<version>/gemm_perf.csv.gz                      m x n x k per GEMM dtype
//   attention/<framework>/<version>/context_attention_perf.csv.gz    batch x prompt length
//   attention/<framework>/<version>/generation_attention_perf.csv.gz batch x KV length
//   comm/<framework>/<version>/custom_allreduce_perf.csv             GPUs x elements
//   comm/nccl/<version>/nccl_perf.csv                                collective x GPUs x elements
// Latencies are in ms. Attention tables are keyed by the heads one GPU holds.
#include <map>
#include <memory>
#include <string>
#include <tuple>

#include "models/timing/log_grid.h"

namespace servesim {

struct AttentionKey {
  int heads = 0, kv_heads = 0, head_dim = 0;
  std::string kv_dtype;  // bfloat16 | fp8
  auto tie() const { return std::tie(heads, kv_heads, head_dim, kv_dtype); }
  bool operator<(const AttentionKey& o) const { return tie() < o.tie(); }
};

// The GEMM table that prices a servesim precision (bf16 | fp8 | fp8_block): bfloat16 | fp8 | fp8_block.
const char* gemm_table_dtype(const std::string& precision);

struct KernelTables {
  std::string dir, framework;
  std::map<std::string, LogGrid> gemm;                // by gemm_table_dtype(): m, n, k
  std::map<AttentionKey, LogGrid> context_attention;  // batch, isl (full-window kernels only)
  std::map<AttentionKey, LogGrid> generation_attention;  // batch, kv_len
  // all-reduce by (implementation, GPUs): elements. Implementations: custom_graph, custom_eager, nccl.
  std::map<std::pair<std::string, int>, LogGrid> allreduce;
  std::map<std::string, std::string> files;  // table -> file it was read from

  // Reads the tables of `framework` (e.g. vllm) under `dir`; a table's version folder is the only
  // (or the newest, in release order: core/version_order.h) one there. Throws InputError naming a missing file or a malformed row.
  static KernelTables load(const std::string& dir, const std::string& framework);
  // load(), once per (dir, framework) per process: sweeps and check-silicon build many workers
  // from the same tables, and the GEMM table alone is ~100k rows.
  static std::shared_ptr<const KernelTables> shared(const std::string& dir, const std::string& framework);
};

}  // namespace servesim
