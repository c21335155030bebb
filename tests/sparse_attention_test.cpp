// DeepSeek sparse attention (DSA, DeepSeek-V3.2): read from the checkpoint's config.json, its KV
// (MLA latents and the indexer's keys), and priced by both timing models (hand arithmetic, and
// every backend's measured DSA modules).
#include <gtest/gtest.h>

#include <utility>

#include "core/table_reader.h"
#include "models/catalog.h"
#include "models/hf_config.h"
#include "models/timing/kernel.h"
#include "models/timing/kernel_tables.h"
#include "models/timing/model_ops.h"
#include "models/timing/roofline.h"
#include "test_util.h"

namespace servesim {
namespace {

const std::string kDatabase = testing::data_file("aiconfigurator/systems");
const std::string kV32 = "deepseek-ai/DeepSeek-V3.2";

// DeepSeek-V3.2's shapes as its config.json gives them
constexpr double kLayers = 61, kHidden = 7168, kQLora = 1536, kLatent = 512 + 64, kTopK = 2048, kIndexerHeads = 64,
                 kIndexerDim = 128;

TEST(SparseAttention, DeepSeekV32ConfigGivesTheIndexerAndItsKv) {
  const ModelSpec& m = Catalog::builtin().model(kV32);
  EXPECT_EQ(m.sparse_topk, 2048);
  EXPECT_EQ(m.indexer_heads, 64);
  EXPECT_EQ(m.indexer_head_dim, 128);
  EXPECT_EQ(m.kv_lora_rank, 512);
  EXPECT_EQ(m.precision, "fp8_block");
  // V3.2 is V3 with an indexer per layer: its wq_b (query LoRA -> 64 x 128), wk (hidden -> 128)
  // and weights_proj (hidden -> 64)
  const ModelSpec v3 =
      model_from_hf_config(testing::data_file("aiconfigurator/model_configs/deepseek-ai--DeepSeek-V3_config.json"), "v3");
  EXPECT_NEAR((m.params_b - v3.params_b) * 1e9,
              kLayers * (kQLora * kIndexerHeads * kIndexerDim + kHidden * (kIndexerDim + kIndexerHeads)), 1e-3);
  // per token and layer: the bf16 latent and RoPE key, and the indexer's FP8 key with its FP32 scale
  EXPECT_DOUBLE_EQ(m.attention_kv_bytes_per_token(), kLayers * kLatent * 2);
  EXPECT_DOUBLE_EQ(m.indexer_kv_bytes_per_token(), kLayers * (kIndexerDim + 4));
  EXPECT_DOUBLE_EQ(m.kv_bytes_per_token(), kLayers * (kLatent * 2 + kIndexerDim + 4));
  // decoding reads the top-k tokens' latents and every token's indexer key
  EXPECT_DOUBLE_EQ(m.decode_kv_read_bytes(4 * 8192, 4), 4 * kTopK * kLayers * kLatent * 2 + 4 * 8192 * kLayers * 132);
  EXPECT_DOUBLE_EQ(m.decode_kv_read_bytes(4 * 1000, 4), 4 * 1000 * m.kv_bytes_per_token());
  auto r = testing::run_servesim("timing --model " + kV32 + " --gpu h200 --tp 8");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("sparse attention (DSA): each query attends to the 2048 tokens a 64-head indexer picks; the KV "
                       "per token holds the MLA latent (1152 B) and the indexer's key (132 B), per layer"),
            std::string::npos)
      << r.out;
  r = testing::run_servesim("--list");
  EXPECT_NE(r.out.find("256 experts top-8, sparse attention over the top 2048 tokens"), std::string::npos) << r.out;
}

TEST(SparseAttention, TheRooflineAttendsToTheTopKAndScoresEveryPair) {
  const ModelSpec& m = Catalog::builtin().model(kV32);
  const GpuSpec& gpu = Catalog::builtin().gpu("h200");
  const RooflineEfficiency& eff = roofline_efficiency("default", "");
  const RooflineTiming t(m, gpu, 8, eff);
  const double bandwidth = gpu.hbm_gbps * 1e9 * eff.memory_efficiency;
  // decode of 4 sequences at 8,192 tokens: the top 2,048 latents and 8,192 indexer keys each
  BatchShape decode;
  decode.decode_seqs = 4;
  decode.decode_context_tokens = 4 * 8192;
  const double read = 4 * kLayers * (kTopK * kLatent * 2 + 8192 * (kIndexerDim + 4));
  EXPECT_NEAR(t.breakdown(decode).attention_s, read / bandwidth + kLayers * eff.attention_latency_us * 1e-6, 1e-12);
  // a 16,384-token prompt: each query attends to at most 2,048 keys (the pairs of a 2,048-token
  // window), and the indexer scores all 16,384 x 16,385 / 2 pairs on its 64 heads in FP8
  BatchShape prefill;
  prefill.prefill_seqs = 1;
  prefill.prefill_tokens = 16384;
  prefill.prefill_attention_pairs = 16384.0 * 16385 / 2;
  const double sparse_pairs = kTopK * (kTopK + 1) / 2 + (16384 - kTopK) * kTopK;
  const double attention = 4.0 * sparse_pairs * (128 / 8) * 128 / (gpu.bf16_tflops * 1e12 * eff.attention_efficiency);
  const double indexer = 2.0 * prefill.prefill_attention_pairs * kIndexerHeads * kIndexerDim /
                         (gpu.fp8_tflops * 1e12 * eff.attention_efficiency);
  EXPECT_NEAR(t.breakdown(prefill).attention_s,
              kLayers * (attention + indexer + 2 * eff.attention_latency_us * 1e-6), 1e-9 * kLayers * indexer);
  // against the same model attending densely: a long decode reads less; a long prompt costs less
  // where a GPU holds all 128 heads, but more at TP 8, where the heads split and the indexer does
  // not (as the measured modules show: vLLM's DSA block at 16 heads per GPU and 16,384 tokens takes
  // 14.9 ms on H200 against its dense MLA block's 3.7 ms; at 128 heads 28.9 against 20.6 ms, and
  // 63.3 against 68.6 ms at 32,768 tokens)
  ModelSpec dense = m;
  dense.sparse_topk = 0;
  const RooflineTiming td(dense, gpu, 8, eff);
  EXPECT_LT(t.breakdown(decode).attention_s, td.breakdown(decode).attention_s);
  BatchShape long_prefill = prefill;
  long_prefill.prefill_tokens = 65536;
  long_prefill.prefill_attention_pairs = 65536.0 * 65537 / 2;
  EXPECT_GT(t.breakdown(long_prefill).attention_s, td.breakdown(long_prefill).attention_s);
  const RooflineTiming t1(m, gpu, 1, eff), td1(dense, gpu, 1, eff);
  EXPECT_LT(t1.breakdown(long_prefill).attention_s, td1.breakdown(long_prefill).attention_s);
}

// A row of a DSA generation module table at (heads per GPU, batch): its KV length (isl + step)
// between 512 and 4,096 tokens and its latency; {0, -1} if none.
std::pair<double, double> dsa_row(const std::string& file, int heads, double batch) {
  auto rows = TableReader::open(file);
  const size_t model = rows->column("model"), h = rows->column("num_heads"), kv = rows->column("kv_cache_dtype"),
               g = rows->column("gemm_type"), b = rows->column("batch_size"), isl = rows->column("isl"),
               step = rows->column("step"), latency = rows->column("latency");
  while (rows->next()) {
    const double len = rows->number(isl) + rows->number(step);
    if (rows->field(model) == kV32 && rows->number(h) == heads && rows->field(kv) == "bfloat16" &&
        rows->field(g) == "fp8_block" && rows->number(b) == batch && len >= 512 && len <= 4096)
      return {len, rows->number(latency)};
  }
  return {0, -1};
}

TEST(SparseAttention, EveryBackendPricesTheLayerFromItsDsaModules) {
  const ModelSpec& m = Catalog::builtin().model(kV32);
  for (const char* backend : {"vllm", "sglang", "trtllm"}) {
    SCOPED_TRACE(backend);
    KernelTimingConfig config;
    config.backend = backend;
    const auto tables = KernelTables::shared(kDatabase + "/data/h200_sxm", backend, "", KernelTables::Parts::for_model(m));
    KernelTiming t(m, 8, config, tables, SystemMemory::load(kDatabase + "/h200_sxm.yaml"));
    // a decode step of 8 sequences at a KV length the table measured: 61 layers of its row
    const std::string generation = tables->sources.at("dsa_generation_module").file;
    const auto [len, row] = dsa_row(generation, 16, 8);
    ASSERT_GT(row, 0) << generation;
    BatchShape decode;
    decode.decode_seqs = 8;
    decode.decode_context_tokens = static_cast<std::int64_t>(8 * len);
    const auto d = t.breakdown(decode);
    EXPECT_NEAR(d.generation_attention_ms, kLayers * row, 1e-9 * d.generation_attention_ms);
    // the module holds the attention block's projections and the indexer's: the GEMMs left are
    // those of the same model attending densely through vLLM's MLA module (its FFN, experts, LM head)
    if (std::string(backend) == "vllm") {
      ModelSpec dense = m;
      dense.sparse_topk = 0;
      KernelTiming td(dense, 8, config, tables, SystemMemory::load(kDatabase + "/h200_sxm.yaml"));
      EXPECT_DOUBLE_EQ(d.gemm_ms, td.breakdown(decode).gemm_ms);
      EXPECT_NE(d.generation_attention_ms, td.breakdown(decode).generation_attention_ms);
    }
  }
}

}  // namespace
}  // namespace servesim
