// GLM-5: MLA whose values are wider than its keys (v_head_dim 256, qk_nope_head_dim 192) with
// DeepSeek sparse attention. The catalog entry against the configs in the database, the shapes
// each timing model prices (hand arithmetic), and the measured DSA module rows that price it,
// chosen by checkpoint and GEMM format.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <tuple>

#include "core/error.h"
#include "core/table_reader.h"
#include "models/catalog.h"
#include "models/hf_config.h"
#include "models/timing/kernel.h"
#include "models/timing/kernel_tables.h"
#include "models/timing/model_ops.h"
#include "models/timing/roofline.h"
#include "scenario/scenario.h"
#include "test_util.h"

namespace servesim {
namespace {

const std::string kDatabase = testing::data_file("aiconfigurator/systems");

// GLM-5's shapes as nvidia/GLM-5-NVFP4's config.json gives them
constexpr double kLayers = 78, kHidden = 6144, kHeads = 64, kKeyDim = 192, kValueDim = 256, kRope = 64, kLatent = 512,
                 kQLora = 2048, kTopK = 2048, kIndexerHeads = 32, kIndexerDim = 128;

ModelSpec glm5(const std::string& precision) {
  PoolConfig pool;
  pool.model = "glm-5";
  pool.gpu = "b200";
  pool.tp = 8;
  pool.precision = precision;
  return Catalog::builtin().deployed_model(pool);
}

TEST(Glm5, TheCatalogEntryHoldsItsConfigsShapes) {
  const ModelSpec& m = Catalog::builtin().model("glm-5");
  EXPECT_EQ(m.hf_id, "zai-org/GLM-5");
  EXPECT_EQ(m.value_head_dim(), 256);
  EXPECT_DOUBLE_EQ(m.attention_head_dim(), (192 + 256) / 2.0);
  auto shapes = [](const ModelSpec& s) {
    return std::make_tuple(s.layers, s.hidden_size, s.heads, s.kv_heads, s.head_dim, s.value_head_dim(),
                           s.intermediate_size, s.vocab_size, s.experts, s.top_k, s.shared_experts,
                           s.moe_intermediate_size, s.dense_layers, s.kv_lora_rank, s.qk_rope_head_dim, s.q_lora_rank,
                           s.sparse_topk, s.indexer_heads, s.indexer_head_dim);
  };
  const ModelSpec c =
      model_from_hf_config(testing::data_file("aiconfigurator/model_configs/nvidia--GLM-5-NVFP4_config.json"), "c");
  EXPECT_EQ(shapes(c), shapes(m));
  // GLM-5.1 is GLM-5's architecture with other weights: its config, registered by its id, has
  // the same shapes (so GLM-5's measured module rows price it)
  const ModelSpec glm51 = Catalog::builtin().model("zai-org/GLM-5.1");
  EXPECT_EQ(shapes(glm51), shapes(m));
  EXPECT_NEAR(glm51.params_b, m.params_b, 0.005);
  EXPECT_NEAR(c.params_b, m.params_b, 0.005);
  EXPECT_NEAR(c.active_params_b, m.active_params_b, 0.005);
  // NVIDIA's NVFP4 export is a model of its own, read from its files: GLM-5's shapes, its
  // attention blocks kept in bf16 (tests/nvfp4_test.cpp)
  const ModelSpec& nvfp4 = Catalog::builtin().model("nvidia/GLM-5-NVFP4");
  EXPECT_EQ(shapes(nvfp4), shapes(m));
  EXPECT_EQ(nvfp4.attention_precision, "bf16");
  // the parameters, by hand: kv_b_proj expands the latent to 192 + 256 per head, o_proj reads
  // 64 x 256 values
  const double attention = kHidden * kQLora + kQLora * kHeads * (kKeyDim + kRope) + kHidden * (kLatent + kRope) +
                           kLatent * kHeads * (kKeyDim + kValueDim) + kHeads * kValueDim * kHidden +
                           kQLora * kIndexerHeads * kIndexerDim + kHidden * (kIndexerDim + kIndexerHeads);
  const double vocab = 2.0 * 154880 * kHidden, dense = 3 * 3 * kHidden * 12288;
  const double moe = 75 * ((256 + 1) * 3 * kHidden * 2048 + kHidden * 256);
  EXPECT_NEAR(c.params_b * 1e9, vocab + kLayers * attention + dense + moe, 1);
  // KV per token and layer: the bf16 latent and RoPE key, and the indexer's FP8 key and scale
  EXPECT_DOUBLE_EQ(m.kv_bytes_per_token(), kLayers * ((kLatent + kRope) * 2 + kIndexerDim + 4));
}

TEST(Glm5, ValuesWiderThanKeysShapeTheProjectionsAndTheAttention) {
  const ModelSpec m = glm5("fp8_block");
  for (const GemmOp& op : iteration_gemms(m, 8, 4, 0)) {
    if (op.name == std::string_view("o_proj")) {
      EXPECT_EQ(op.k, kHeads * kValueDim / 8);
    } else if (op.name == std::string_view("qkv_proj")) {
      EXPECT_EQ(op.n, kHeads * (2 * kKeyDim + kValueDim) / 8);
    }
  }
  // a 16,384-token prompt at TP 8: QK^T over 192-wide keys and PV over 256-wide values on 8 heads
  // per GPU, for each query's top 2,048 keys; the indexer scores every pair in FP8
  const GpuSpec& gpu = Catalog::builtin().gpu("b200");
  const RooflineEfficiency& eff = roofline_efficiency("default", "");
  const RooflineTiming t(m, gpu, 8, eff);
  BatchShape prefill;
  prefill.prefill_seqs = 1;
  prefill.prefill_tokens = 16384;
  prefill.prefill_attention_pairs = 16384.0 * 16385 / 2;
  const double sparse_pairs = kTopK * (kTopK + 1) / 2 + (16384 - kTopK) * kTopK;
  const double attention =
      2.0 * sparse_pairs * (kHeads / 8) * (kKeyDim + kValueDim) / (gpu.bf16_tflops * 1e12 * eff.attention_efficiency);
  const double indexer = 2.0 * prefill.prefill_attention_pairs * kIndexerHeads * kIndexerDim /
                         (gpu.fp8_tflops * 1e12 * eff.attention_efficiency);
  EXPECT_NEAR(t.breakdown(prefill).attention_s, kLayers * (attention + indexer + 2 * eff.attention_latency_us * 1e-6),
              1e-9 * kLayers * indexer);
}

// The latency of a DSA generation module row: (checkpoint, heads per GPU, KV dtype, GEMM format,
// batch, KV length = isl + step) of the block with its indexer, or without (`op`); -1 if not measured.
double dsa_row(const std::string& file, const std::string& checkpoint, int heads, const std::string& gemm, double batch,
               double len, const std::string& op = "dsa_generation_module") {
  auto rows = TableReader::open(file);
  const size_t model = rows->column("model"), h = rows->column("num_heads"), kv = rows->column("kv_cache_dtype"),
               g = rows->column("gemm_type"), b = rows->column("batch_size"), isl = rows->column("isl"),
               step = rows->column("step"), latency = rows->column("latency"), name = rows->column("op_name");
  while (rows->next())
    if (rows->field(name) == op && rows->field(model) == checkpoint && rows->number(h) == heads &&
        rows->field(kv) == "bfloat16" &&
        rows->field(g) == gemm && rows->number(b) == batch && rows->number(isl) + rows->number(step) == len)
      return rows->number(latency);
  return -1;
}

struct Deployed {
  std::shared_ptr<const KernelTables> tables;
  KernelTiming timing;
  double decode_attention_ms(int seqs, double len) const {
    BatchShape decode;
    decode.decode_seqs = seqs;
    decode.decode_context_tokens = static_cast<std::int64_t>(seqs * len);
    return timing.breakdown(decode).generation_attention_ms;
  }
};

Deployed deploy(const ModelSpec& m, const char* backend, const std::string& system = "b200_sxm") {
  KernelTimingConfig config;
  config.backend = backend;
  auto tables = KernelTables::shared(kDatabase + "/data/" + system, backend, "", KernelTables::Parts::for_model(m));
  return {tables, KernelTiming(m, 8, config, tables, SystemMemory::load(kDatabase + "/" + system + ".yaml"))};
}

// Each backend's tables name the checkpoints they measured: vLLM's zai-org/GLM-5 in every GEMM
// format, SGLang's on B200 its FP8 checkpoint only. A decode step is 78 layers of the row of the
// checkpoint measured in the deployment's format; a format none was measured in is an error
// naming what was looked for.
TEST(Glm5, TheDsaRowsOfTheCheckpointMeasuredInTheDeploymentsFormatPriceIt) {
  struct Case {
    const char* backend;
    const char* precision;
    const char* checkpoint;
    const char* gemm;
  };
  for (const Case& c : {Case{"vllm", "fp8_block", "zai-org/GLM-5", "fp8_block"},
                        Case{"vllm", "nvfp4", "zai-org/GLM-5", "nvfp4"},
                        Case{"sglang", "fp8_block", "zai-org/GLM-5-FP8", "fp8_block"}}) {
    SCOPED_TRACE(std::string(c.backend) + " " + c.precision);
    const Deployed d = deploy(glm5(c.precision), c.backend);
    const std::string file = d.tables->sources.at("dsa_generation_module").file;
    const double row = dsa_row(file, c.checkpoint, 8, c.gemm, 16, 2049);
    ASSERT_GT(row, 0) << file;
    EXPECT_NEAR(d.decode_attention_ms(16, 2049), kLayers * row, 1e-9 * kLayers * row);
  }
  try {
    deploy(glm5("nvfp4"), "sglang");
    ADD_FAILURE() << "SGLang's B200 tables measured no nvfp4 GLM-5 block";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("no DSA context module table of zai-org/GLM-5-FP8 for 8 heads per GPU, "
                                               "a bfloat16 KV cache and nvfp4 GEMMs (model zai-org/GLM-5 at tp 8)"));
  }
}

// vLLM's B200 table lacks the nvfp4 row at batch 1 and 513 tokens: a batch-1 decode between 513
// and 1,025 tokens reads the batch-2 value there (fewer sequences do no more work), counted.
TEST(Glm5, AHoleAtTheSmallestBatchIsReadAtTheNextOne) {
  const Deployed d = deploy(glm5("nvfp4"), "vllm");
  const std::string file = d.tables->sources.at("dsa_generation_module").file;
  ASSERT_LT(dsa_row(file, "zai-org/GLM-5", 8, "nvfp4", 1, 513), 0) << "the hole this test is about";
  ASSERT_GT(dsa_row(file, "zai-org/GLM-5", 8, "nvfp4", 2, 513), 0);
  const std::uint64_t before = d.timing.extrapolations();
  EXPECT_DOUBLE_EQ(d.decode_attention_ms(1, 1024), d.decode_attention_ms(2, 1024));
  EXPECT_GT(d.timing.extrapolations(), before);
  // where batch 1 was measured, it is read as measured
  EXPECT_NEAR(d.decode_attention_ms(1, 2049), kLayers * dsa_row(file, "zai-org/GLM-5", 8, "nvfp4", 1, 2049), 1e-9);
}

// GLM-5.2 is GLM-5's shapes, but 57 of its 78 layers reuse an earlier layer's indexer picks
// (indexer_types: shared): those run no indexer and cache no indexer key. SGLang measured that
// block without its indexer (op dsa_*_module_skip_indexer); a decode step is 21 layers of the
// block with it (GLM-5's rows: none of GLM-5.2's were measured with its indexer on H200) and 57
// without.
TEST(Glm5, Glm52sLayersThatSharePicksRunNoIndexer) {
  const ModelSpec& m = Catalog::builtin().model("zai-org/GLM-5.2");
  EXPECT_EQ(m.shared_indexer_layers, 57);
  EXPECT_EQ(m.indexer_layers(), 21);
  EXPECT_DOUBLE_EQ(m.kv_bytes_per_token(), kLayers * (kLatent + kRope) * 2 + 21 * (kIndexerDim + 4));
  // the indexer's projections in 21 layers: GLM-5's parameters (as counted from GLM-5.1's config,
  // the same shapes) less 57 layers' worth
  const ModelSpec& glm5 = Catalog::builtin().model("glm-5");
  const double indexer = kQLora * kIndexerHeads * kIndexerDim + kHidden * (kIndexerDim + kIndexerHeads);
  EXPECT_NEAR(m.params_b * 1e9, Catalog::builtin().model("zai-org/GLM-5.1").params_b * 1e9 - 57 * indexer, 1);
  for (const GemmOp& op : iteration_gemms(m, 8, 4, 0))
    if (op.name == std::string_view("indexer_q")) {
      EXPECT_EQ(op.count, 21);
    }
  const Deployed d = deploy(m, "sglang", "h200_sxm");
  const std::string file = d.tables->sources.at("dsa_generation_module").file;
  const double full = dsa_row(file, "zai-org/GLM-5", 8, "bfloat16", 16, 2049);
  const double skip = dsa_row(file, "zai-org/GLM-5.2", 8, "bfloat16", 16, 2049, "dsa_generation_module_skip_indexer");
  ASSERT_GT(full, 0);
  ASSERT_GT(skip, 0);
  EXPECT_LT(skip, full);  // the indexer's share of the block
  EXPECT_NEAR(d.decode_attention_ms(16, 2049), 21 * full + 57 * skip, 1e-9);
  // GLM-5's own pricing is unchanged by the skip rows beside its own
  const Deployed g = deploy(glm5, "sglang", "h200_sxm");
  EXPECT_NEAR(g.decode_attention_ms(16, 2049), kLayers * full, 1e-9);
  // vLLM measured no block without its indexer
  try {
    deploy(m, "vllm", "h200_sxm");
    ADD_FAILURE() << "vLLM's tables have no skip-indexer blocks";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("57 of its layers reuse an earlier layer's indexer picks"));
  }
}

}  // namespace
}  // namespace servesim
