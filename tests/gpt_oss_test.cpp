// gpt-oss: sliding-window attention layers and MXFP4 experts, read from the checkpoint's
// config.json and priced by both timing models (hand arithmetic, and the measured kernel rows).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
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
const std::string kH100Tables = kDatabase + "/data/h100_sxm";

// gpt-oss-120b's shapes as its config.json gives them
constexpr double kHidden = 2880, kHeads = 64, kKvHeads = 8, kHeadDim = 64, kLayers = 36, kExperts = 128, kTopK = 4,
                 kFfn = 2880, kVocab = 201088;

TEST(GptOss, ConfigGivesSlidingLayersMxfp4ExpertsAndTheirBytes) {
  const ModelSpec& m = Catalog::builtin().model("openai/gpt-oss-120b");
  EXPECT_EQ(m.layers, 36);
  EXPECT_EQ(m.sliding_layers, 18);  // layer_types alternates sliding_attention and full_attention
  EXPECT_EQ(m.sliding_window, 128);
  EXPECT_EQ(m.full_attention_layers(), 18);
  EXPECT_EQ(m.experts, 128);
  EXPECT_EQ(m.top_k, 4);
  EXPECT_EQ(m.precision, "bf16");
  EXPECT_EQ(m.expert_precision, "mxfp4");
  // parameters from the shapes: attention, experts and router per layer, embeddings and LM head
  const double attention = kHidden * kHeads * kHeadDim + 2 * kHidden * kKvHeads * kHeadDim + kHeads * kHeadDim * kHidden;
  const double experts = kLayers * kExperts * 3 * kHidden * kFfn;
  const double total = 2 * kVocab * kHidden + kLayers * attention + experts + kLayers * kHidden * kExperts;
  const double active = 2 * kVocab * kHidden + kLayers * attention + kLayers * kTopK * 3 * kHidden * kFfn +
                        kLayers * kHidden * kExperts;
  EXPECT_NEAR(m.params_b, total / 1e9, 1e-9);
  EXPECT_NEAR(m.active_params_b, active / 1e9, 1e-9);
  // the model card: 116.83B total, 5.13B active, which leaves out the embedding table (0.58B: a
  // lookup, not a GEMM); servesim counts it in both, as for every model
  EXPECT_NEAR(m.params_b, 116.83, 0.05);
  EXPECT_NEAR(m.active_params_b - kVocab * kHidden / 1e9, 5.13, 0.01);
  // MXFP4: 4 bits a value and one 8-bit scale per 32 values; the rest bf16
  EXPECT_DOUBLE_EQ(m.expert_bytes_per_param(), 4.25 / 8);
  EXPECT_NEAR(m.weight_bytes(), (total - experts) * 2 + experts * 4.25 / 8, 1e-6 * m.weight_bytes());
  EXPECT_NEAR(m.weight_bytes() / 1e9, 65.2, 0.1);  // the published checkpoint is about 65 GB
  // the cache holds the full-attention layers' KV per token; the windowed layers' is per window
  EXPECT_DOUBLE_EQ(m.kv_bytes_per_token(), 2 * 18 * kKvHeads * kHeadDim * 2);
  EXPECT_DOUBLE_EQ(m.window_kv_bytes_per_token(), 2 * 18 * kKvHeads * kHeadDim * 2);
  // the command line says how the model is treated
  auto r = testing::run_servesim("timing --model openai/gpt-oss-120b --tp 2");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("KV 36 KiB/token"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("sliding window: 18 of 36 layers attend to the last 128 tokens"), std::string::npos) << r.out;
  r = testing::run_servesim("--list");
  EXPECT_NE(r.out.find("128 mxfp4 experts top-4, 18 of 36 layers over a 128-token window"), std::string::npos);
  const ModelSpec& small = Catalog::builtin().model("openai/gpt-oss-20b");
  EXPECT_EQ(small.layers, 24);
  EXPECT_EQ(small.sliding_layers, 12);
  EXPECT_EQ(small.experts, 32);
}

