#include "models/timing/kernel_tables.h"

#include <algorithm>
#include <filesystem>
#include <fmt/format.h>
#include <future>
#include <mutex>

#include "core/csv_reader.h"
#include "core/error.h"
#include "core/version_order.h"

namespace servesim {

const char* gemm_table_dtype(const std::string& precision) {
  return precision == "bf16" ? "bfloat16" : precision == "fp8" ? "fp8" : "fp8_block";
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
// tables are noisier (a few percent point to point) and the cubic follows the noise (bf16 4.7% ->
// 5.0%), so they stay linear.
constexpr Interpolation kAttentionInterpolation = Interpolation::kMonotoneCubic;
constexpr Interpolation kAllReduceInterpolation = Interpolation::kMonotoneCubic;

// <dir>/<kind>/<framework>/<newest version>/<file>, newest in release order (0.5.14 after 0.5.9)
std::string table_file(const std::string& dir, const std::string& kind, const std::string& framework,
                       const std::string& file) {
  const fs::path base = fs::path(dir) / kind / framework;
  std::vector<std::string> versions;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(base, ec))
    if (e.is_directory() && fs::exists(e.path() / file)) versions.push_back(e.path().filename().string());
  if (versions.empty())
    throw InputError(fmt::format("{}: no {}/<version>/{} under it. Fix: point timing.kernel.tables at an "
                                 "aiconfigurator system folder (e.g. data/aiconfigurator/h100_sxm)",
                                 base.string(), framework, file));
  return (base / *std::max_element(versions.begin(), versions.end(), version_less) / file).string();
}

// Attention rows: full-window kernels, preferring `kernel` where a point was measured twice.
void load_attention(const std::string& path, bool generation, std::map<AttentionKey, LogGrid>* out) {
  CsvReader csv(path);
  const size_t batch = csv.column("batch_size"), isl = csv.column("isl"), heads = csv.column("num_heads"),
               kv = csv.column("num_key_value_heads"), dim = csv.column("head_dim"),
               kv_dtype = csv.column("kv_cache_dtype"), step = csv.column("step"), window = csv.column("window_size"),
               source = csv.column("kernel_source"), latency = csv.column("latency");
  while (csv.next()) {
    if (csv.number(window) != 0) continue;
    // FA3 is what vLLM runs on Hopper; the FA4 rows are a side experiment on few shapes.
    if (csv.field(source).find("fa4") != std::string_view::npos) continue;
    AttentionKey key{static_cast<int>(csv.number(heads)), static_cast<int>(csv.number(kv)),
                     static_cast<int>(csv.number(dim)), std::string(csv.field(kv_dtype))};
    auto [it, fresh] = out->try_emplace(key, LogGrid({"batch", generation ? "kv_len" : "isl"}));
    if (fresh)
      for (size_t axis : {0, 1}) it->second.interpolate_axis(axis, kAttentionInterpolation);
    // generation rows: the step's KV length is the prompt (isl) plus the tokens generated (step)
    const double len = generation ? csv.number(isl) + csv.number(step) : csv.number(isl);
    it->second.add({csv.number(batch), len}, csv.number(latency));
  }
  for (auto& [k, grid] : *out) grid.finish();
}

// GEMM rows by dtype: m x n x k, the latency and the kernel that ran.
void load_gemm(const std::string& path, std::map<std::string, LogGrid>* out) {
  CsvReader csv(path);
  const size_t dtype = csv.column("gemm_dtype"), m = csv.column("m"), n = csv.column("n"), k = csv.column("k"),
               source = csv.column("kernel_source"), latency = csv.column("latency");
  while (csv.next()) {
    auto [it, fresh] = out->try_emplace(std::string(csv.field(dtype)), LogGrid({"m", "n", "k"}));
    if (fresh) it->second.align_axis(0, kGemmRowAlignment);
    // vLLM's block-fp8 GEMMs switch kernels inside the table (FlashInfer at m <= 17, DeepGEMM
    // from m = 32, CUTLASS where n = 32 or k <= 64); the held-out check tells those steps apart.
    it->second.add({csv.number(m), csv.number(n), csv.number(k)}, csv.number(latency), csv.field(source));
  }
  for (auto& [key, grid] : *out) grid.finish();
}

}  // namespace

