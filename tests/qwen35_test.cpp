// Qwen3.5: hybrid models whose layers are three Gated DeltaNet (linear attention) layers for each
// full-attention one. The configs read as their shapes and parameter counts (hand sums), the KV
// cache laid out as vLLM V1 lays it out (the attention block size raised until a block holds a
// layer's recurrent state; each running sequence holding its state's blocks), admission limited by
// those blocks end to end, and the state's traffic priced by both timing models (hand arithmetic,
// the measured GDN rows).
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <tuple>
#include <utility>

#include "core/error.h"
#include "core/table_reader.h"
#include "models/catalog.h"
#include "models/hf_config.h"
#include "models/speculative.h"
#include "models/timing/kernel.h"
#include "models/timing/kernel_tables.h"
#include "models/timing/model_ops.h"
#include "models/timing/roofline.h"
#include "tests/test_util.h"

namespace servesim {
namespace {

using ::testing::HasSubstr;

// Qwen3.5-27B as its config.json gives it
constexpr double kLayers = 64, kLinearLayers = 48, kHidden = 5120, kHeads = 24, kKvHeads = 4, kHeadDim = 256,
                 kFfn = 17408, kVocab = 248320, kKeyHeads = 16, kValueHeads = 48, kLinearDim = 128, kConvKernel = 4;

ModelSpec read_config(const std::string& file) {
  return model_from_hf_config(testing::data_file("aiconfigurator/model_configs/" + file), "c");
}

TEST(Qwen35, TheConfigsReadAsTheirShapesAndParameters) {
  const ModelSpec m = read_config("Qwen--Qwen3.5-27B_config.json");
  EXPECT_EQ(m.layers, kLayers);
  EXPECT_EQ(m.linear_layers, kLinearLayers);
  EXPECT_EQ(m.full_attention_layers(), kLayers - kLinearLayers);
  EXPECT_EQ(m.linear_key_heads, kKeyHeads);
  EXPECT_EQ(m.linear_value_heads, kValueHeads);
  EXPECT_EQ(m.linear_conv_kernel, kConvKernel);
  EXPECT_EQ(m.linear_state_dtype_bytes, 4);  // mamba_ssm_dtype float32
  EXPECT_TRUE(m.attention_output_gate);
  EXPECT_EQ(m.precision, "bf16");
  // by hand: a full-attention layer's gated query (twice the heads' width), keys, values and
  // output; a linear layer's input projection (q, k, v, z, b, a), convolution and output
  // projection; every layer's MLP; untied embeddings and LM head
  const double attention = kHidden * kHeads * kHeadDim * 2 + 2 * kHidden * kKvHeads * kHeadDim + kHeads * kHeadDim * kHidden;
  const double key_width = kKeyHeads * kLinearDim, value_width = kValueHeads * kLinearDim;
  const double linear = kHidden * (2 * key_width + 2 * value_width + 2 * kValueHeads) +
                        (2 * key_width + value_width) * kConvKernel + value_width * kHidden;
  const double total = 2 * kVocab * kHidden + (kLayers - kLinearLayers) * attention + kLinearLayers * linear +
                       kLayers * 3 * kHidden * kFfn;
  EXPECT_NEAR(m.params_b * 1e9, total, 1);
  EXPECT_NEAR(m.params_b, 26.9, 0.05);  // "27B" (its vision encoder and MTP layer are not served here)
  // the KV cache holds the full-attention layers only: 16 x K and V of 4 heads of 256, bf16
  EXPECT_DOUBLE_EQ(m.kv_bytes_per_token(), (kLayers - kLinearLayers) * 2 * kKvHeads * kHeadDim * 2);
  // one sequence's state in one layer at TP 1: the convolution's last 3 inputs of 2 x 16 x 128 + 48
  // x 128 channels in bf16, and 48 heads of 128 x 128 in fp32
  EXPECT_DOUBLE_EQ(m.linear_state_bytes_per_layer(1), (2 * key_width + value_width) * 3 * 2 + kValueHeads * 128 * 128 * 4);
  EXPECT_DOUBLE_EQ(m.linear_state_bytes_per_layer(1), 3207168);

  // the MoE configs give no intermediate_size and a shared expert by its width
  const ModelSpec moe = read_config("Qwen--Qwen3.5-35B-A3B_config.json");
  EXPECT_EQ(moe.linear_layers, 30);
  EXPECT_EQ(moe.experts, 256);
  EXPECT_EQ(moe.top_k, 8);
  EXPECT_EQ(moe.shared_experts, 1);  // shared_expert_intermediate_size 512 = one 512-wide expert
  EXPECT_EQ(moe.intermediate_size, 512);
  EXPECT_NEAR(moe.params_b, 35, 0.5);
  EXPECT_NEAR(moe.active_params_b, 3, 0.5);
  for (const char* big : {"Qwen--Qwen3.5-122B-A10B_config.json", "Qwen--Qwen3.5-397B-A17B_config.json"}) {
    const ModelSpec b = read_config(big);
    EXPECT_EQ(b.linear_layers * 4, b.layers * 3) << big;
  }
  EXPECT_NEAR(read_config("Qwen--Qwen3.5-122B-A10B_config.json").params_b, 122, 0.5);
  EXPECT_NEAR(read_config("Qwen--Qwen3.5-397B-A17B_config.json").params_b, 397, 1);
  // the checkpoints are catalog models by their ids
  EXPECT_EQ(Catalog::builtin().model("Qwen/Qwen3.5-27B").linear_layers, kLinearLayers);
}

// Qwen3-VL's language models are Qwen3's and Qwen3-MoE's, under text_config: each checkpoint
// reads as the text model of its size, shape for shape and parameter for parameter (the vision
// encoder is not counted). An unknown architecture was the error before.
TEST(Qwen35, Qwen3VlReadsAsTheQwen3TextModelOfItsSize) {
  const Catalog& c = Catalog::builtin();
  const std::pair<const char*, const char*> twins[] = {{"Qwen/Qwen3-VL-8B-Instruct", "Qwen/Qwen3-8B"},
                                                       {"Qwen/Qwen3-VL-32B-Instruct", "Qwen/Qwen3-32B"},
                                                       {"Qwen/Qwen3-VL-30B-A3B-Instruct", "Qwen/Qwen3-30B-A3B"},
                                                       {"Qwen/Qwen3-VL-235B-A22B-Instruct", "Qwen/Qwen3-235B-A22B"}};
  for (const auto& [vl, text] : twins) {
    SCOPED_TRACE(vl);
    const ModelSpec &a = c.model(vl), &b = c.model(text);
    EXPECT_EQ(std::tie(a.layers, a.hidden_size, a.heads, a.kv_heads, a.head_dim, a.intermediate_size, a.vocab_size,
                       a.experts, a.top_k, a.moe_intermediate_size),
              std::tie(b.layers, b.hidden_size, b.heads, b.kv_heads, b.head_dim, b.intermediate_size, b.vocab_size,
                       b.experts, b.top_k, b.moe_intermediate_size));
    EXPECT_EQ(a.precision, "bf16");
    EXPECT_NEAR(a.params_b, b.params_b, 0.01 * b.params_b);  // (hand entries round their counts)
  }
  // an older ModelOpt FP8 export: quant_algo and producer in config.json, no quant_method
  EXPECT_EQ(c.model("Qwen/Qwen3-32B-FP8-Static-PerTensor").precision, "fp8");
}

TEST(Qwen35, ABrokenHybridConfigNamesWhatIsWrong) {
  const std::string config = R"({"architectures": ["Qwen3_5ForConditionalGeneration"], "text_config": {
    "num_hidden_layers": 4, "hidden_size": 64, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 32,
    "intermediate_size": 128, "vocab_size": 100, "linear_num_key_heads": 3, "linear_num_value_heads": 4,
    "linear_key_head_dim": 16, "linear_value_head_dim": 16, "linear_conv_kernel_dim": 4,
    "layer_types": ["linear_attention", "linear_attention", "linear_attention", "full_attention"]}})";
  try {
    model_from_hf_config_text(config, "x.json", "x/y");
    ADD_FAILURE() << "3 key heads do not divide 4 value heads";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("x.json: 3 linear-attention key heads do not divide its 4 value heads"));
  }
  // without layer_types, full_attention_interval places the full-attention layers (Qwen3-Next)
  std::string by_interval = config;
  const size_t types = by_interval.find(",\n    \"layer_types\"");
  ASSERT_NE(types, std::string::npos);
  by_interval.replace(types, by_interval.find("]}}") + 1 - types, ", \"full_attention_interval\": 2");
  by_interval.replace(by_interval.find("\"linear_num_key_heads\": 3"), 25, "\"linear_num_key_heads\": 2");
  const ModelSpec interval = model_from_hf_config_text(by_interval, "x.json", "x/y");
  EXPECT_EQ(interval.linear_layers, 2);
  EXPECT_EQ(interval.full_attention_layers(), 2);
  std::string no_state = config;
  no_state.replace(no_state.find("\"linear_conv_kernel_dim\": 4,"), 28, "");
  EXPECT_THROW(model_from_hf_config_text(no_state, "x.json", "x/y"), InputError);
}

