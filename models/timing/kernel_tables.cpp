#include "models/timing/kernel_tables.h"

#include <algorithm>
#include <cmath>
#include <compare>
#include <cstdlib>
#include <filesystem>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <future>
#include <mutex>
#include <set>
#include <optional>
#include <yaml-cpp/yaml.h>

#include "core/error.h"
#include "core/table_reader.h"
#include "core/version_order.h"
#include "models/catalog.h"
#include "models/timing/model_ops.h"

namespace servesim {

const char* gemm_table_dtype(const std::string& precision) {
  return precision == "bf16" ? "bfloat16" : precision == "fp8" ? "fp8" : precision == "nvfp4" ? "nvfp4" : "fp8_block";
}

namespace fs = std::filesystem;

namespace {

// The GEMM tables sample m at multiples of 16 and one past them (256, 257, 512, 513, ...), and the
// two series differ by up to 2x: rows that are not a multiple of 16 run other kernel code. Any m
// that is not a multiple of 16 is read from the one-past series, as the nearest measured case.
constexpr double kGemmRowAlignment = 16;

// Each table is read with the interpolant of lower held-out error (`servesim calibrate` prints
// both). Attention and all-reduce latency bend smoothly from a launch floor into their bandwidth
// or quadratic cost, which a monotone cubic follows: held out, context attention 5.7% -> 4.6%,
// generation 5.2% -> 4.4%, all-reduce 4.3% -> 3.7% against straight log-log lines. The GEMM
// tables are noisier (a few percent point to point) and the cubic follows the noise (bf16 4.3% ->
// 4.6%), so they stay linear.
constexpr Interpolation kAttentionInterpolation = Interpolation::kMonotoneCubic;
constexpr Interpolation kAllReduceInterpolation = Interpolation::kMonotoneCubic;

// The file of table `stem` in one version folder, in either format; empty if it has neither.
std::string file_in(const fs::path& folder, const std::string& stem) {
  for (const char* ext : {".parquet", ".csv.gz", ".csv"})
    if (fs::exists(folder / (stem + ext))) return (folder / (stem + ext)).string();
  return {};
}

std::vector<std::string> version_folders(const fs::path& base) {
  std::vector<std::string> versions;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(base, ec))
    if (e.is_directory()) versions.push_back(e.path().filename().string());
  std::sort(versions.begin(), versions.end(), version_less);
  return versions;
}

// The version a folder's reuse.yaml says table `stem` is read from (aiconfigurator's contract for
// a version that did not re-measure a table), or empty.
std::string reused_from(const fs::path& folder, const std::string& stem) {
  const fs::path path = folder / "reuse.yaml";
  if (!fs::exists(path)) return {};
  try {
    const YAML::Node root = YAML::LoadFile(path.string());
    for (const auto& entry : root["reuse"])
      if (entry["table"] && entry["table"].as<std::string>() == stem) return entry["from_version"].as<std::string>();
  } catch (const YAML::Exception& e) {
    throw InputError(fmt::format("{}: cannot read reuse[].table and reuse[].from_version ({})", path.string(), e.what()));
  }
  return {};
}

// Whether version `a` is nearer `version` than `b`: those not newer than it before the newer
// ones, the newest first of those not newer, the oldest first of those newer; false if equal.
// The one order of nearness: find_source, the MLA form and table_versions_by_nearness use it.
bool nearer_version(const std::string& a, const std::string& b, const std::string& version) {
  const bool a_newer = version_less(version, a), b_newer = version_less(version, b);
  if (a_newer != b_newer) return !a_newer;
  return a_newer ? version_less(a, b) : version_less(b, a);
}

// <dir>/<kind>/<backend>/<version>/<stem>.*: `version`'s own file, else the one its reuse.yaml
// names, else the newest older version's, else the oldest newer one's; nothing where no version
// of the backend has the table.
std::optional<KernelTables::Source> find_source(const std::string& dir, const std::string& kind,
                                                const std::string& backend, const std::string& stem,
                                                const std::string& version) {
  const fs::path base = fs::path(dir) / kind / backend;
  if (std::string f = file_in(base / version, stem); !f.empty()) return KernelTables::Source{f, version, ""};
  if (std::string donor = reused_from(base / version, stem); !donor.empty()) {
    if (std::string f = file_in(base / donor, stem); !f.empty())
      return KernelTables::Source{f, donor, fmt::format("{} reuses {}'s {} (its reuse.yaml)", version, donor, stem)};
    throw InputError(fmt::format("{}: reuse.yaml reads {} from version {}, which has no {} file", (base / version).string(),
                                 stem, donor, stem));
  }
  const std::vector<std::string> versions = version_folders(base);
  const std::string* nearest = nullptr;
  for (const std::string& v : versions)
    if (!file_in(base / v, stem).empty() && (!nearest || nearer_version(v, *nearest, version))) nearest = &v;
  if (nearest)
    return KernelTables::Source{file_in(base / *nearest, stem), *nearest,
                                fmt::format("{} has no {} table; read from {}", version, stem, *nearest)};
  return std::nullopt;
}

// find_source() of a table every backend has: its absence is an error naming the folder.
KernelTables::Source table_source(const std::string& dir, const std::string& kind, const std::string& backend,
                                  const std::string& stem, const std::string& version) {
  if (auto source = find_source(dir, kind, backend, stem, version)) return *source;
  const fs::path base = fs::path(dir) / kind / backend;
  throw InputError(fmt::format("{}: no <version>/{}.parquet (or .csv.gz, .csv) under it. Fix: point the kernel "
                               "timing at an aiconfigurator system folder that has {} tables for {}",
                               base.string(), stem, kind, backend));
}

// MLA attention rows: (heads per GPU, KV dtype) -> batch x isl (context) or x kv_len (generation)
void load_mla(const std::string& path, bool generation, std::map<std::pair<int, std::string>, LogGrid>* out) {
  auto table = TableReader::open(path);
  TableReader& t = *table;
  const size_t batch = t.column("batch_size"), isl = t.column("isl"), heads = t.column("num_heads"),
               kv_dtype = t.column("kv_cache_dtype"), step = t.column("step"), latency = t.column("latency");
  while (t.next()) {
    auto [it, fresh] = out->try_emplace({static_cast<int>(t.number(heads)), std::string(t.field(kv_dtype))},
                                        LogGrid({"batch", generation ? "kv_len" : "isl"}));
    if (fresh)
      for (size_t axis : {0, 1}) it->second.interpolate_axis(axis, kAttentionInterpolation);
    const double len = generation ? t.positive(isl) + t.number(step) : t.positive(isl);
    it->second.add({t.positive(batch), len}, t.positive(latency));
  }
  for (auto& [k, grid] : *out) grid.finish();
}

// Attention-like rows (batch x length, each with a preference rank) into one grid per key; a point
// measured twice keeps the preferred row.
template <class Key>
struct RankedRow {
  Key key;
  double batch, len, latency;
  int rank;
};
template <class Key>
void add_ranked_rows(std::vector<RankedRow<Key>>& rows, bool generation, std::map<Key, LogGrid>* out) {
  // A repeated point keeps the last value added: the preferred rows go last.
  std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.rank < b.rank; });
  for (const auto& r : rows) {
    auto [it, fresh] = out->try_emplace(r.key, LogGrid({"batch", generation ? "kv_len" : "isl"}));
    if (fresh)
      for (size_t axis : {0, 1}) it->second.interpolate_axis(axis, kAttentionInterpolation);
    it->second.add({r.batch, r.len}, r.latency);
  }
  for (auto& [k, grid] : *out) grid.finish();
}

