// aiconfigurator's performance database as published: the Parquet reader against the same tables
// published as CSV, its errors on damaged files, and the kernel timing's choice of system, backend
// and version.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "core/error.h"
#include "core/parquet_reader.h"
#include "core/table_reader.h"
#include "models/catalog.h"
#include "models/hf_config.h"
#include "models/timing/kernel.h"
#include "models/timing/kernel_tables.h"
#include "test_util.h"

namespace servesim {
namespace {

namespace fs = std::filesystem;

const std::string kDatabase = testing::data_file("aiconfigurator/systems");
const std::string kLegacyH100 = testing::data_file("aiconfigurator/h100_sxm");
std::string database_tables(const std::string& system) { return kDatabase + "/data/" + system; }
std::string fixture(const std::string& name) {
  return std::string(SERVESIM_SOURCE_DIR) + "/tests/data/parquet/" + name;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

// aiconfigurator published H100's vLLM 0.24.0 tables twice: as .csv.gz (data/aiconfigurator/
// h100_sxm) and as ZSTD Parquet with dictionary-coded columns (the database). Every row and
// column must read the same from both.
TEST(ParquetReader, ReadsEveryRowAndColumnAsTheSameTablePublishedAsCsv) {
  for (const std::string table : {"gemm/vllm/0.24.0/gemm_perf", "attention/vllm/0.24.0/context_attention_perf",
                                  "attention/vllm/0.24.0/generation_attention_perf"}) {
    SCOPED_TRACE(table);
    auto csv = TableReader::open(kLegacyH100 + "/" + table + ".csv.gz");
    auto parquet = TableReader::open(database_tables("h100_sxm") + "/" + table + ".parquet");
    const ParquetTable whole = ParquetTable::read(database_tables("h100_sxm") + "/" + table + ".parquet");
    std::vector<std::pair<size_t, size_t>> columns;  // csv, parquet
    std::vector<bool> text;
    for (const auto& c : whole.columns()) {
      ASSERT_TRUE(csv->has_column(c.name)) << c.name;
      columns.emplace_back(csv->column(c.name), parquet->column(c.name));
      text.push_back(c.kind == ParquetTable::Kind::kText);
    }
    ASSERT_GE(columns.size(), 10u);
    size_t rows = 0;
    while (csv->next()) {
      ASSERT_TRUE(parquet->next()) << "the Parquet file ends at row " << rows;
      for (size_t i = 0; i < columns.size(); ++i) {
        if (text[i]) ASSERT_EQ(csv->field(columns[i].first), parquet->field(columns[i].second)) << "row " << rows;
        else ASSERT_EQ(csv->number(columns[i].first), parquet->number(columns[i].second)) << "row " << rows;
      }
      ++rows;
    }
    EXPECT_FALSE(parquet->next());
    EXPECT_EQ(rows, whole.rows());
    EXPECT_GT(rows, 50000u);
  }
}

TEST(ParquetReader, ReadsSnappyPagesAndPlainBooleans) {
  // vLLM 0.18.0's H200 all-reduce table (Snappy): 2, 4 and 8 GPUs, graph and eager rows
  const ParquetTable snappy = ParquetTable::read(fixture("snappy.parquet"));
  ASSERT_GT(snappy.rows(), 0u);
  auto reader = TableReader::open(fixture("snappy.parquet"));
  const size_t gpus = reader->column("num_gpus"), size = reader->column("message_size"),
               latency = reader->column("latency");
  std::map<double, int> per_gpus;
  while (reader->next()) {
    per_gpus[reader->number(gpus)]++;
    EXPECT_GT(reader->number(size), 0);
    EXPECT_GT(reader->number(latency), 0);
  }
  EXPECT_EQ(per_gpus.size(), 3u);
  EXPECT_EQ(per_gpus.begin()->first, 2);
  // SGLang's DeepSeek-V4 MoE module table: PLAIN-coded BOOLEAN columns beside dictionary ones
  const ParquetTable booleans = ParquetTable::read(fixture("booleans_plain_zstd.parquet"));
  auto column = [&](const std::string& name) -> const ParquetTable::Column& {
    for (const auto& c : booleans.columns())
      if (c.name == name) return c;
    throw std::runtime_error(name);
  };
  ASSERT_EQ(booleans.rows(), 64u);
  for (double v : column("used_cuda_graph").numbers) EXPECT_EQ(v, 1);
  for (double v : column("includes_gate_topk").numbers) EXPECT_EQ(v, 0);
  EXPECT_EQ(column("moe_ep_size").numbers.front(), 8);
}

TEST(ParquetReader, DamagedFilesAreClearErrors) {
  testing::TempDir dir;
  const std::string good = slurp(fixture("snappy.parquet"));
  auto write = [&](const std::string& name, const std::string& bytes) {
    std::ofstream(dir.file(name), std::ios::binary) << bytes;
    return dir.file(name);
  };
  // cut short: the trailing magic is gone
  std::string e = error_of([&] { ParquetTable::read(write("half.parquet", good.substr(0, good.size() / 2))); });
  EXPECT_NE(e.find("half.parquet"), std::string::npos) << e;
  EXPECT_NE(e.find("truncated"), std::string::npos) << e;
  // not Parquet at all
  e = error_of([&] { ParquetTable::read(write("text.parquet", "framework,version\nvllm,0.24.0\n")); });
  EXPECT_NE(e.find("not a Parquet file"), std::string::npos) << e;
  // a footer length larger than the file
  std::string big = good;
  big[big.size() - 6] = '\x7f';
  e = error_of([&] { ParquetTable::read(write("footer.parquet", big)); });
  EXPECT_NE(e.find("footer"), std::string::npos) << e;
  // the data pages overwritten (the footer intact): a page that does not decode
  std::string pages = good;
  for (size_t i = 4; i < pages.size() / 3; ++i) pages[i] = static_cast<char>(i * 7);
  e = error_of([&] { ParquetTable::read(write("pages.parquet", pages)); });
  EXPECT_NE(e.find("pages.parquet"), std::string::npos) << e;
  EXPECT_NE(e.find("corrupt"), std::string::npos) << e;
  // a column the loader needs and the file lacks: the error lists the ones it has
  e = error_of([&] { TableReader::open(fixture("snappy.parquet"))->column("gemm_dtype"); });
  EXPECT_NE(e.find("no column 'gemm_dtype'"), std::string::npos) << e;
  EXPECT_NE(e.find("message_size"), std::string::npos) << e;
  // every prefix of a small file is an error, never a crash
  for (size_t n = 0; n < good.size(); n += 97)
    EXPECT_THROW(ParquetTable::parse(good.substr(0, n), "prefix.parquet"), InputError) << n;
}

// The same tables through the database (Parquet) and the older folder (CSV) price every lookup
// alike: each grid holds the same measured points with the same values.
TEST(PerfDatabase, TheDatabaseAndTheCsvFolderGiveTheSameH100VllmTables) {
  const KernelTables csv = KernelTables::load(kLegacyH100, "vllm");
  const KernelTables parquet = KernelTables::load(database_tables("h100_sxm"), "vllm");
  EXPECT_EQ(parquet.version, "0.24.0");
  auto same = [](const LogGrid& a, const LogGrid& b) {
    const auto pa = a.measured(), pb = b.measured();
    if (pa.size() != pb.size()) return false;
    for (size_t i = 0; i < pa.size(); ++i)
      if (pa[i].x != pb[i].x || pa[i].value != pb[i].value) return false;
    return true;
  };
  ASSERT_EQ(csv.gemm.size(), parquet.gemm.size());
  for (const auto& [dtype, grid] : csv.gemm) EXPECT_TRUE(same(grid, parquet.gemm.at(dtype))) << dtype;
  ASSERT_EQ(csv.context_attention.size(), parquet.context_attention.size());
  for (const auto& [key, grid] : csv.context_attention) EXPECT_TRUE(same(grid, parquet.context_attention.at(key)));
  ASSERT_EQ(csv.generation_attention.size(), parquet.generation_attention.size());
  for (const auto& [key, grid] : csv.generation_attention)
    EXPECT_TRUE(same(grid, parquet.generation_attention.at(key)));
  // the all-reduce tables: vLLM's custom kernel is the same version; NCCL's folders differ
  for (const char* impl : {"custom_graph", "custom_eager"})
    for (int gpus : {2, 4, 8}) EXPECT_TRUE(same(csv.allreduce.at({impl, gpus}), parquet.allreduce.at({impl, gpus})));
}

TEST(PerfDatabase, EachBackendIsPricedWithItsOwnKernels) {
  // A table point is that backend's measured row: TensorRT-LLM's bf16 GEMM at m = 16 (from its
  // own file), not vLLM's.
  const auto trtllm = KernelTables::shared(database_tables("h100_sxm"), "trtllm");
  const auto vllm = KernelTables::shared(database_tables("h100_sxm"), "vllm");
  EXPECT_EQ(trtllm->version, "1.3.0rc20");
  auto rows = TableReader::open(trtllm->sources.at("gemm").file);
  const size_t dtype = rows->column("gemm_dtype"), m = rows->column("m"), n = rows->column("n"), k = rows->column("k"),
               latency = rows->column("latency");
  int checked = 0, differ = 0;
  const LogGrid& t = trtllm->gemm.at("bfloat16");
  const LogGrid& v = vllm->gemm.at("bfloat16");
  while (rows->next() && checked < 500) {
    if (rows->field(dtype) != "bfloat16" || rows->number(m) != 16) continue;
    const double at = t.at({16, rows->number(n), rows->number(k)}, Extrapolation::kError, "gemm").value;
    EXPECT_NEAR(at, rows->number(latency), 1e-12 * at);
    const double other = v.at({16, rows->number(n), rows->number(k)}, Extrapolation::kError, "gemm").value;
    differ += std::abs(other / at - 1) > 0.02;
    ++checked;
  }
  EXPECT_GT(checked, 100);
  EXPECT_GT(differ, checked / 4);  // the two backends' kernels are not the same measurement
  // TensorRT-LLM's all-reduce has no graph/eager variants: its one kernel serves both
  EXPECT_EQ(trtllm->allreduce.at({"custom_graph", 2}).measured().size(),
            trtllm->allreduce.at({"custom_eager", 2}).measured().size());
}

TEST(PerfDatabase, VersionsAreChosenInReleaseOrderThroughReuseAndFallback) {
  // B200 TensorRT-LLM: 1.3.0rc23 is the newest GEMM folder; it measured nothing itself, its
  // reuse.yaml reads the GEMMs of 1.3.0rc20, and it has no attention or all-reduce folder.
  const KernelTables t = KernelTables::load(database_tables("b200_sxm"), "trtllm");
  EXPECT_EQ(t.version, "1.3.0rc23");
  EXPECT_EQ(t.sources.at("gemm").version, "1.3.0rc20");
  EXPECT_NE(t.sources.at("gemm").note.find("reuse.yaml"), std::string::npos);
  EXPECT_EQ(t.sources.at("context_attention").version, "1.3.0rc20");
  EXPECT_NE(t.sources.at("context_attention").note.find("has no"), std::string::npos);
  EXPECT_EQ(t.sources.at("nccl").version, "2.29.2");
  // an unknown backend or version names the ones there are
  std::string e = error_of([&] { KernelTables::load(database_tables("h200_sxm"), "tensorrt"); });
  EXPECT_NE(e.find("sglang, trtllm, vllm"), std::string::npos) << e;
  e = error_of([&] { KernelTables::load(database_tables("h200_sxm"), "sglang", "0.5.9"); });
  EXPECT_NE(e.find("no version 0.5.9 (there are: 0.5.14)"), std::string::npos) << e;
}

// check-silicon prices a row with the tables of the version nearest its measurement's (the
// newest not newer than it), or of the next nearest where that version cannot price the row
TEST(PerfDatabase, TheNearestVersionIsTheNewestNotNewerThanTheMeasurement) {
  testing::TempDir dir;
  for (const char* v : {"1.2.0rc5", "1.3.0rc20", "1.3.0rc10", "1.3.0rc15"})
    fs::create_directories(dir.file("gemm/trtllm/") + v);
  using V = std::vector<std::string>;
  EXPECT_EQ(table_versions_by_nearness(dir.path(), "trtllm", "1.3.0rc12"), (V{"1.3.0rc10", "1.2.0rc5", "1.3.0rc15", "1.3.0rc20"}));
  EXPECT_EQ(table_versions_by_nearness(dir.path(), "trtllm", "1.3.0rc15"), (V{"1.3.0rc15", "1.3.0rc10", "1.2.0rc5", "1.3.0rc20"}));
  EXPECT_EQ(table_versions_by_nearness(dir.path(), "trtllm", "1.3.0"), (V{"1.3.0rc20", "1.3.0rc15", "1.3.0rc10", "1.2.0rc5"}));
  // older than all: the oldest first
  EXPECT_EQ(table_versions_by_nearness(dir.path(), "trtllm", "1.0.0rc3"), (V{"1.2.0rc5", "1.3.0rc10", "1.3.0rc15", "1.3.0rc20"}));
  EXPECT_EQ(table_versions_by_nearness(dir.path(), "trtllm", ""), (V{"1.3.0rc20", "1.3.0rc15", "1.3.0rc10", "1.2.0rc5"}));
  EXPECT_TRUE(table_versions_by_nearness(dir.path(), "sglang", "0.5.1").empty());
}

TEST(PerfDatabase, TheSystemDefaultsToThePoolGpusAndOthersAreRefused) {
  auto resolve = [](const std::string& p) { return p; };
  KernelTableLocation h200 = locate_kernel_tables("", kDatabase, "", "h200", resolve);
  EXPECT_EQ(h200.system, "h200_sxm");
  EXPECT_EQ(fs::path(h200.dir), fs::path(database_tables("h200_sxm")).lexically_normal());
  EXPECT_EQ(locate_kernel_tables("", kDatabase, "", "h100_sxm", resolve).system, "h100_sxm");
  EXPECT_EQ(locate_kernel_tables("", "", "", "b200", resolve).system, "b200_sxm");  // the repository's copy
  std::string e = error_of([&] { locate_kernel_tables("", kDatabase, "", "a100_80gb", resolve); });
  EXPECT_NE(e.find("b200_sxm, h100_sxm, h200_sxm"), std::string::npos) << e;
  e = error_of([&] { locate_kernel_tables("h200_sxm", "", kLegacyH100, "h200", resolve); });
  EXPECT_NE(e.find("Fix: keep one"), std::string::npos) << e;
}

// A whole run on H200 with SGLang's kernels from a scenario that names only the backend, and the
// timing command the issue asks for.
TEST(PerfDatabase, AnH200SglangScenarioRunsOnItsOwnTables) {
  testing::TempDir dir;
  const std::string scenario = dir.write("h200.yaml", R"(
name: h200_sglang
seed: 1
workload:
  source: synthetic
  synthetic:
    duration: 10s
    arrival: {process: poisson, rate: 4}
    input_length: {dist: lognormal, mean: 512, std: 128, max: 2048}
    output_length: {dist: lognormal, mean: 64, std: 16, max: 256}
pools:
  - name: workers
    replicas: 1
    model: llama-3.1-8b
    gpu: h200
    timing: {model: kernel, kernel: {backend: sglang, overhead_ms: 1}}
)");
  auto r = testing::run_servesim("run " + scenario + " -o " + dir.file("out.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto t = testing::run_servesim("timing --timing kernel --gpu h200 --backend sglang --model llama-3.1-8b");
  ASSERT_EQ(t.exit_code, 0) << t.out;
  EXPECT_NE(t.out.find("system h200_sxm, backend sglang 0.5.14"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("lookups outside the measured tables"), std::string::npos) << t.out;
  // on a GPU the database has no tables for, the key is named
  auto bad = testing::run_servesim("run " + scenario + " --set pools.0.gpu=a100_80gb -o " + dir.file("bad.h5"));
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.out.find("timing.kernel.system"), std::string::npos) << bad.out;
}

}  // namespace
}  // namespace servesim

namespace servesim {
namespace {

// DeepSeek-V3 (MLA) priced from SGLang's MLA kernel tables on H200: a decode step's attention is
// the table's measured row (batch 8, KV length 1 + 1023) for each of its 61 layers.
// vLLM published MLA kernels at 0.14.0 and whole MLA modules from 0.19.0 on: each version reads
// the form nearest it, not an older version's kernels over its own modules.
TEST(PerfDatabase, MlaTablesComeInTheFormTheNearestVersionPublished) {
  testing::TempDir dir;
  const fs::path root(dir.path()), real(database_tables("h200_sxm"));
  for (const char* op : {"attention", "comm", "moe"}) fs::create_symlink(real / op, root / op);
  fs::create_directories(root / "gemm" / "vllm");
  fs::create_directories(root / "mla" / "vllm");
  for (const char* v : {"0.14.0", "0.24.0"}) fs::create_symlink(real / "gemm/vllm/0.24.0", root / "gemm/vllm" / v);
  fs::create_symlink(real / "mla/sglang/0.5.14", root / "mla/vllm/0.14.0");  // kernels, as 0.14.0 published
  fs::create_symlink(real / "mla/vllm/0.24.0", root / "mla/vllm/0.24.0");
  std::string bmm = "framework,version,device,op_name,bmm_dtype,num_tokens,num_heads,latency\n";
  for (const char* op : {"mla_gen_pre", "mla_gen_post"})
    for (int tokens : {1, 512})
      for (int heads : {16, 128}) bmm += fmt::format("VLLM,0.14.0,H200,{},bfloat16,{},{},0.01\n", op, tokens, heads);
  testing::write_gz((root / "mla_bmm/vllm/0.14.0/mla_bmm_perf.csv.gz").string(), bmm);
  const auto parts = KernelTables::Parts::for_model(Catalog::builtin().model("deepseek-v3"));
  const KernelTables v24 = KernelTables::load(root.string(), "vllm", "0.24.0", parts);
  EXPECT_FALSE(v24.context_mla_module.empty());
  EXPECT_TRUE(v24.context_mla.empty());
  EXPECT_EQ(v24.sources.at("mla_context_module").version, "0.24.0");
  const KernelTables v14 = KernelTables::load(root.string(), "vllm", "0.14.0", parts);
  EXPECT_FALSE(v14.context_mla.empty());
  EXPECT_TRUE(v14.context_mla_module.empty());
  EXPECT_EQ(v14.sources.at("context_mla").version, "0.14.0");
  // the kernels' decode BMMs were measured in bf16 only: the error names the version and what it has
  PoolConfig pool;
  pool.model = "deepseek-v3";
  pool.timing.kernel.backend = "vllm";
  const std::string e = error_of([&] {
    KernelTiming(Catalog::builtin().deployed_model(pool), 8, pool.timing.kernel,
                 std::make_shared<const KernelTables>(v14), SystemMemory::load(kDatabase + "/h200_sxm.yaml"));
  });
  EXPECT_NE(e.find("vllm 0.14.0 measured no fp8 mla_gen_pre batched GEMM"), std::string::npos) << e;
  EXPECT_NE(e.find("it has: bfloat16). Fix: timing.kernel.backend_version"), std::string::npos) << e;
}

TEST(PerfDatabase, MlaModelsArePricedFromTheirBackendsMlaKernels) {
  PoolConfig pool;
  pool.model = "deepseek-v3";
  pool.gpu = "h200";
  pool.tp = 8;
  pool.timing.kernel.backend = "sglang";
  const ModelSpec model = Catalog::builtin().deployed_model(pool);
  const auto tables = KernelTables::shared(database_tables("h200_sxm"), "sglang");
  ASSERT_TRUE(tables->sources.count("generation_mla"));
  KernelTiming t(model, 8, pool.timing.kernel, tables, SystemMemory::load(kDatabase + "/h200_sxm.yaml"));
  auto rows = TableReader::open(tables->sources.at("generation_mla").file);
  const size_t heads = rows->column("num_heads"), batch = rows->column("batch_size"), step = rows->column("step"),
               kv = rows->column("kv_cache_dtype"), latency = rows->column("latency");
  double measured = -1;
  while (rows->next())
    if (rows->number(heads) == 16 && rows->number(batch) == 8 && rows->number(step) == 1023 &&
        rows->field(kv) == "bfloat16")
      measured = rows->number(latency);
  ASSERT_GT(measured, 0);
  BatchShape decode;
  decode.decode_seqs = 8;
  decode.decode_context_tokens = 8 * 1024;
  const auto b = t.breakdown(decode);
  EXPECT_NEAR(b.generation_attention_ms, 61 * measured, 1e-9 * b.generation_attention_ms);
  EXPECT_GT(b.gemm_ms, 0);
  EXPECT_EQ(t.extrapolations(), 0u);
  // a prefill adds the context MLA kernel and the kv_b_proj expansion
  BatchShape prefill;
  prefill.prefill_seqs = 1;
  prefill.prefill_tokens = 1024;
  prefill.prefill_attention_pairs = 1024 * 1025 / 2.0;
  EXPECT_GT(t.breakdown(prefill).context_attention_ms, 0);
  // (vLLM's database publishes whole MLA modules instead: tests/mla_module_test.cpp)
  // the command line: --system names the GPU and chooses kernel timing
  auto r = testing::run_servesim("timing --system h200_sxm --backend sglang --model deepseek-v3 --tp 8");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("deepseek-v3 on 8 x NVIDIA H200"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("generation_mla"), std::string::npos) << r.out;
  auto roofline = testing::run_servesim("timing --timing roofline --system h200_sxm --model llama-3.1-8b");
  EXPECT_EQ(roofline.exit_code, 2);
  EXPECT_NE(roofline.out.find("does not read"), std::string::npos) << roofline.out;
}

}  // namespace
}  // namespace servesim

namespace servesim {
namespace {

// A checkpoint is data: its config.json gives the shapes, and the parameters counted from them
// match the model cards the hand-written catalog entries quote.
TEST(HfConfigs, ShapesAndParameterCountsMatchTheHandWrittenEntries) {
  const Catalog& c = Catalog::builtin();
  const std::string dir = testing::data_file("aiconfigurator/model_configs");
  const std::pair<const char*, const char*> pairs[] = {{"Qwen--Qwen3-0.6B_config.json", "qwen3-0.6b"},
                                                       {"Qwen--Qwen3-8B_config.json", "qwen3-8b"},
                                                       {"Qwen--Qwen3-30B-A3B_config.json", "qwen3-30b-a3b"},
                                                       {"deepseek-ai--DeepSeek-V3_config.json", "deepseek-v3"}};
  for (const auto& [file, name] : pairs) {
    SCOPED_TRACE(name);
    const ModelSpec a = model_from_hf_config(dir + "/" + file, hf_id_of_config_file(file));
    const ModelSpec& b = c.model(name);
    EXPECT_EQ(a.hf_id, b.hf_id);
    EXPECT_EQ(std::tie(a.layers, a.hidden_size, a.heads, a.kv_heads, a.head_dim, a.vocab_size, a.experts, a.top_k),
              std::tie(b.layers, b.hidden_size, b.heads, b.kv_heads, b.head_dim, b.vocab_size, b.experts, b.top_k));
    EXPECT_EQ(std::tie(a.kv_lora_rank, a.qk_rope_head_dim, a.q_lora_rank, a.shared_experts, a.dense_layers),
              std::tie(b.kv_lora_rank, b.qk_rope_head_dim, b.q_lora_rank, b.shared_experts, b.dense_layers));
    EXPECT_NEAR(a.params_b / b.params_b, 1, 0.01) << a.params_b << " vs " << b.params_b;
    if (b.active_params_b > 0) {
      EXPECT_NEAR(a.active_params_b / b.active_params_b, 1, 0.03) << a.active_params_b;
    }
    EXPECT_EQ(a.precision, b.precision);
  }
  // a checkpoint only a config describes is in the catalog under its id: Kimi K2 (MLA, 384
  // experts, block-fp8), about 1.03T parameters as its card says (1T)
  const ModelSpec& kimi = c.model("moonshotai/Kimi-K2-Instruct");
  EXPECT_EQ(kimi.experts, 384);
  EXPECT_EQ(kimi.kv_lora_rank, 512);
  EXPECT_EQ(kimi.precision, "fp8_block");
  EXPECT_NEAR(kimi.params_b, 1026, 15);
  EXPECT_NEAR(c.model("meta-llama/Meta-Llama-3.1-405B").params_b, 405.8, 0.5);
  // an architecture it does not read is named when the model is asked for, not at start-up
  testing::TempDir catalog;
  fs::create_directories(catalog.file("model_configs"));
  catalog.write("model_configs/example--Mamba-1B_config.json",
                R"({"architectures": ["MambaForCausalLM"], "hidden_size": 2048, "num_hidden_layers": 48})");
  auto r = testing::run_servesim("--catalog " + catalog.path() + " timing --model example/Mamba-1B");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("architecture 'MambaForCausalLM' is not one whose shapes servesim reads"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("Fix: write a models.yaml entry"), std::string::npos) << r.out;
  EXPECT_EQ(testing::run_servesim("--catalog " + catalog.path() + " timing --model llama-3.1-8b").exit_code, 0);
  EXPECT_EQ(hf_id_of_config_file("nvidia--GLM-5-NVFP4_hf_quant_config.json"), "");
  EXPECT_EQ(hf_id_of_config_file("Qwen--Qwen3-8B_config.json"), "Qwen/Qwen3-8B");
}

}  // namespace
}  // namespace servesim

namespace servesim {
namespace {

// MoE layers from the backend's measured MoE table: the loader keeps each measured row, a
// measured shape replaces the experts' GEMMs, an unmeasured one falls back to them exactly.
TEST(PerfDatabase, MoeLayersComeFromTheMoeTableWhereTheShapeWasMeasured) {
  const auto tables = KernelTables::shared(database_tables("h100_sxm"), "trtllm");
  ASSERT_TRUE(tables->sources.count("moe"));
  auto rows = TableReader::open(tables->sources.at("moe").file);
  const size_t dtype = rows->column("moe_dtype"), tokens = rows->column("num_tokens"), hidden = rows->column("hidden_size"),
               inter = rows->column("inter_size"), top_k = rows->column("topk"), experts = rows->column("num_experts"),
               tp = rows->column("moe_tp_size"), ep = rows->column("moe_ep_size"), dist = rows->column("distribution"),
               latency = rows->column("latency");
  int checked = 0;
  while (rows->next() && checked < 200) {
    if (rows->field(dtype) != "fp8_block" || rows->number(experts) != 128) continue;
    const KernelTables::MoeKey key{"fp8_block", static_cast<int>(rows->number(hidden)),
                                   static_cast<int>(rows->number(inter)), static_cast<int>(rows->number(top_k)), 128,
                                   static_cast<int>(rows->number(tp)), static_cast<int>(rows->number(ep)),
                                   std::string(rows->field(dist))};
    const double at = tables->moe.at(key).at({rows->number(tokens)}, Extrapolation::kError, "moe").value;
    EXPECT_NEAR(at, rows->number(latency), 1e-12 * at);
    ++checked;
  }
  EXPECT_EQ(checked, 200);
  auto decode_gemm_ms = [](const std::string& model, int tp, int ep, const std::string& backend, const std::string& moe,
                           const std::string& distribution = "power_law_1.01") {
    PoolConfig pool;
    pool.model = model;
    pool.tp = tp;
    pool.expert_parallel = ep;
    pool.timing.kernel.backend = backend;
    pool.timing.kernel.moe = moe;
    pool.timing.kernel.moe_distribution = distribution;
    KernelTiming t(Catalog::builtin().deployed_model(pool), tp, pool.timing.kernel,
                   KernelTables::shared(database_tables("h100_sxm"), backend),
                   SystemMemory::load(kDatabase + "/h100_sxm.yaml"), ep);
    BatchShape b;
    b.decode_seqs = 16;
    b.decode_context_tokens = 16 * 2048;
    return t.breakdown(b).gemm_ms;
  };
  // Qwen3-235B-A22B fp8 at TP 4, EP 4: measured by TensorRT-LLM's table
  EXPECT_NE(decode_gemm_ms("qwen3-235b-a22b-fp8", 4, 4, "trtllm", "table"),
            decode_gemm_ms("qwen3-235b-a22b-fp8", 4, 4, "trtllm", "gemm"));
  // a shape the table lacks (no such routing was measured): the experts' GEMMs, to the bit
  EXPECT_EQ(decode_gemm_ms("qwen3-235b-a22b-fp8", 4, 4, "trtllm", "table", "unmeasured"),
            decode_gemm_ms("qwen3-235b-a22b-fp8", 4, 4, "trtllm", "gemm"));
}

// Per-tensor fp8 experts of a shape vLLM's table measured only block-scaled (MiniMax-M2.5, the rows
// of the silicon check): priced from the fp8_block MoE rows. Two routings differ only in the MoE
// layers, so their decode steps differ by the layers times the two rows' difference, read from the
// file here.
TEST(PerfDatabase, Fp8ExpertsArePricedFromTheBlockScaledMoeTableWhereOnlyItWasMeasured) {
  const auto tables = KernelTables::shared(database_tables("h100_sxm"), "vllm");
  auto rows = TableReader::open(tables->sources.at("moe").file);
  const size_t dtype = rows->column("moe_dtype"), tokens = rows->column("num_tokens"), hidden = rows->column("hidden_size"),
               inter = rows->column("inter_size"), top_k = rows->column("topk"), experts = rows->column("num_experts"),
               tp = rows->column("moe_tp_size"), ep = rows->column("moe_ep_size"), dist = rows->column("distribution"),
               latency = rows->column("latency");
  std::map<std::string, double> at_16;  // distribution -> ms per layer at 16 tokens
  bool fp8_rows = false;
  while (rows->next()) {
    if (rows->number(hidden) != 3072 || rows->number(inter) != 1536 || rows->number(top_k) != 8 ||
        rows->number(experts) != 256 || rows->number(tp) != 1 || rows->number(ep) != 4)
      continue;
    fp8_rows |= rows->field(dtype) == "fp8";
    if (rows->field(dtype) == "fp8_block" && rows->number(tokens) == 16)
      at_16[std::string(rows->field(dist))] = rows->number(latency);
  }
  ASSERT_FALSE(fp8_rows);  // the case this covers: no per-tensor fp8 rows for the shape
  ASSERT_TRUE(at_16.count("balanced") && at_16.count("power_law_1.2"));
  auto decode_gemm_ms = [&](const std::string& distribution) {
    PoolConfig pool;
    pool.model = "minimax-m2.5";
    pool.precision = "fp8";
    pool.tp = 4;
    pool.expert_parallel = 4;
    pool.timing.kernel.moe_distribution = distribution;
    KernelTiming t(Catalog::builtin().deployed_model(pool), 4, pool.timing.kernel, tables,
                   SystemMemory::load(kDatabase + "/h100_sxm.yaml"), 4);
    BatchShape b;
    b.decode_seqs = 16;
    b.decode_context_tokens = 16 * 2048;
    return t.breakdown(b).gemm_ms;
  };
  const int layers = Catalog::builtin().model("minimax-m2.5").moe_layers();
  EXPECT_EQ(layers, 62);
  EXPECT_NEAR(decode_gemm_ms("balanced") - decode_gemm_ms("power_law_1.2"),
              layers * (at_16["balanced"] - at_16["power_law_1.2"]), 1e-9);
}

// A decode's GEMM of m rows could run padded as one of more rows: where the tables time every m up
// to 16, a row is read as no slower than a larger row of its alignment class and kernel up to 17.
// B200's vLLM fp8 table spikes there (this shape: m = 4 twice m = 5, m = 1 twice m = 2); rows from
// 32 on and the aligned class's m = 16 read as measured. (Read as measured, 4 Llama-3.1-70B
// decodes at TP 4 took 12.3 ms against 8.5 ms for 8.)
TEST(PerfDatabase, AGemmRowIsNoSlowerThanALargerRowOfItsClassAndKernelUpToSeventeen) {
  const auto tables = KernelTables::shared(database_tables("b200_sxm"), "vllm");
  auto rows = TableReader::open(tables->sources.at("gemm").file);
  const size_t dtype = rows->column("gemm_dtype"), m = rows->column("m"), n = rows->column("n"), k = rows->column("k"),
               source = rows->column("kernel_source"), latency = rows->column("latency");
  std::map<double, double> raw;  // m -> ms, fp8 at n = 8192, k = 7168
  std::set<std::string> kernels;
  while (rows->next())
    if (rows->field(dtype) == "fp8" && rows->number(n) == 8192 && rows->number(k) == 7168) {
      raw[rows->number(m)] = rows->number(latency);
      kernels.insert(std::string(rows->field(source)));
    }
  ASSERT_EQ(kernels.size(), 1u);
  ASSERT_GT(raw.at(4), 1.5 * raw.at(5));  // the spike this is about
  ASSERT_GT(raw.at(1), 1.5 * raw.at(2));
  const LogGrid& grid = tables->gemm.at("fp8");
  auto read = [&](double rows_m) { return grid.at({rows_m, 8192, 7168}, Extrapolation::kError, "gemm").value; };
  for (double at = 1; at <= 15; ++at) {
    double least = raw.at(17);
    for (double larger = at; larger <= 15; ++larger) least = std::min(least, raw.at(larger));
    EXPECT_DOUBLE_EQ(read(at), least) << "m = " << at;
  }
  for (double at : {16.0, 17.0, 32.0, 33.0, 64.0}) EXPECT_DOUBLE_EQ(read(at), raw.at(at)) << "m = " << at;
}

}  // namespace
}  // namespace servesim