TEST(GptOss, BadLayerTypesAreErrorsNamingTheFile) {
  testing::TempDir dir;
  const std::string src = testing::data_file("aiconfigurator/model_configs/openai--gpt-oss-20b_config.json");
  std::ifstream in(src);
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  auto write = [&](const std::string& from, const std::string& to) {
    std::string t = text;
    const size_t at = t.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    t.replace(at, from.size(), to);
    const std::string path = dir.file("x--y_config.json");
    std::ofstream(path) << t;
    return path;
  };
  auto error_of = [](const std::string& path) {
    try {
      model_from_hf_config(path, "x/y");
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  std::string e = error_of(write("\"full_attention\",", "\"chunked_attention\","));
  EXPECT_NE(e.find("x--y_config.json: layer_types names 'chunked_attention'"), std::string::npos) << e;
  e = error_of(write("\"num_hidden_layers\": 24", "\"num_hidden_layers\": 25"));
  EXPECT_NE(e.find("layer_types lists 24 layers, num_hidden_layers is 25"), std::string::npos) << e;
  // shapes no model has pass the same checks as a models.yaml entry (they divided by zero, or
  // routed a token to more experts than there are, before)
  e = error_of(write("\"num_key_value_heads\": 8", "\"num_key_value_heads\": 0"));
  EXPECT_NE(e.find("x--y_config.json: kv_heads must be at least 1 (got 0)"), std::string::npos) << e;
  e = error_of(write("\"num_key_value_heads\": 8", "\"num_key_value_heads\": 5"));
  EXPECT_NE(e.find("5 KV heads do not divide 64 attention heads"), std::string::npos) << e;
  e = error_of(write("\"num_experts_per_tok\": 4", "\"num_experts_per_tok\": 33"));
  EXPECT_NE(e.find("top_k 33 is not between 1 and its 32 experts"), std::string::npos) << e;
  EXPECT_NE(e.find("(or write a models.yaml entry for it)"), std::string::npos) << e;
}

// A models.yaml entry's sliding-window and expert-format keys must make sense together.
TEST(GptOss, InconsistentCatalogEntriesAreErrorsNamingTheModel) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.file("cat"));
  auto error_for = [&](const std::string& extra) {
    std::ofstream(dir.file("cat/models.yaml"))
        << "odd-model:\n  hf_id: x/odd\n  params_b: 8\n  layers: 32\n  hidden_size: 4096\n  heads: 32\n"
           "  kv_heads: 8\n  head_dim: 128\n  intermediate_size: 14336\n  vocab_size: 128256\n"
        << extra;
    return testing::run_servesim("--catalog " + dir.file("cat") + " timing --model odd-model");
  };
  auto r = error_for("  sliding_window: 128\n");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("model 'odd-model': sliding_window and sliding_layers come together"), std::string::npos) << r.out;
  r = error_for("  sliding_window: 128\n  sliding_layers: 40\n");
  EXPECT_NE(r.out.find("sliding_layers 40 exceeds its 32 layers"), std::string::npos) << r.out;
  r = error_for("  expert_precision: mxfp4\n");
  EXPECT_NE(r.out.find("expert_precision is set on a model with no experts"), std::string::npos) << r.out;
  r = error_for("  attention_precision: bf16\n");
  EXPECT_NE(r.out.find("attention_precision is set on a model without MLA (kv_lora_rank)"), std::string::npos) << r.out;
  // sparse attention needs its indexer and MLA (tests/sparse_attention_test.cpp)
  r = error_for("  sparse_topk: 2048\n  indexer_heads: 64\n  indexer_head_dim: 128\n");
  EXPECT_NE(r.out.find("sparse_topk needs indexer_heads, indexer_head_dim and MLA (kv_lora_rank)"), std::string::npos)
      << r.out;
  r = error_for("  top_k: 2\n");
  EXPECT_NE(r.out.find("top_k, shared_experts or dense_layers is set on a model with no experts"), std::string::npos)
      << r.out;
  // a value head dim apart from head_dim is MLA's (tests/glm5_test.cpp)
  r = error_for("  v_head_dim: 256\n");
  EXPECT_NE(r.out.find("v_head_dim is set on a model without MLA (kv_lora_rank)"), std::string::npos) << r.out;
  r = error_for("  sliding_window: 128\n  sliding_layers: 16\n");
  EXPECT_EQ(r.exit_code, 0) << r.out;
}