// vLLM's MLA module rows (and every backend's DSA module rows, in the same layout): per
// (checkpoint, heads, KV dtype, GEMM dtype), every row, whichever attention backend measured it
// (they split the prompt lengths between them: FlashMLA or FlashAttention MLA the short ones,
// FlashAttention the long ones), the one vLLM prefers where two measured a point; the checkpoints
// measured go to `models` (some tables measured several of one architecture: DeepSeek-V3, -R1
// and -V3.1). Rows of a block that skips its indexer (op *_skip_indexer: GLM-5.2's layers that
// share an earlier layer's picks) go to `skip_out` and `skip_models` instead (left out without).
void load_module_rows(const std::string& path, bool generation, std::map<KernelTables::MlaModuleKey, LogGrid>* out,
                     std::vector<std::string>* models, std::map<KernelTables::MlaModuleKey, LogGrid>* skip_out = nullptr,
                     std::vector<std::string>* skip_models = nullptr) {
  auto table = TableReader::open(path);
  TableReader& t = *table;
  // (a table without op_name is all full blocks: kNoColumn)
  constexpr size_t kNoColumn = ~size_t{0};
  const size_t op = t.has_column("op_name") ? t.column("op_name") : kNoColumn;
  const size_t batch = t.column("batch_size"), isl = t.column("isl"), heads = t.column("num_heads"),
               kv_dtype = t.column("kv_cache_dtype"), gemm = t.column("gemm_type"), step = t.column("step"),
               source = t.column("kernel_source"), checkpoint = t.column("model"), latency = t.column("latency");
  // vLLM's MLA backends on Hopper in its order of choice
  auto rank = [](std::string_view s) {
    return s == "FLASHMLA" ? 3 : s == "FLASH_ATTN_MLA" ? 2 : s == "FLASH_ATTN" ? 1 : 0;
  };
  std::vector<RankedRow<KernelTables::MlaModuleKey>> rows, skip_rows;
  while (t.next()) {
    const bool skip = op != kNoColumn && t.field(op).ends_with("_skip_indexer");
    if (skip && !skip_out) continue;
    const std::string_view name = t.field(checkpoint);
    std::vector<std::string>* names = skip ? skip_models : models;
    if (std::find(names->begin(), names->end(), name) == names->end()) {
      names->emplace_back(name);
      std::sort(names->begin(), names->end());
    }
    (skip ? skip_rows : rows).push_back({{std::string(name), static_cast<int>(t.number(heads)), std::string(t.field(kv_dtype)),
                     std::string(t.field(gemm))},
                    t.positive(batch),
                    generation ? t.positive(isl) + t.number(step) : t.positive(isl),
                    t.positive(latency),
                    rank(t.field(source))});
  }
  add_ranked_rows(rows, generation, out);
  if (skip_out) add_ranked_rows(skip_rows, generation, skip_out);
}

