// vLLM's MLA tables: the whole attention block of DeepSeek-V3 (its projections, the attention and
// the output projection) per layer, which the kernel model reads in place of those kernels.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "core/error.h"
#include "core/table_reader.h"
#include "models/catalog.h"
#include "models/timing/kernel.h"
#include "models/timing/kernel_tables.h"
#include "test_util.h"

namespace servesim {
namespace {

using ::testing::HasSubstr;

const std::string kDatabase = testing::data_file("aiconfigurator/systems");

// The table's row at (heads per GPU, KV dtype, GEMM dtype, batch, isl + step) from `kernel`.
double module_row(const std::string& file, int heads, const std::string& kv, const std::string& gemm, double batch,
                  double len, const std::string& kernel) {
  auto rows = TableReader::open(file);
  const size_t h = rows->column("num_heads"), k = rows->column("kv_cache_dtype"), g = rows->column("gemm_type"),
               b = rows->column("batch_size"), isl = rows->column("isl"), step = rows->column("step"),
               source = rows->column("kernel_source"), latency = rows->column("latency");
  double found = -1;
  while (rows->next())
    if (rows->number(h) == heads && rows->field(k) == kv && rows->field(g) == gemm && rows->number(b) == batch &&
        rows->number(isl) + rows->number(step) == len && rows->field(source) == kernel)
      found = rows->number(latency);
  return found;
}

TEST(VllmMlaModule, DeepSeekV3IsPricedFromTheWholeAttentionBlock) {
  PoolConfig pool;
  pool.model = "deepseek-v3";
  pool.gpu = "h200";
  pool.timing.kernel.backend = "vllm";
  const ModelSpec model = Catalog::builtin().deployed_model(pool);  // fp8_block GEMMs, bf16 KV
  const auto tables = KernelTables::shared(kDatabase + "/data/h200_sxm", "vllm", "", KernelTables::Parts::for_model(model));
  ASSERT_EQ(tables->mla_module_models, std::vector<std::string>{"deepseek-ai/DeepSeek-V3"});
  KernelTiming t(model, 8, pool.timing.kernel, tables, SystemMemory::load(kDatabase + "/h200_sxm.yaml"));
  // a decode step: 61 layers of the generation module at 16 heads per GPU (FlashAttention MLA,
  // the backend that measured a bf16 KV cache), batch 8, KV length 1 + 1024 (isl + step)
  const double gen = module_row(tables->sources.at("mla_generation_module").file, 16, "bfloat16", "fp8_block", 8,
                                1025, "FLASH_ATTN_MLA");
  ASSERT_GT(gen, 0);
  BatchShape decode;
  decode.decode_seqs = 8;
  decode.decode_context_tokens = 8 * 1025;
  const auto d = t.breakdown(decode);
  EXPECT_NEAR(d.generation_attention_ms, 61 * gen, 1e-9 * d.generation_attention_ms);
  EXPECT_EQ(t.extrapolations(), 0u);
  // the block holds the attention projections: what GEMMs remain are the FFN's and the LM head's
  // (shown on a dense variant, every layer's FFN from the fp8_block GEMM table)
  ModelSpec dense = model;
  dense.experts = 0;
  KernelTiming td(dense, 8, pool.timing.kernel, tables, SystemMemory::load(kDatabase + "/h200_sxm.yaml"));
  auto gemm = [&](double m, double n, double k) {
    return tables->gemm.at("fp8_block").at({m, n, k}, Extrapolation::kError, "gemm").value;
  };
  const double ffn = dense.intermediate_size / 8.0;
  const double expected = 61 * (gemm(8, 2 * ffn, dense.hidden_size) + gemm(8, dense.hidden_size, ffn)) +
                          gemm(8, dense.vocab_size / 8.0, dense.hidden_size);
  EXPECT_NEAR(td.breakdown(decode).gemm_ms, expected, 1e-9 * expected);
  // a prefill of 2,048 tokens: the context module, measured by FlashAttention at that length
  const double ctx = module_row(tables->sources.at("mla_context_module").file, 16, "bfloat16", "fp8_block", 1, 2048,
                                "FLASH_ATTN");
  ASSERT_GT(ctx, 0);
  BatchShape prefill;
  prefill.prefill_seqs = 1;
  prefill.prefill_tokens = 2048;
  prefill.prefill_attention_pairs = 2048 * 2049 / 2.0;
  EXPECT_NEAR(t.breakdown(prefill).context_attention_ms, 61 * ctx, 1e-9 * 61 * ctx);
  // short prompts come from the MLA decode backends' rows (FlashAttention MLA up to 512 tokens)
  const double short_ctx = module_row(tables->sources.at("mla_context_module").file, 16, "bfloat16", "fp8_block", 1,
                                      256, "FLASH_ATTN_MLA");
  ASSERT_GT(short_ctx, 0);
  prefill.prefill_tokens = 256;
  prefill.prefill_attention_pairs = 256 * 257 / 2.0;
  EXPECT_NEAR(t.breakdown(prefill).context_attention_ms, 61 * short_ctx, 1e-9 * 61 * short_ctx);
  EXPECT_EQ(t.extrapolations(), 0u);
}

TEST(VllmMlaModule, ModelsOfOtherShapesAndUnmeasuredFormatsAreRefused) {
  PoolConfig pool;
  pool.timing.kernel.backend = "vllm";
  ModelSpec other = Catalog::builtin().model("deepseek-v3");
  other.hf_id = "x/other";
  other.kv_lora_rank = 256;  // not DeepSeek-V3's 512
  const auto tables = KernelTables::shared(kDatabase + "/data/h200_sxm", "vllm", "", KernelTables::Parts::for_model(other));
  try {
    KernelTiming(other, 8, pool.timing.kernel, tables, SystemMemory::load(kDatabase + "/h200_sxm.yaml"));
    ADD_FAILURE() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("measured the attention block of deepseek-ai/DeepSeek-V3, none of whose shapes"));
  }
  ModelSpec fp8 = Catalog::builtin().model("deepseek-v3");
  fp8.precision = "fp8";  // per-tensor fp8: the module tables measured bf16 and block-fp8 GEMMs
  try {
    KernelTiming(fp8, 8, pool.timing.kernel, tables, SystemMemory::load(kDatabase + "/h200_sxm.yaml"));
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("no MLA context module table of deepseek-ai/DeepSeek-V3 for 16 heads per GPU, a bfloat16 KV cache and fp8 GEMMs"));
  }
}