TEST(GptOss, WindowedPromptPairsAreTheSumOfMinXAndTheWindow) {
  EXPECT_DOUBLE_EQ(windowed_prompt_pairs(100, 128), 100 * 101 / 2.0);
  EXPECT_DOUBLE_EQ(windowed_prompt_pairs(128, 128), 128 * 129 / 2.0);
  // 1 + 2 + ... + 128, then 128 for each of the other 896 queries
  EXPECT_DOUBLE_EQ(windowed_prompt_pairs(1024, 128), 8256.0 + 896 * 128);
}

// The roofline: a decode's windowed layers read at most the window's KV, a prefill's attend to
// the pairs within it, and MXFP4 expert GEMMs stream 4.25-bit weights at bf16 FLOP rates.
TEST(GptOss, RooflinePricesWindowsAndMxfp4ExpertsByHand) {
  const Catalog& c = Catalog::builtin();
  const ModelSpec& m = c.model("openai/gpt-oss-120b");
  const GpuSpec& gpu = c.gpu("h100_sxm");
  const RooflineEfficiency& eff = roofline_efficiency("default", "");
  const RooflineTiming t(m, gpu, 4, eff);
  const RooflineKernels k{gpu, eff};
  const double bandwidth = gpu.hbm_gbps * 1e9 * eff.memory_efficiency;
  BatchShape decode;
  decode.decode_seqs = 2;
  decode.decode_context_tokens = 2 * 1000;
  // 2 x 1,000 tokens of the 18 full layers' KV, 2 x 128 of the 18 windowed ones', over tp 4 (2 KV heads each)
  const double per_layer_token = 2 * kKvHeads * kHeadDim * 2;
  const double bytes = (2000 * 18 * per_layer_token + 2 * 128 * 18 * per_layer_token) / 4;
  EXPECT_NEAR(t.breakdown(decode).attention_s, bytes / bandwidth + kLayers * eff.attention_latency_us * 1e-6, 1e-15);
  // without the windows every layer would read the whole context
  ModelSpec full = m;
  full.sliding_window = 0;
  const RooflineTiming t_full(full, gpu, 4, eff);
  EXPECT_NEAR(t_full.breakdown(decode).attention_s,
              2000 * 36 * per_layer_token / 4 / bandwidth + kLayers * eff.attention_latency_us * 1e-6, 1e-15);
  BatchShape prefill;
  prefill.prefill_seqs = 1;
  prefill.prefill_tokens = 1024;
  prefill.prefill_attention_pairs = 1024 * 1025 / 2.0;
  const double windowed_isl = equivalent_prompt_tokens(8256.0 + 896 * 128);
  EXPECT_NEAR(t.breakdown(prefill).attention_s,
              18 * k.context_attention_s(1, 1024, 16, 64) + 18 * k.context_attention_s(1, windowed_isl, 16, 64), 1e-15);
  // an MXFP4 GEMM of one token is memory-bound on its 4.25-bit weights
  const double n = 5760, kk = 2880;
  EXPECT_NEAR(k.gemm_s(1, n, kk, "mxfp4"),
              (n * kk * 4.25 / 8 + (kk + n) * 2) / bandwidth + eff.kernel_latency_us * 1e-6, 1e-15);
  EXPECT_LT(k.gemm_s(1, n, kk, "mxfp4"), k.gemm_s(1, n, kk, "bf16"));
}