// The absorbed MLA decode's batched GEMMs: (op, dtype) -> tokens x heads per GPU
void load_mla_bmm(const std::string& path, std::map<std::pair<std::string, std::string>, LogGrid>* out) {
  auto table = TableReader::open(path);
  TableReader& t = *table;
  const size_t op = t.column("op_name"), dtype = t.column("bmm_dtype"), tokens = t.column("num_tokens"),
               heads = t.column("num_heads"), latency = t.column("latency");
  while (t.next()) {
    auto [it, fresh] = out->try_emplace({std::string(t.field(op)), std::string(t.field(dtype))},
                                        LogGrid({"tokens", "heads"}));
    (void)fresh;
    it->second.add({t.positive(tokens), t.positive(heads)}, t.positive(latency));
  }
  for (auto& [k, grid] : *out) grid.finish();
}

// MoE layers: one grid over tokens per shape and parallel split
void load_moe(const std::string& path, std::map<KernelTables::MoeKey, LogGrid>* out) {
  auto table = TableReader::open(path);
  TableReader& t = *table;
  const size_t dtype = t.column("moe_dtype"), tokens = t.column("num_tokens"), hidden = t.column("hidden_size"),
               inter = t.column("inter_size"), top_k = t.column("topk"), experts = t.column("num_experts"),
               moe_tp = t.column("moe_tp_size"), moe_ep = t.column("moe_ep_size"),
               distribution = t.column("distribution"), latency = t.column("latency");
  while (t.next()) {
    KernelTables::MoeKey key{std::string(t.field(dtype)),           static_cast<int>(t.number(hidden)),
                             static_cast<int>(t.number(inter)),      static_cast<int>(t.number(top_k)),
                             static_cast<int>(t.number(experts)),    static_cast<int>(t.number(moe_tp)),
                             static_cast<int>(t.number(moe_ep)),     std::string(t.field(distribution))};
    auto [it, fresh] = out->try_emplace(std::move(key), LogGrid({"tokens"}));
    (void)fresh;
    it->second.add({t.positive(tokens)}, t.positive(latency));
  }
  for (auto& [k, grid] : *out) grid.finish();
}

// Gated DeltaNet kernels: each point the sum of its phase's kernels (a point missing one of them,
// such as a measurement that ran out of memory, is left out).
void load_linear_attention(const std::string& path, std::map<std::pair<int, int>, LogGrid>* context,
                           std::map<std::pair<int, int>, LogGrid>* generation) {
  auto table = TableReader::open(path);
  TableReader& t = *table;
  const size_t phase = t.column("phase"), op = t.column("kernel_source"), batch = t.column("batch_size"),
               len = t.column("seq_len"), hidden = t.column("d_model"), key_heads = t.column("num_k_heads"),
               value_heads = t.column("num_v_heads"), key_dim = t.column("head_k_dim"),
               value_dim = t.column("head_v_dim"), latency = t.column("latency");
  struct Sum {
    std::set<std::string> kernels;
    double ms = 0;
  };
  // (generation?, key heads, value heads, hidden) -> (batch, length) -> the kernels' sum
  std::map<std::tuple<bool, int, int, int>, std::map<std::pair<double, double>, Sum>> shapes;
  std::map<bool, std::set<std::string>> kernels_of_phase;
  while (t.next()) {
    if (t.number(key_dim) != KernelTables::kLinearAttentionTableHeadDim ||
        t.number(value_dim) != KernelTables::kLinearAttentionTableHeadDim)
      continue;  // (every published row is 128 x 128; KernelTiming refuses models of other widths)
    const bool gen = t.field(phase) == "generation";
    Sum& sum = shapes[{gen, static_cast<int>(t.number(key_heads)), static_cast<int>(t.number(value_heads)),
                       static_cast<int>(t.number(hidden))}][{t.positive(batch), gen ? 1.0 : t.positive(len)}];
    const std::string kernel(t.field(op));
    sum.kernels.insert(kernel);
    sum.ms += t.positive(latency);
    kernels_of_phase[gen].insert(kernel);
  }
  std::map<std::tuple<bool, int, int>, std::pair<size_t, int>> chosen;  // the shape's points and hidden size
  for (const auto& [key, points] : shapes) {
    const auto& [gen, k, v, h] = key;
    auto [it, fresh] = chosen.try_emplace({gen, k, v}, points.size(), h);
    if (!fresh && points.size() > it->second.first) it->second = {points.size(), h};
  }
  for (const auto& [key, pick] : chosen) {
    const auto& [gen, k, v] = key;
    LogGrid grid(gen ? std::vector<std::string>{"batch"} : std::vector<std::string>{"batch", "isl"});
    for (const auto& [x, sum] : shapes.at({gen, k, v, pick.second}))
      if (sum.kernels == kernels_of_phase[gen]) {
        if (gen)
          grid.add({x.first}, sum.ms);
        else
          grid.add({x.first, x.second}, sum.ms);
      }
    grid.finish();
    (gen ? generation : context)->emplace(std::pair{k, v}, std::move(grid));
  }
}