PoolConfig pool_of(const std::string& model, int tp, const std::string& gpu = "h100_sxm") {
  PoolConfig pool;
  pool.model = model;
  pool.gpu = gpu;
  pool.tp = tp;
  return pool;
}

// vLLM's HybridAttentionMambaModelConfig: attention block size = 16 x ceil(state page / (16 x one
// token's attention page)); the layers grouped in groups of the 16 full-attention layers, so a
// sequence's state fills 48 / 16 = 3 blocks.
TEST(Qwen35, TheBlockSizeRisesUntilABlockHoldsALayersState) {
  const Catalog& c = Catalog::builtin();
  const ModelSpec m = c.model("Qwen/Qwen3.5-27B");
  struct Case {
    int tp, kv_heads_per_gpu, block_size;
  };
  for (const Case& k : {Case{1, 4, 784}, Case{2, 2, 784}, Case{8, 1, 400}}) {
    SCOPED_TRACE(k.tp);
    const double page = 2.0 * k.kv_heads_per_gpu * kHeadDim * 2;
    const double state = m.linear_state_bytes_per_layer(k.tp);
    EXPECT_EQ(k.block_size, 16 * static_cast<int>(std::ceil(state / (16 * page))));
    const HybridKvLayout layout = hybrid_kv_layout(m, k.tp);
    EXPECT_EQ(layout.min_block_size, k.block_size);
    EXPECT_EQ(layout.state_blocks_per_sequence, 3);
    PoolConfig pool = pool_of("Qwen/Qwen3.5-27B", k.tp);
    const auto notes = apply_hybrid_engine_rules(pool, c, false);
    EXPECT_EQ(pool.engine.block_size, k.block_size);
    EXPECT_FALSE(pool.engine.enable_prefix_caching);
    EXPECT_EQ(notes.size(), 2u);
    EXPECT_EQ(kv_capacity(pool, c).state_blocks_per_sequence, 3);
  }
  // a larger block the user asked for stays; a dense model is left as it is
  PoolConfig big = pool_of("Qwen/Qwen3.5-27B", 1);
  big.engine.block_size = 1024;
  big.engine.enable_prefix_caching = false;
  EXPECT_TRUE(apply_hybrid_engine_rules(big, c, false).empty());
  EXPECT_EQ(big.engine.block_size, 1024);
  PoolConfig dense = pool_of("llama-3.1-8b", 1);
  EXPECT_TRUE(apply_hybrid_engine_rules(dense, c, true).empty());
  EXPECT_EQ(dense.engine.block_size, 16);
  EXPECT_EQ(kv_capacity(dense, c).state_blocks_per_sequence, 0);
}