KernelTables KernelTables::load(const std::string& dir, const std::string& framework) {
  KernelTables t;
  t.dir = dir;
  t.framework = framework;
  if (!fs::is_directory(dir))
    throw InputError(fmt::format("{}: kernel table folder not found. Fix: set timing.kernel.tables to an "
                                 "aiconfigurator system folder such as data/aiconfigurator/h100_sxm",
                                 dir));
  // The three large tables are independent files (~27 MB of CSV once decompressed): each is read
  // on its own thread, so start-up waits for the largest rather than for all three in turn.
  t.files["gemm"] = table_file(dir, "gemm", framework, "gemm_perf.csv.gz");
  t.files["context_attention"] = table_file(dir, "attention", framework, "context_attention_perf.csv.gz");
  t.files["generation_attention"] = table_file(dir, "attention", framework, "generation_attention_perf.csv.gz");
  auto gemm = std::async(std::launch::async, load_gemm, t.files["gemm"], &t.gemm);
  auto context = std::async(std::launch::async, load_attention, t.files["context_attention"], false,
                            &t.context_attention);
  load_attention(t.files["generation_attention"], true, &t.generation_attention);
  gemm.get();  // rethrows a reader's InputError
  context.get();
  {
    const std::string path = table_file(dir, "comm", framework, "custom_allreduce_perf.csv");
    t.files["custom_allreduce"] = path;
    CsvReader csv(path);
    const size_t op = csv.column("op_name"), backend = csv.column("backend"), gpus = csv.column("num_gpus"),
                 size = csv.column("message_size"), latency = csv.column("latency");
    while (csv.next()) {
      if (csv.field(op) != "all_reduce") continue;
      const std::string impl = csv.field(backend).find("graph") != std::string_view::npos ? "custom_graph" : "custom_eager";
      auto [it, fresh] = t.allreduce.try_emplace({impl, static_cast<int>(csv.number(gpus))}, LogGrid({"elements"}));
      if (fresh) it->second.interpolate_axis(0, kAllReduceInterpolation);
      it->second.add({csv.number(size)}, csv.number(latency));
    }
  }
  {
    const std::string path = table_file(dir, "comm", "nccl", "nccl_perf.csv");
    t.files["nccl"] = path;
    CsvReader csv(path);
    const size_t op = csv.column("op_name"), dtype = csv.column("nccl_dtype"), gpus = csv.column("num_gpus"),
                 size = csv.column("message_size"), latency = csv.column("latency");
    while (csv.next()) {
      if (csv.field(op) != "all_reduce" || csv.field(dtype) != "half") continue;
      auto [it, fresh] = t.allreduce.try_emplace({"nccl", static_cast<int>(csv.number(gpus))}, LogGrid({"elements"}));
      if (fresh) it->second.interpolate_axis(0, kAllReduceInterpolation);
      it->second.add({csv.number(size)}, csv.number(latency));
    }
  }
  for (auto& [k, g] : t.allreduce) g.finish();
  return t;
}

std::shared_ptr<const KernelTables> KernelTables::shared(const std::string& dir, const std::string& framework) {
  static std::mutex mutex;
  static std::map<std::pair<std::string, std::string>, std::shared_ptr<const KernelTables>> cache;
  std::error_code ec;
  const std::string key = fs::weakly_canonical(dir, ec).string();
  std::lock_guard lock(mutex);
  auto& slot = cache[{key.empty() ? dir : key, framework}];
  if (!slot) slot = std::make_shared<const KernelTables>(load(dir, framework));
  return slot;
}

}  // namespace servesim