// Attention kernels a backend runs where a table measured one shape with several: the later in
// the list wins (aiconfigurator collects the alternatives side by side). SGLang runs FA3 on Hopper
// and TensorRT-LLM's kernels on Blackwell, over Triton and FlashInfer; TensorRT-LLM's own
// flow over its FlashInfer variant.
int kernel_preference(std::string_view source) {
  static constexpr std::string_view ranked[] = {"triton", "flashinfer", "torch_flow_flashinfer", "fa3", "trtllm_mha",
                                                "torch_flow"};
  for (int i = 0; const auto& name : ranked) {
    ++i;
    if (source == name) return i;
  }
  return 0;
}

// Attention rows of `shapes` (all where nullopt): full-window kernels, and sliding-window ones
// when `windows`, preferring `kernel` where a point was measured twice.
void load_attention(const std::string& path, bool generation, bool windows,
                    const std::optional<std::vector<AttentionShape>>& shapes, std::map<AttentionKey, LogGrid>* out) {
  auto table = TableReader::open(path);
  TableReader& csv = *table;
  const size_t batch = csv.column("batch_size"), isl = csv.column("isl"), heads = csv.column("num_heads"),
               kv = csv.column("num_key_value_heads"), dim = csv.column("head_dim"),
               kv_dtype = csv.column("kv_cache_dtype"), step = csv.column("step"),
               source = csv.column("kernel_source"), latency = csv.column("latency");
  // Some backends' tables have no window_size (all full-window) or no attn_dtype (all bfloat16).
  const bool has_window = csv.has_column("window_size"), has_attn_dtype = csv.has_column("attn_dtype");
  const size_t window = has_window ? csv.column("window_size") : 0;
  const size_t attn_dtype = has_attn_dtype ? csv.column("attn_dtype") : 0;
  std::vector<RankedRow<AttentionKey>> rows;
  while (csv.next()) {
    const int window_tokens = has_window ? static_cast<int>(csv.number(window)) : 0;
    if (window_tokens != 0 && !windows) continue;
    // FA3 is what vLLM runs on Hopper; the FA4 rows are a side experiment on few shapes.
    if (csv.field(source).find("fa4") != std::string_view::npos) continue;
    AttentionKey key{static_cast<int>(csv.number(heads)), static_cast<int>(csv.number(kv)),
                     static_cast<int>(csv.number(dim)), std::string(csv.field(kv_dtype)), window_tokens};
    if (shapes && std::none_of(shapes->begin(), shapes->end(), [&](const AttentionShape& s) { return s.of(key); }))
      continue;
    // generation rows: the step's KV length is the prompt (isl) plus the tokens generated (step)
    const double len = generation ? csv.positive(isl) + csv.number(step) : csv.positive(isl);
    // Where a shape was measured with the attention math in BF16 and in FP8 (TensorRT-LLM's
    // context FMHA), the FP8 KV cache's row is the FP8 one: TensorRT-LLM runs FP8 context FMHA
    // on an FP8 KV cache.
    const bool dtype_matches = has_attn_dtype && csv.field(attn_dtype) == key.kv_dtype;
    rows.push_back({std::move(key), csv.positive(batch), len, csv.positive(latency),
                    2 * kernel_preference(csv.field(source)) + (dtype_matches ? 1 : 0)});
  }
  add_ranked_rows(rows, generation, out);
}

// One GEMM shape's rows of a table: latency by m.
struct GemmSeriesKey {
  std::string dtype;
  double n, k;
  auto operator<=>(const GemmSeriesKey&) const = default;
};
struct GemmRow {
  double m, latency_ms;
  std::string regime;  // kernel_source
};