std::string scenario(const std::string& trace, const std::string& engine) {
  return fmt::format(R"(
name: qwen35
workload: {{source: mooncake_jsonl, path: {}}}
pools:
  - {{replicas: 1, model: Qwen/Qwen3.5-27B, gpu: h100_sxm, engine: {}}}
)",
                     trace, engine);
}

TEST(Qwen35, AScenarioAskingForPrefixCachingIsRefused) {
  testing::TempDir dir;
  const std::string trace = dir.write("t.jsonl", R"({"timestamp": 0, "input_length": 100, "output_length": 5})"
                                                 "\n");
  auto r = testing::run_servesim("validate " + dir.write("a.yaml", scenario(trace, "{enable_prefix_caching: true}")));
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("pools.0.engine.enable_prefix_caching"));
  EXPECT_THAT(r.out, HasSubstr("leave enable_prefix_caching unset, or set it false"));
  // asked for by --set into an empty engine section
  r = testing::run_servesim("validate " + dir.write("b.yaml", scenario(trace, "{}")) +
                            " --set pools.0.engine.enable_prefix_caching=true");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("leave enable_prefix_caching unset, or set it false"));
}

// 12 requests at once, each of 200 prompt + 50 output tokens: one 784-token block of KV and 3 of
// state. With 20 blocks (no watermark to speak of: 1% of 20 is 0), 5 run at a time.
TEST(Qwen35, EachRunningSequenceHoldsItsStatesBlocks) {
  testing::TempDir dir;
  std::string rows;
  for (int i = 0; i < 12; ++i) rows += R"({"timestamp": 0, "input_length": 200, "output_length": 50})" "\n";
  const std::string trace = dir.write("t.jsonl", rows);
  auto r = testing::run_servesim("run " + dir.write("a.yaml", scenario(trace, "{num_gpu_blocks: 20}")) + " -o " +
                                 dir.file("a.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("block_size raised from 16 to 784 tokens"));
  EXPECT_THAT(r.out, HasSubstr("12 completed, 0 unfinished"));
  testing::H5File f(dir.file("a.h5"));
  const auto queue = testing::read_double_column(f.id, "/requests", "queue_s");
  ASSERT_EQ(queue.size(), 12u);
  EXPECT_EQ(testing::most_in_service_from_time_zero(f.id), 5u);
  EXPECT_EQ(std::count(queue.begin(), queue.end(), 0.0), 5);
  // a dense model's sequences, one 784-token block each, all fit in 20
  auto dense = testing::run_servesim("run " + dir.write("b.yaml", scenario(trace, "{num_gpu_blocks: 20, block_size: 784}")) +
                                     " --set pools.0.model=qwen3-32b -o " + dir.file("b.h5"));
  ASSERT_EQ(dense.exit_code, 0) << dense.out;
  testing::H5File g(dir.file("b.h5"));
  const auto dense_queue = testing::read_double_column(g.id, "/requests", "queue_s");
  EXPECT_EQ(std::count(dense_queue.begin(), dense_queue.end(), 0.0), 12);
}

// Qwen3.5's MTP layer is one full-attention decoder layer: as a speculative draft it adds that
// layer's KV (one layer of 4 heads of 256, K and V in bf16) to each token's, not a linear one's
// state (the one-layer draft had inherited the model's 48 linear layers: -47 layers of KV).
TEST(Qwen35, ItsMtpDraftIsOneFullAttentionLayer) {
  PoolConfig pool = pool_of("Qwen/Qwen3.5-27B", 1);
  pool.speculative.method = "mtp";
  pool.speculative.num_speculative_tokens = 2;
  const std::optional<ModelSpec> draft = draft_model_spec(pool, Catalog::builtin());
  ASSERT_TRUE(draft);
  EXPECT_EQ(draft->layers, 1);
  EXPECT_EQ(draft->linear_layers, 0);
  EXPECT_DOUBLE_EQ(draft->kv_bytes_per_token(), 2 * kKvHeads * kHeadDim * 2);
  apply_hybrid_engine_rules(pool, Catalog::builtin(), false);
  const KvCapacity with = kv_capacity(pool, Catalog::builtin());
  pool.speculative = {};
  const KvCapacity without = kv_capacity(pool, Catalog::builtin());
  EXPECT_GT(with.blocks, 0);
  EXPECT_LT(with.blocks, without.blocks);  // its weights and its KV per token
}

// A decode step's linear-attention layers read and write each sequence's state once: at 64
// sequences and TP 1, 48 layers x max(FLOPs at the attention rate, 64 x 2 x 3,207,168 bytes at the
// memory rate) plus two kernel latencies each, on top of the 16 full-attention layers' KV read.
TEST(Qwen35, TheRooflineReadsAndWritesEachSequencesState) {
  const ModelSpec m = Catalog::builtin().model("Qwen/Qwen3.5-27B");
  const GpuSpec& gpu = Catalog::builtin().gpu("h100_sxm");
  const RooflineEfficiency& eff = roofline_efficiency("default", "");
  const RooflineTiming t(m, gpu, 1, eff);
  BatchShape decode;
  decode.decode_seqs = 64;
  decode.decode_context_tokens = 64 * 1024;
  const double bandwidth = gpu.hbm_gbps * 1e9 * eff.memory_efficiency;
  const double kv = 64 * 1024 * m.kv_bytes_per_token() / bandwidth + 16 * eff.attention_latency_us * 1e-6;
  const double state = std::max(64 * 48 * 128 * 128 * 6.0 / (gpu.bf16_tflops * 1e12 * eff.attention_efficiency),
                                64 * 2 * 3207168.0 / bandwidth) +
                       2 * eff.attention_latency_us * 1e-6;
  EXPECT_NEAR(t.breakdown(decode).attention_s, kv + kLinearLayers * state, 1e-12);
  // the linear layers' projections: 48 of them, their input 2 x 2048 + 2 x 6144 + 2 x 48 wide
  bool found = false;
  for (const GemmOp& op : iteration_gemms(m, 1, 8, 0))
    if (op.name == std::string_view("linear_attention_in_proj")) {
      found = true;
      EXPECT_EQ(op.n, 2 * 2048 + 2 * 6144 + 2 * 48);
      EXPECT_EQ(op.count, kLinearLayers);
    } else if (op.name == std::string_view("qkv_proj")) {
      EXPECT_EQ(op.n, kHeads * kHeadDim * 2 + 2 * kKvHeads * kHeadDim);
      EXPECT_EQ(op.count, kLayers - kLinearLayers);
    }
  EXPECT_TRUE(found);
}

// The measured GDN rows price the linear layers: a decode step of 64 sequences is 48 x (the
// convolution update + the recurrent step at batch 64), a prefill of one 4,096-token prompt 48 x
// (the causal convolution + the chunked rule at 1 x 4,096), as vLLM 0.24.0 measured them on H100.
TEST(Qwen35, TheKernelModelReadsTheMeasuredGatedDeltaNetRows) {
  const ModelSpec m = Catalog::builtin().model("Qwen/Qwen3.5-27B");
  const std::string database = testing::data_file("aiconfigurator/systems");
  auto tables = KernelTables::shared(database + "/data/h100_sxm", "vllm", "", KernelTables::Parts::for_model(m));
  const KernelTiming timing(m, 1, KernelTimingConfig{}, tables, SystemMemory::load(database + "/h100_sxm.yaml"));
  auto rows = TableReader::open(tables->sources.at("linear_attention").file);
  const size_t op = rows->column("kernel_source"), b = rows->column("batch_size"), len = rows->column("seq_len"),
               h = rows->column("d_model"), v = rows->column("num_v_heads"), latency = rows->column("latency");
  double decode = 0, prefill = 0;
  while (rows->next()) {
    if (rows->number(h) != kHidden || rows->number(v) != kValueHeads) continue;
    const std::string_view kernel = rows->field(op);
    if ((kernel == "causal_conv1d_update" || kernel == "fused_recurrent_gated_delta_rule_packed_decode") &&
        rows->number(b) == 64)
      decode += rows->number(latency);
    if ((kernel == "causal_conv1d_fn" || kernel == "chunk_gated_delta_rule_flashinfer") && rows->number(b) == 1 &&
        rows->number(len) == 4096)
      prefill += rows->number(latency);
  }
  ASSERT_GT(decode, 0);
  ASSERT_GT(prefill, 0);
  BatchShape step;
  step.decode_seqs = 64;
  step.decode_context_tokens = 64 * 1024;
  const double attention = timing.breakdown(step).generation_attention_ms;
  // the full-attention layers' part, from a model without linear layers of the same attention shape
  ModelSpec dense = m;
  dense.linear_layers = 0;
  dense.linear_key_heads = dense.linear_value_heads = 0;
  dense.layers = 16;
  const KernelTiming full(dense, 1, KernelTimingConfig{}, tables, SystemMemory::load(database + "/h100_sxm.yaml"));
  EXPECT_NEAR(attention - full.breakdown(step).generation_attention_ms, kLinearLayers * decode, 1e-9);
  BatchShape prompt;
  prompt.prefill_seqs = 1;
  prompt.prefill_tokens = 4096;
  prompt.prefill_attention_pairs = 4096.0 * 4097 / 2;
  EXPECT_NEAR(timing.breakdown(prompt).context_attention_ms - full.breakdown(prompt).context_attention_ms,
              kLinearLayers * prefill, 1e-9);
  // TensorRT-LLM measured the kernels at TP 1's heads only
  auto trt = KernelTables::shared(database + "/data/h100_sxm", "trtllm", "", KernelTables::Parts::for_model(m));
  KernelTimingConfig trt_config;
  trt_config.backend = "trtllm";
  try {
    KernelTiming(m, 2, trt_config, trt, SystemMemory::load(database + "/h100_sxm.yaml"));
    ADD_FAILURE() << "no TensorRT-LLM rows at 8 key / 24 value heads";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("no linear-attention (Gated DeltaNet) kernels for 8 key / 24 value heads per GPU"));
    EXPECT_THAT(e.what(), HasSubstr("16/48"));
  }
}

}  // namespace
}  // namespace servesim