// Some of vLLM's module tables measured several checkpoints of one architecture (B200's 0.22.0:
// DeepSeek-V3, -R1 and -V3.1-NVFP4, each over the same grid): a model is priced from its own
// checkpoint's rows, else from those of a checkpoint of its shapes.
TEST(VllmMlaModule, ATableOfSeveralCheckpointsPricesEachModelFromItsOwnRows) {
  namespace fs = std::filesystem;
  testing::TempDir dir;
  const fs::path root(dir.path()), real(kDatabase + "/data/h200_sxm");
  for (const char* op : {"gemm", "attention", "comm", "moe"}) fs::create_symlink(real / op, root / op);
  // every row of a checkpoint the same latency, so any point of its grid reads that value
  const std::map<std::string, double> checkpoint_ms{
      {"deepseek-ai/DeepSeek-V3", 0.5}, {"deepseek-ai/DeepSeek-R1", 0.7}, {"example/Unlisted-MLA", 0.9}};
  for (const bool generation : {false, true}) {
    std::string rows = "framework,version,device,op_name,kernel_source,model,batch_size,isl,num_heads,"
                       "kv_cache_dtype,gemm_type,step,latency\n";
    for (const auto& [checkpoint, ms] : checkpoint_ms)
      for (int heads : {8, 16})
        for (int batch : {1, 64})
          for (int isl : {16, 8192})
            rows += fmt::format("VLLM,0.24.0,H200,mla_module,FLASH_ATTN_MLA,{},{},{},{},bfloat16,fp8_block,0,{}\n",
                                checkpoint, batch, isl, heads, ms);
    testing::write_gz((root / "mla/vllm/0.24.0" /
                       (generation ? "mla_generation_module_perf.csv.gz" : "mla_context_module_perf.csv.gz"))
                          .string(),
                      rows);
  }
  PoolConfig pool;
  pool.timing.kernel.backend = "vllm";
  const ModelSpec v3 = Catalog::builtin().model("deepseek-v3"), kimi = Catalog::builtin().model("moonshotai/Kimi-K2-Instruct");
  const auto tables = KernelTables::shared(root.string(), "vllm", "", KernelTables::Parts::for_model(v3));
  EXPECT_EQ(tables->mla_module_models, (std::vector<std::string>{"deepseek-ai/DeepSeek-R1", "deepseek-ai/DeepSeek-V3",
                                                                  "example/Unlisted-MLA"}));
  BatchShape decode;
  decode.decode_seqs = 8;
  decode.decode_context_tokens = 8 * 1025;
  auto decode_attention_ms = [&](const ModelSpec& m) {
    KernelTiming t(m, 8, pool.timing.kernel, tables, SystemMemory::load(kDatabase + "/h200_sxm.yaml"));
    return t.breakdown(decode).generation_attention_ms;
  };
  // DeepSeek-V3 reads its own rows, though R1 (its same_architecture) sorts first
  EXPECT_NEAR(decode_attention_ms(v3), v3.layers * 0.5, 1e-9);
  // Kimi K2 (64 heads: 8 per GPU) has no rows of its own: the first listed checkpoint of its shapes
  EXPECT_NEAR(decode_attention_ms(kimi), kimi.layers * 0.7, 1e-9);
  ModelSpec other = v3;
  other.hf_id = "x/other";
  other.same_architecture.clear();
  other.kv_lora_rank = 256;
  try {
    decode_attention_ms(other);
    ADD_FAILURE() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("deepseek-ai/DeepSeek-R1, deepseek-ai/DeepSeek-V3, example/Unlisted-MLA, none of"));
  }
}

}  // namespace
}  // namespace servesim