double table_latency(const std::string& file, double batch, double context, int window) {
  auto rows = TableReader::open(file);
  const size_t heads = rows->column("num_heads"), kv = rows->column("num_key_value_heads"),
               dim = rows->column("head_dim"), b = rows->column("batch_size"), step = rows->column("step"),
               isl = rows->column("isl"), dtype = rows->column("kv_cache_dtype"), w = rows->column("window_size"),
               source = rows->column("kernel_source"), latency = rows->column("latency");
  double found = -1;
  while (rows->next())
    if (rows->number(heads) == 16 && rows->number(kv) == 2 && rows->number(dim) == 64 && rows->number(b) == batch &&
        rows->number(isl) + rows->number(step) == context && rows->field(dtype) == "bfloat16" &&
        rows->number(w) == window && rows->field(source).find("fa4") == std::string_view::npos)
      found = rows->number(latency);
  return found;
}

// The kernel model: vLLM's tables measured gpt-oss's attention with and without its 128-token
// window, and its MXFP4 MoE layer (w4a16_mxfp4) at each moe_tp; a decode step is their rows.
TEST(GptOss, KernelTimingReadsTheWindowedAttentionAndMxfp4MoeRows) {
  PoolConfig pool;
  pool.model = "openai/gpt-oss-120b";
  pool.tp = 4;
  pool.timing.kernel.backend = "vllm";
  const ModelSpec model = Catalog::builtin().deployed_model(pool);
  const KernelTables::Parts parts = KernelTables::Parts::for_model(model);
  EXPECT_TRUE(parts.windows);
  const auto tables = KernelTables::shared(kH100Tables, "vllm", "", parts);
  KernelTiming t(model, 4, pool.timing.kernel, tables, SystemMemory::load(kDatabase + "/h100_sxm.yaml"));
  const std::string gen = tables->sources.at("generation_attention").file;
  const double full = table_latency(gen, 64, 8192, 0), windowed = table_latency(gen, 64, 8192, 128);
  ASSERT_GT(full, 0);
  ASSERT_GT(windowed, 0);
  EXPECT_LT(windowed, full / 3);  // the window reads 128 of the 8,192 tokens
  BatchShape decode;
  decode.decode_seqs = 64;
  decode.decode_context_tokens = 64 * 8192;
  EXPECT_NEAR(t.breakdown(decode).generation_attention_ms, 18 * full + 18 * windowed, 1e-9);
  EXPECT_EQ(t.extrapolations(), 0u);
  // the MoE layer of this layout is a measured table: w4a16_mxfp4, moe_tp 4
  const KernelTables::MoeKey key{"w4a16_mxfp4", 2880, 2880, 4, 128, 4, 1, pool.timing.kernel.moe_distribution};
  EXPECT_TRUE(tables->moe.count(key));
  // a dense model reads no window rows
  const KernelTables dense = KernelTables::load(kH100Tables, "vllm", "", {false, false, false});
  for (const auto& [k, grid] : dense.generation_attention) EXPECT_EQ(k.window, 0);
  // MXFP4 experts have no GEMM table: a layout the MoE table lacks, or pricing them as GEMMs, is refused
  auto error_of = [&](int tp, int ep, const std::string& moe) {
    PoolConfig p = pool;
    p.tp = tp;
    p.expert_parallel = ep;
    p.timing.kernel.moe = moe;
    try {
      KernelTiming(Catalog::builtin().deployed_model(p), tp, p.timing.kernel,
                   KernelTables::shared(kDatabase + "/data/h100_sxm", "trtllm", "", parts),
                   SystemMemory::load(kDatabase + "/h100_sxm.yaml"), ep);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  std::string e = error_of(4, 1, "table");  // TensorRT-LLM's table measured moe_tp 1 only
  EXPECT_NE(e.find("no w4a16_mxfp4 MoE table for 128 experts top-4 (hidden 2880, FFN 2880) at moe_tp 4 x moe_ep 1"),
            std::string::npos)
      << e;
  EXPECT_EQ(error_of(4, 4, "table"), "(no error)");  // moe_tp 1 x moe_ep 4 was measured
  e = error_of(4, 4, "gemm");
  EXPECT_NE(e.find("priced only from the MoE tables"), std::string::npos) << e;
}

}  // namespace
}  // namespace servesim