// A decode batch's GEMM of m rows could run as one of more rows, padded: where the tables sample
// every m up to 16 (each row its own launch), a row slower than a larger m of its alignment class
// and kernel, up to one past 16, is a spike of the measurement, not of the kernel, and reads as
// that larger row. B200's vLLM fp8 table has them: 6.8% of its rows at m = 2..16 are 1.5x or
// more the shape's median there, and m = 1 is 2.35x it in the median, where every other
// table's m = 1 is within 5% of its neighbours and under 1.5% of its rows spike (H100's vLLM
// fp8 and bf16: none); read as measured, a batch of 4 decoded Llama-3.1-70B at TP 4 in 12.3 ms
// against 8.5 ms at 8. Rows past m = 17 are sparse, and a step there may be a kernel's own.
void bound_by_padding(std::vector<GemmRow>& rows) {
  constexpr double kDenseRowsUpTo = kGemmRowAlignment + 1;
  // larger m first; a repeated row keeps its place after its twin (the last one read wins)
  std::stable_sort(rows.begin(), rows.end(), [](const GemmRow& a, const GemmRow& b) { return a.m > b.m; });
  std::map<std::pair<bool, std::string>, double> least;  // by alignment class and kernel: the least so far
  for (GemmRow& r : rows) {
    if (r.m > kDenseRowsUpTo) continue;
    auto [it, fresh] = least.try_emplace({std::fmod(r.m, kGemmRowAlignment) == 0, r.regime}, r.latency_ms);
    if (!fresh) it->second = r.latency_ms = std::min(r.latency_ms, it->second);
  }
}

// GEMM rows by dtype (of `dtypes`; all where nullopt): m x n x k, the latency and the kernel that ran.
void load_gemm(const std::string& path, const std::optional<std::vector<std::string>>& dtypes,
               std::map<std::string, LogGrid>* out) {
  auto table = TableReader::open(path);
  TableReader& csv = *table;
  const size_t dtype = csv.column("gemm_dtype"), m = csv.column("m"), n = csv.column("n"), k = csv.column("k"),
               source = csv.column("kernel_source"), latency = csv.column("latency");
  std::map<GemmSeriesKey, std::vector<GemmRow>> series;
  while (csv.next()) {
    if (dtypes && std::find(dtypes->begin(), dtypes->end(), csv.field(dtype)) == dtypes->end()) continue;
    // A GEMM with no rows (or columns) does no work and is never asked for; TensorRT-LLM
    // 1.2.0rc5's H100 table timed 882 of them (m = 0: the launch alone).
    if (csv.number(m) == 0 || csv.number(n) == 0 || csv.number(k) == 0) continue;
    series[{std::string(csv.field(dtype)), csv.positive(n), csv.positive(k)}].push_back(
        {csv.positive(m), csv.positive(latency), std::string(csv.field(source))});
  }
  for (auto& [key, rows] : series) {
    bound_by_padding(rows);
    auto [it, fresh] = out->try_emplace(key.dtype, LogGrid({"m", "n", "k"}));
    if (fresh) it->second.align_axis(0, kGemmRowAlignment);
    // vLLM's block-fp8 GEMMs switch kernels inside the table (FlashInfer at m <= 17, DeepGEMM
    // from m = 32, CUTLASS where n = 32 or k <= 64); the held-out check tells those steps apart.
    for (const GemmRow& r : rows) it->second.add({r.m, key.n, key.k}, r.latency_ms, r.regime);
  }
  for (auto& [key, grid] : *out) grid.finish();
}

// Whether `have` (nullopt: every one) holds all of `want`; both sorted.
template <class T>
bool holds_all(const std::optional<std::vector<T>>& have, const std::optional<std::vector<T>>& want) {
  if (!have) return true;
  return want && std::includes(have->begin(), have->end(), want->begin(), want->end());
}

template <class T>
std::optional<std::vector<T>> union_of(const std::optional<std::vector<T>>& a, const std::optional<std::vector<T>>& b) {
  if (!a || !b) return std::nullopt;
  std::vector<T> both;
  std::set_union(a->begin(), a->end(), b->begin(), b->end(), std::back_inserter(both));
  return both;
}

}  // namespace

AttentionShape attention_shape_per_gpu(const ModelSpec& m, int tp) {
  return {m.heads / tp, std::max(1, m.kv_heads / tp), m.head_dim, m.kv_dtype_bytes == 1 ? "fp8" : "bfloat16"};
}

bool KernelTableParts::covers(const KernelTableParts& o) const {
  return (moe || !o.moe) && (mla || !o.mla) && (windows || !o.windows) && (sparse || !o.sparse) && (linear || !o.linear) &&
         holds_all(gemm_dtypes, o.gemm_dtypes) && holds_all(attention_shapes, o.attention_shapes);
}

KernelTableParts KernelTableParts::merged(const KernelTableParts& o) const {
  return {moe || o.moe,         mla || o.mla,
          windows || o.windows, sparse || o.sparse,
          linear || o.linear,   union_of(gemm_dtypes, o.gemm_dtypes),
          union_of(attention_shapes, o.attention_shapes)};
}

KernelTableParts KernelTableParts::for_model(const ModelSpec& m, bool moe_table) {
  KernelTableParts p;
  p.moe = m.experts > 0 && moe_table;
  p.mla = m.kv_lora_rank > 0;
  p.windows = m.windowed_layers() > 0;
  p.sparse = m.sparse_topk > 0;
  p.linear = m.linear_layers > 0 && m.linear_mixer == "gated_deltanet";  // (the tables are Gated DeltaNet's)
  return p;
}

KernelTableParts KernelTableParts::dense_every_shape() {
  KernelTableParts p;
  p.moe = p.mla = p.windows = p.sparse = p.linear = false;
  return p;
}

KernelTableParts KernelTableParts::for_deployment(const ModelSpec& m, int tp, bool moe_table) {
  KernelTableParts p = for_model(m, moe_table);
  std::vector<std::string> dtypes{gemm_table_dtype(m.precision)};
  if (m.precision == "nvfp4") dtypes.push_back("bfloat16");  // ModelOpt's NVFP4 checkpoints' LM head
  dtypes.push_back(gemm_table_dtype(mla_input_gemm_precision(m)));  // the table KernelTiming prices them from
  std::sort(dtypes.begin(), dtypes.end());
  dtypes.erase(std::unique(dtypes.begin(), dtypes.end()), dtypes.end());
  p.gemm_dtypes = std::move(dtypes);
  // an MLA model reads its own attention tables, none of these
  p.attention_shapes = m.kv_lora_rank > 0 ? std::vector<AttentionShape>{}
                                          : std::vector<AttentionShape>{attention_shape_per_gpu(m, tp)};
  return p;
}

KernelTables KernelTables::load(const std::string& dir, const std::string& backend, const std::string& version,
                                Parts parts) {
  KernelTables t;
  t.dir = dir;
  t.backend = backend;
  t.parts = parts;
  if (!fs::is_directory(dir))
    throw InputError(fmt::format("{}: kernel table folder not found. Fix: set timing.kernel.system (e.g. h200_sxm), "
                                 "or timing.kernel.tables to an aiconfigurator system folder such as "
                                 "data/aiconfigurator/systems/data/h100_sxm",
                                 dir));
  if (!fs::is_directory(fs::path(dir) / "gemm"))
    throw InputError(fmt::format("{}: no gemm/ folder in it, so not a folder of kernel tables (aiconfigurator's "
                                 "layout: gemm/, attention/, comm/). Fix: point the kernel timing at one",
                                 dir));
  const std::vector<std::string> backends = version_folders(fs::path(dir) / "gemm");
  if (std::find(backends.begin(), backends.end(), backend) == backends.end())
    throw ConfigError(fmt::format("{}: no GEMM tables for backend '{}' (there are: {}). Fix: set timing.kernel.backend "
                                  "to one of them",
                                  dir, backend, fmt::join(backends, ", ")));
  const std::vector<std::string> versions = version_folders(fs::path(dir) / "gemm" / backend);
  if (version.empty()) {
    t.version = versions.back();
  } else if (std::find(versions.begin(), versions.end(), version) == versions.end()) {
    throw ConfigError(fmt::format("{}: backend {} has no version {} (there are: {}). Fix: set "
                                  "timing.kernel.backend_version to one of them, or leave it out for the newest (the repository keeps the "
                                  "newest of each; timing.kernel.database can point at a whole aiconfigurator install)",
                                  dir, backend, version, fmt::join(versions, ", ")));
  } else {
    t.version = version;
  }
  auto source = [&](const char* table, const char* kind, const std::string& owner, const char* stem) {
    return t.sources[table] = table_source(dir, kind, owner, stem, t.version);
  };
  // The three large tables are independent files: each is read on its own thread, so start-up
  // waits for the largest rather than for all three in turn.
  source("gemm", "gemm", backend, "gemm_perf");
  source("context_attention", "attention", backend, "context_attention_perf");
  source("generation_attention", "attention", backend, "generation_attention_perf");
  auto gemm = std::async(std::launch::async, load_gemm, t.sources["gemm"].file, std::cref(parts.gemm_dtypes), &t.gemm);
  auto context = std::async(std::launch::async, load_attention, t.sources["context_attention"].file, false,
                            parts.windows, std::cref(parts.attention_shapes), &t.context_attention);
  load_attention(t.sources["generation_attention"].file, true, parts.windows, parts.attention_shapes,
                 &t.generation_attention);
  gemm.get();  // rethrows a reader's InputError
  context.get();
  {
    auto table = TableReader::open(source("custom_allreduce", "comm", backend, "custom_allreduce_perf").file);
    TableReader& csv = *table;
    // vLLM and SGLang name each row's variant (`backend`: vllm_graph, sglang_eager, ...);
    // TensorRT-LLM's one kernel (`implementation`) serves both graph and eager iterations.
    const bool has_variant = csv.has_column("backend");
    const size_t op = csv.column("op_name"), variant = csv.column(has_variant ? "backend" : "implementation"),
                 gpus = csv.column("num_gpus"), size = csv.column("message_size"), latency = csv.column("latency");
    while (csv.next()) {
      if (csv.field(op) != "all_reduce") continue;
      std::vector<const char*> impls;
      if (!has_variant) impls = {"custom_graph", "custom_eager"};
      else impls = {csv.field(variant).find("graph") != std::string_view::npos ? "custom_graph" : "custom_eager"};
      for (const char* impl : impls) {
        auto [it, fresh] = t.allreduce.try_emplace({impl, static_cast<int>(csv.number(gpus))}, LogGrid({"elements"}));
        if (fresh) it->second.interpolate_axis(0, kAllReduceInterpolation);
        it->second.add({csv.positive(size)}, csv.positive(latency));
      }
    }
  }
  {
    // NCCL's folders are NCCL versions: the newest is read, whatever the backend's version.
    const std::vector<std::string> nccl = version_folders(fs::path(dir) / "comm" / "nccl");
    t.sources["nccl"] = table_source(dir, "comm", "nccl", "nccl_perf", nccl.empty() ? "" : nccl.back());
    auto table = TableReader::open(t.sources["nccl"].file);
    TableReader& csv = *table;
    const size_t op = csv.column("op_name"), dtype = csv.column("nccl_dtype"), gpus = csv.column("num_gpus"),
                 size = csv.column("message_size"), latency = csv.column("latency");
    while (csv.next()) {
      // all-reduce (tensor parallelism) and all-to-all (the MoE dispatch of attention-DP ranks)
      const bool allreduce = csv.field(op) == "all_reduce", alltoall = csv.field(op) == "alltoall";
      if (!(allreduce || alltoall) || csv.field(dtype) != "half") continue;
      auto [it, fresh] = t.allreduce.try_emplace({allreduce ? "nccl" : "nccl_alltoall", static_cast<int>(csv.number(gpus))},
                                                 LogGrid({"elements"}));
      if (fresh) it->second.interpolate_axis(0, kAllReduceInterpolation);
      it->second.add({csv.positive(size)}, csv.positive(latency));
    }
  }
  for (auto& [k, g] : t.allreduce) g.finish();
  if (auto m = parts.moe ? find_source(dir, "moe", backend, "moe_perf", t.version) : std::nullopt) {
    t.sources["moe"] = *m;
    load_moe(m->file, &t.moe);
  }
  // MLA: a backend's kernels, or vLLM's whole-module tables, whichever form the version nearest
  // `version` published (vLLM's published kernels at 0.14.0 and modules from 0.19.0: 0.24.0 reads
  // its own modules, not 0.14.0's kernels)
  std::optional<Source> mla_kernels, mla_modules;
  if (parts.mla) {
    mla_kernels = find_source(dir, "mla", backend, "context_mla_perf", t.version);
    mla_modules = find_source(dir, "mla", backend, "mla_context_module_perf", t.version);
    if (mla_kernels && mla_modules) {
      if (nearer_version(mla_modules->version, mla_kernels->version, t.version)) mla_kernels.reset();
      else mla_modules.reset();
    }
  }
  if (auto c = mla_kernels) {
    t.sources["context_mla"] = *c;
    load_mla(c->file, false, &t.context_mla);
    if (auto g = find_source(dir, "mla", backend, "generation_mla_perf", t.version)) {
      t.sources["generation_mla"] = *g;
      load_mla(g->file, true, &t.generation_mla);
    }
    if (auto b = find_source(dir, "mla_bmm", backend, "mla_bmm_perf", t.version)) {
      t.sources["mla_bmm"] = *b;
      load_mla_bmm(b->file, &t.mla_bmm);
    }
  } else if (auto c = mla_modules) {
    t.sources["mla_context_module"] = *c;
    load_module_rows(c->file, false, &t.context_mla_module, &t.mla_module_models);
    if (auto g = find_source(dir, "mla", backend, "mla_generation_module_perf", t.version)) {
      t.sources["mla_generation_module"] = *g;
      load_module_rows(g->file, true, &t.generation_mla_module, &t.mla_module_models);
    }
  }
  if (auto g = parts.linear ? find_source(dir, "linear_attention", backend, "gdn_perf", t.version) : std::nullopt) {
    t.sources["linear_attention"] = *g;
    load_linear_attention(g->file, &t.context_linear_attention, &t.generation_linear_attention);
  }
  if (auto c = parts.sparse ? find_source(dir, "sparse_attention", backend, "dsa_context_module_perf", t.version)
                            : std::nullopt) {
    t.sources["dsa_context_module"] = *c;
    load_module_rows(c->file, false, &t.context_dsa_module, &t.dsa_module_models, &t.context_dsa_skip_module,
                     &t.dsa_skip_module_models);
    if (auto g = find_source(dir, "sparse_attention", backend, "dsa_generation_module_perf", t.version)) {
      t.sources["dsa_generation_module"] = *g;
      load_module_rows(g->file, true, &t.generation_dsa_module, &t.dsa_module_models, &t.generation_dsa_skip_module,
                       &t.dsa_skip_module_models);
    }
  }
  return t;
}

std::shared_ptr<const KernelTables> KernelTables::shared(const std::string& dir, const std::string& backend,
                                                         const std::string& version, Parts parts) {
  static std::mutex mutex;
  static std::map<std::tuple<std::string, std::string, std::string>, std::shared_ptr<const KernelTables>> cache;
  std::error_code ec;
  const std::string key = fs::weakly_canonical(dir, ec).string();
  std::lock_guard lock(mutex);
  auto& slot = cache[{key.empty() ? dir : key, backend, version}];
  if (!slot || !slot->has(parts)) {  // read again with what both ask
    if (slot) parts = slot->parts.merged(parts);
    slot = std::make_shared<const KernelTables>(load(dir, backend, version, parts));
  }
  return slot;
}

std::vector<std::string> table_versions_by_nearness(const std::string& dir, const std::string& backend,
                                                    const std::string& measured) {
  std::vector<std::string> versions = version_folders(fs::path(dir) / "gemm" / backend);  // oldest first
  if (measured.empty()) {
    std::reverse(versions.begin(), versions.end());
    return versions;
  }
  std::stable_sort(versions.begin(), versions.end(),
                   [&](const std::string& a, const std::string& b) { return nearer_version(a, b, measured); });
  return versions;
}

std::string default_perf_database() {
  const fs::path own = fs::path(SERVESIM_SOURCE_DIR) / "data" / "aiconfigurator" / "systems";
  if (fs::is_directory(own)) return own.string();
  // an aiconfigurator installed by pip: <prefix>/lib/python3.X/{site,dist}-packages/aiconfigurator_core/systems
  std::vector<fs::path> prefixes{"/usr/local/lib", "/usr/lib"};
  if (const char* venv = std::getenv("VIRTUAL_ENV")) prefixes.push_back(fs::path(venv) / "lib");
  if (const char* home = std::getenv("HOME")) prefixes.push_back(fs::path(home) / ".local" / "lib");
  std::error_code ec;
  for (const fs::path& prefix : prefixes)
    for (auto& python : fs::directory_iterator(prefix, ec))
      if (python.path().filename().string().starts_with("python3"))
        for (const char* packages : {"site-packages", "dist-packages"})
          if (fs::path p = python.path() / packages / "aiconfigurator_core" / "systems"; fs::is_directory(p))
            return p.string();
  return {};
}

KernelTableLocation locate_kernel_tables(const std::string& system, const std::string& database,
                                         const std::string& tables, const std::string& pool_gpu,
                                         const std::function<std::string(const std::string&)>& resolve) {
  KernelTableLocation where;
  if (!tables.empty()) {
    if (!system.empty() || !database.empty())
      throw ConfigError(fmt::format("timing.kernel: tables ({}) and system/database are two ways to name the same "
                                    "thing. Fix: keep one of them",
                                    tables));
    where.dir = resolve(tables);
    std::string dir = where.dir;
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    where.system_yaml = dir + ".yaml";
    where.system = fs::path(dir).filename().string();
    return where;
  }
  const std::string db = database.empty() ? default_perf_database() : resolve(database);
  if (db.empty() || !fs::is_directory(db))
    throw InputError(fmt::format("timing.kernel.database: {} is not a folder. Fix: point it at aiconfigurator's "
                                 "systems/ folder (the repository ships one: data/aiconfigurator/systems)",
                                 db.empty() ? "(none found)" : db));
  std::vector<std::string> systems;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(db, ec))
    if (e.path().extension() == ".yaml" && fs::is_directory(fs::path(db) / "data" / e.path().stem()))
      systems.push_back(e.path().stem().string());
  std::sort(systems.begin(), systems.end());
  where.system = system;
  if (where.system.empty())
    for (const std::string& candidate : {pool_gpu, pool_gpu + "_sxm"})
      if (std::find(systems.begin(), systems.end(), candidate) != systems.end()) where.system = candidate;
  if (where.system.empty() || std::find(systems.begin(), systems.end(), where.system) == systems.end())
    throw ConfigError(fmt::format("timing.kernel.system: {} has {} tables in {} (it has: {}). Fix: set system to one "
                                  "of them and the pool's gpu to that GPU, or use timing.model: roofline",
                                  where.system.empty() ? "gpu " + pool_gpu : where.system,
                                  where.system.empty() ? "no system's" : "no such system's", db,
                                  fmt::join(systems, ", ")));
  where.system_yaml = (fs::path(db) / (where.system + ".yaml")).string();
  std::string data_dir = "data/" + where.system;
  try {
    if (const YAML::Node d = YAML::LoadFile(where.system_yaml)["data_dir"]) data_dir = d.as<std::string>();
  } catch (const YAML::Exception& e) {
    throw InputError(fmt::format("{}: cannot read data_dir ({})", where.system_yaml, e.what()));
  }
  where.dir = (fs::path(db) / data_dir).lexically_normal().string();
  return where;
}

}  // namespace servesim
