// NVFP4 (NVIDIA's FP4: 4-bit values, an FP8 scale per 16) on Blackwell: weight bytes, the
// roofline at the FP4 peak, the kernel model from B200's measured nvfp4 GEMM tables, the
// refusal on GPUs without FP4 units, and NVIDIA's ModelOpt exports read as published.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

#include "core/error.h"
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

using ::testing::HasSubstr;

const std::string kDatabase = testing::data_file("aiconfigurator/systems");

ModelSpec llama70b_nvfp4() {
  PoolConfig pool;
  pool.model = "llama-3.1-70b";
  pool.gpu = "b200";
  pool.precision = "nvfp4";
  return Catalog::builtin().deployed_model(pool);
}

// B200's TensorRT-LLM 1.3.0rc20 tables for a model, and a 64-sequence decode step's GEMM time at
// TP 8 (2,048-token contexts) priced from them.
auto b200_trtllm_tables(const ModelSpec& m) {
  return KernelTables::shared(kDatabase + "/data/b200_sxm", "trtllm", "1.3.0rc20", KernelTables::Parts::for_model(m));
}
template <class Tables>
double b200_trtllm_decode_gemm_ms(const ModelSpec& m, const Tables& tables) {
  KernelTimingConfig config;
  config.backend = "trtllm";
  config.backend_version = "1.3.0rc20";
  BatchShape decode;
  decode.decode_seqs = 64;
  decode.decode_context_tokens = 64 * 2048;
  return KernelTiming(m, 8, config, tables, SystemMemory::load(kDatabase + "/b200_sxm.yaml"), 8).breakdown(decode).gemm_ms;
}

TEST(Nvfp4, WeightsAreFourAndAHalfBitsButTheVocabularyStaysBf16) {
  const ModelSpec m = llama70b_nvfp4();
  const double vocab = 2.0 * m.vocab_size * m.hidden_size;  // embeddings and LM head
  EXPECT_DOUBLE_EQ(ModelSpec::bytes_per_weight("nvfp4"), 4.5 / 8);
  EXPECT_NEAR(m.weight_bytes(), vocab * 2 + (m.params_b * 1e9 - vocab) * 4.5 / 8, 1e-6 * m.weight_bytes());
  // Llama-3.1-70B: 4.2 GB of bf16 vocabulary and 68.5B parameters at 4.5 bits, 42.7 GB, against
  // 141 GB in bf16 and 70.6 GB in fp8
  EXPECT_NEAR(m.weight_bytes() / 1e9, 42.7, 0.1);
  // the LM head runs in bf16, every other GEMM in nvfp4
  for (const GemmOp& op : iteration_gemms(m, 4, 8, 8))
    EXPECT_EQ(gemm_precision(m, op), op.name == std::string_view("lm_head") ? "bf16" : "nvfp4") << op.name;
}

TEST(Nvfp4, TheRooflineRunsAtTheFp4PeakOnFourAndAHalfBitWeights) {
  const Catalog& c = Catalog::builtin();
  const GpuSpec& b200 = c.gpu("b200");
  ASSERT_EQ(b200.fp4_tflops, 9000);  // aiconfigurator's b200_sxm.yaml fp4_tc_flops: twice the FP8 peak
  const RooflineEfficiency& eff = roofline_efficiency("default", "");
  const RooflineKernels k{b200, eff};
  const double n = 8192, kk = 8192;
  // one token: memory-bound on the weights
  EXPECT_NEAR(k.gemm_s(1, n, kk, "nvfp4"),
              (n * kk * 4.5 / 8 + (kk + n) * 2) / (b200.hbm_gbps * 1e9 * eff.memory_efficiency) +
                  eff.kernel_latency_us * 1e-6,
              1e-15);
  // 16k tokens: compute-bound at the FP4 peak, half the FP8 GEMM's time
  const double m = 16384;
  EXPECT_NEAR(k.gemm_s(m, n, kk, "nvfp4"),
              2 * m * n * kk / (9000e12 * eff.compute_efficiency) + eff.kernel_latency_us * 1e-6, 1e-15);
  EXPECT_LT(k.gemm_s(m, n, kk, "nvfp4"), 0.55 * k.gemm_s(m, n, kk, "fp8"));
}

// B200's vLLM 0.24.0 tables measured FlashInfer's NVFP4 GEMMs: a decode step's GEMMs are their
// rows, the LM head the bf16 table's.
TEST(Nvfp4, KernelTimingReadsB200sNvfp4GemmTable) {
  const ModelSpec m = llama70b_nvfp4();
  PoolConfig pool;
  pool.timing.kernel.backend = "vllm";
  const auto tables = KernelTables::shared(kDatabase + "/data/b200_sxm", "vllm", "", KernelTables::Parts::for_model(m));
  ASSERT_TRUE(tables->gemm.count("nvfp4"));
  KernelTiming t(m, 4, pool.timing.kernel, tables, SystemMemory::load(kDatabase + "/b200_sxm.yaml"));
  BatchShape decode;
  decode.decode_seqs = 8;
  decode.decode_context_tokens = 8 * 1024;
  double expected = 0;
  for (const GemmOp& op : iteration_gemms(m, 4, 8, 0))
    expected += op.count * tables->gemm.at("nvfp4").at({op.m, op.n, op.k}, Extrapolation::kError, "nvfp4").value;
  expected += tables->gemm.at("bfloat16")
                  .at({8, static_cast<double>(m.vocab_size) / 4, static_cast<double>(m.hidden_size)},
                      Extrapolation::kError, "bf16")
                  .value;
  EXPECT_NEAR(t.breakdown(decode).gemm_ms, expected, 1e-9 * expected);
  EXPECT_EQ(t.extrapolations(), 0u);
  // H100's tables measured no nvfp4 GEMMs
  try {
    KernelTiming(m, 4, pool.timing.kernel, KernelTables::shared(kDatabase + "/data/h100_sxm", "vllm"),
                 SystemMemory::load(kDatabase + "/h100_sxm.yaml"));
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("no nvfp4 GEMM table for precision nvfp4"));
  }
}

// An NVFP4 MoE checkpoint (experts FP4, attention bf16 or fp8): its experts come from the MoE
// table's nvfp4 rows, never from a GEMM table of another format.
TEST(Nvfp4, Nvfp4ExpertsArePricedFromTheMoeTablesNvfp4Rows) {
  PoolConfig pool;
  pool.model = "deepseek-v3";
  pool.gpu = "b200";
  pool.tp = 8;
  pool.expert_parallel = 8;
  pool.timing.kernel.backend = "trtllm";
  pool.timing.kernel.backend_version = "1.3.0rc20";  // (1.3.0rc23's MoE table measured DeepSeek-V4's shapes only)
  ModelSpec m = Catalog::builtin().deployed_model(pool);
  m.expert_precision = "nvfp4";
  EXPECT_DOUBLE_EQ(m.expert_bytes_per_param(), 4.5 / 8);
  EXPECT_LT(m.weight_bytes(), Catalog::builtin().deployed_model(pool).weight_bytes() * 0.6);
  const auto tables =
      KernelTables::shared(kDatabase + "/data/b200_sxm", "trtllm", "1.3.0rc20", KernelTables::Parts::for_model(m));
  const KernelTables::MoeKey key{"nvfp4", 7168, 2048, 8, 256, 1, 8, pool.timing.kernel.moe_distribution};
  ASSERT_TRUE(tables->moe.count(key));
  KernelTiming t(m, 8, pool.timing.kernel, tables, SystemMemory::load(kDatabase + "/b200_sxm.yaml"), 8);
  BatchShape decode;
  decode.decode_seqs = 64;
  decode.decode_context_tokens = 64 * 2048;
  EXPECT_GT(t.breakdown(decode).gemm_ms, 58 * tables->moe.at(key).at({64}, Extrapolation::kError, "moe").value);
  pool.timing.kernel.moe = "gemm";
  try {
    KernelTiming(m, 8, pool.timing.kernel, tables, SystemMemory::load(kDatabase + "/b200_sxm.yaml"), 8);
    ADD_FAILURE() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("its nvfp4 experts are priced only from the MoE tables (nvfp4)"));
  }
}

TEST(Nvfp4, AGpuWithoutFp4UnitsIsRefusedNamingTheKey) {
  const std::string yaml = "name: x\npools:\n  - {model: llama-3.1-70b, gpu: h100_sxm, tp: 4, precision: nvfp4}\n";
  try {
    load_scenario_string(yaml, "scn.yaml");
    ADD_FAILURE() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("pools.0.precision"));
    EXPECT_THAT(e.what(), HasSubstr("FP4 tensor cores, which h100_sxm does not have"));
    EXPECT_THAT(e.what(), HasSubstr("b200"));
  }
  EXPECT_NO_THROW(load_scenario_string(
      "name: x\npools:\n  - {model: llama-3.1-70b, gpu: b200, tp: 2, precision: nvfp4}\n", "scn.yaml"));
}

// `servesim timing` makes the same checks of the pool its options describe: it printed a
// non-finite time error for nvfp4 on a GPU without FP4 units, and an expert split that does not
// divide tp, before.
TEST(Nvfp4, TheTimingCommandChecksItsPoolAsAScenarioDoes) {
  const std::pair<const char*, const char*> refused[] = {
      {"--model llama-3.1-70b --gpu h100_sxm --tp 4 --precision nvfp4",
       "servesim timing: key 'pool.precision': nvfp4 GEMMs run on FP4 tensor cores, which h100_sxm does not have"},
      {"--model qwen3-30b-a3b --tp 2 --expert-parallel 3",
       "key 'pool.expert_parallel': 3 does not divide tp (2) and the 128 experts"},
      // a tables folder that is not there is named once (its error was wrapped in itself)
      {"--timing kernel --tables /nonexistent/servesim-tables",
       "servesim timing: key 'pool.timing.kernel.tables': folder '/nonexistent/servesim-tables' does not exist. Fix"},
  };
  for (const auto& [args, error] : refused) {
    SCOPED_TRACE(args);
    const auto r = testing::run_servesim(std::string("timing ") + args);
    EXPECT_EQ(r.exit_code, 2) << r.out;
    EXPECT_THAT(r.out, HasSubstr(error));
    EXPECT_THAT(r.out, ::testing::Not(HasSubstr("non-finite")));
  }
  EXPECT_EQ(testing::run_servesim("timing --model llama-3.1-70b --gpu b200 --tp 2 --precision nvfp4").exit_code, 0);
}

// NVIDIA's ModelOpt NVFP4 exports keep more than the LM head in bf16: MiniMax-M2.5's every layer's
// attention (and router gates), GLM-5.1's attention, shared experts and first three (dense) layers,
// Qwen3.5's attention, linear attention and shared experts. Read from the repository's copies, each
// is its routed experts in NVFP4 and the rest bf16; Qwen3-235B's, which keeps only the router gates,
// is NVFP4 throughout. Before, each was refused ("exclude_modules keeps ... unquantised", or
// MiniMax's and GLM-5.1's config.json: "quant_method 'modelopt' is not modelled").
TEST(Nvfp4, ModelOptExportsThatKeepAllButTheRoutedExpertsInBf16AreNvfp4Experts) {
  const Catalog& c = Catalog::builtin();
  for (const char* id : {"nvidia/MiniMax-M2.5-NVFP4", "nvidia/MiniMax-M2.7-NVFP4", "nvidia/GLM-5.1-NVFP4",
                         "nvidia/Qwen3.5-122B-A10B-NVFP4", "nvidia/Qwen3.5-397B-A17B-NVFP4",
                         "nvidia/Kimi-K2.6-NVFP4", "nvidia/Kimi-K2.7-Code-NVFP4"}) {
    SCOPED_TRACE(id);
    const ModelSpec& m = c.model(id);
    EXPECT_EQ(m.precision, "bf16");
    EXPECT_EQ(m.dtype_bytes, 2);
    EXPECT_EQ(m.expert_precision, "nvfp4");
    // the experts at 4.5 bits, everything else at 16
    EXPECT_NEAR(m.weight_bytes(), (m.params_b * 1e9 - m.routed_expert_params()) * 2 + m.routed_expert_params() * 4.5 / 8,
                1e-6 * m.weight_bytes());
  }
  // the same shapes as the checkpoints they were made from
  const ModelSpec &fp4 = c.model("nvidia/MiniMax-M2.5-NVFP4"), &fp8 = c.model("MiniMaxAI/MiniMax-M2.5");
  EXPECT_EQ(fp8.precision, "fp8_block");
  EXPECT_EQ(std::tie(fp4.layers, fp4.hidden_size, fp4.experts, fp4.top_k, fp4.moe_intermediate_size),
            std::tie(fp8.layers, fp8.hidden_size, fp8.experts, fp8.top_k, fp8.moe_intermediate_size));
  EXPECT_EQ(c.model("nvidia/GLM-5.1-NVFP4").dense_layers, 3);
  // Kimi K2.6's wrapper (KimiK25ForConditionalGeneration) holds DeepSeek-V3's language model, K2's shapes
  const ModelSpec &k26 = c.model("nvidia/Kimi-K2.6-NVFP4"), &k2 = c.model("moonshotai/Kimi-K2-Instruct");
  EXPECT_EQ(std::tie(k26.layers, k26.hidden_size, k26.kv_lora_rank, k26.q_lora_rank, k26.experts, k26.shared_experts,
                     k26.dense_layers, k26.moe_intermediate_size, k26.vocab_size),
            std::tie(k2.layers, k2.hidden_size, k2.kv_lora_rank, k2.q_lora_rank, k2.experts, k2.shared_experts,
                     k2.dense_layers, k2.moe_intermediate_size, k2.vocab_size));
  EXPECT_DOUBLE_EQ(k26.params_b, k2.params_b);
  const ModelSpec& qwen = c.model("nvidia/Qwen3-235B-A22B-NVFP4");
  EXPECT_EQ(qwen.precision, "nvfp4");
  EXPECT_EQ(qwen.expert_precision, "");
  // an FP8 export with only the LM head left out is fp8 throughout
  EXPECT_EQ(c.model("nvidia/Llama-3.1-70B-Instruct-FP8").precision, "fp8");
}

// What a ModelOpt export may leave unquantised, on a MoE model with three dense layers and shared
// experts (DeepSeek-V3's shapes: 61 layers): all of attention, dense layers and shared experts (the
// experts alone are NVFP4), every layer's MLA input projections alone, or none of them; anything
// between, a MoE layer whole, FP8 experts alone or a module servesim cannot place, is an error
// naming the file and the module.
TEST(Nvfp4, AModelOptExportIsQuantisedWholeOrKeepsOneOfTheSetsServesimPrices) {
  const ModelSpec base = Catalog::builtin().model("deepseek-v3");
  ASSERT_EQ(base.layers, 61);
  ASSERT_EQ(base.dense_layers, 3);
  ModelSpec bf16 = base;
  bf16.precision = "bf16";
  bf16.dtype_bytes = 2;
  auto applied = [&](const char* algo, const std::vector<std::string>& excluded) {
    ModelSpec m = bf16;
    apply_modelopt_exclusions(algo, excluded, "q.json", m);
    return m;
  };
  auto error_of = [&](const char* algo, const std::vector<std::string>& excluded) {
    try {
      applied(algo, excluded);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  // not the language model's forward pass, or priced as it is: quantised whole
  const std::vector<std::string> aside{"lm_head", "model.embed_tokens", "model.layers.61*", "mtp.layers.0*",
                                       "model.visual*", "model.layers.7.mlp.gate", "model.layers.8.block_sparse_moe.gate"};
  EXPECT_EQ(applied("NVFP4", aside).precision, "nvfp4");
  EXPECT_EQ(applied("NVFP4", aside).expert_precision, "");
  EXPECT_EQ(applied("FP8", aside).precision, "fp8");
  // every layer's attention, the dense layers whole and every MoE layer's shared experts
  std::vector<std::string> experts_alone{"lm_head", "model.layers.0*", "model.layers.1.*", "model.layers.2*"};
  for (int l = 3; l < 61; ++l) {
    experts_alone.push_back(fmt::format("model.layers.{}.self_attn*", l));
    experts_alone.push_back(fmt::format("model.layers.{}.mlp.shared_experts*", l));
  }
  const ModelSpec m = applied("NVFP4", experts_alone);
  EXPECT_EQ(m.precision, "bf16");
  EXPECT_EQ(m.expert_precision, "nvfp4");
  // the same by globs over every layer
  EXPECT_EQ(applied("NVFP4", {"*.self_attn*", "*.mlp.shared_experts.*", "model.layers.0*", "model.layers.1*",
                              "model.layers.2*"})
                .expert_precision,
            "nvfp4");
  // one dense layer quantised, one layer's shared experts quantised, or attention alone kept
  std::vector<std::string> one_dense_short(experts_alone);
  one_dense_short.erase(one_dense_short.begin() + 3);  // model.layers.2*: its attention quantised too
  EXPECT_THAT(error_of("NVFP4", one_dense_short),
              HasSubstr("q.json: exclude_modules keeps 'model.layers.0*' unquantised; it keeps 60 of 61 layers' "
                        "attention, 2 of 3 dense layers and 58 of 58 MoE layers' shared experts unquantised"));
  std::vector<std::string> one_shared_short(experts_alone);
  one_shared_short.pop_back();  // model.layers.60.mlp.shared_experts*
  EXPECT_THAT(error_of("NVFP4", one_shared_short), HasSubstr("3 of 3 dense layers and 57 of 58 MoE layers'"));
  // every layer's attention block alone (NVIDIA's GLM-5 and Kimi K2.5 exports), by a glob or
  // module by module: NVFP4 with bf16 attention; a layer's o_proj quantised leaves its MLA inputs
  // alone there, one of two formats; FP8 has no such format
  const ModelSpec attention_alone = applied("NVFP4", {"model.layers.0.self_attn.q_a_proj", "*.self_attn*"});
  EXPECT_EQ(attention_alone.precision, "nvfp4");
  EXPECT_EQ(attention_alone.attention_precision, "bf16");
  EXPECT_EQ(attention_alone.expert_precision, "");
  std::vector<std::string> blocks{"lm_head"};
  for (int l = 0; l < 61; ++l)
    for (const char* p : {"q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj"})
      blocks.push_back(fmt::format("model.layers.{}.self_attn.{}", l, p));
  EXPECT_EQ(applied("NVFP4", blocks).attention_precision, "bf16");
  std::vector<std::string> one_o_short(blocks);
  one_o_short.pop_back();  // layer 60's o_proj quantised
  EXPECT_THAT(error_of("NVFP4", one_o_short),
              HasSubstr("it keeps MLA's input projections of 1 of 61 layers, and 60 layers' attention"));
  EXPECT_THAT(error_of("FP8", {"*.self_attn*"}),
              HasSubstr("it keeps 61 of 61 layers' attention, 0 of 3 dense layers and 0 of 58"));
  EXPECT_THAT(error_of("NVFP4", {"model.layers.5.self_attn.o_proj"}),
              HasSubstr("keeps 1 of 61 layers' attention (1 of them in part)"));
  // FP8 has no experts-alone format here
  EXPECT_THAT(error_of("FP8", experts_alone), HasSubstr("servesim models FP8 checkpoints as quantised whole"));
  EXPECT_THAT(error_of("NVFP4", {"model.layers.5*"}),
              HasSubstr("keeps 'model.layers.5*' unquantised; layer 5 is a MoE layer (the first 3 are dense)"));
  EXPECT_THAT(error_of("NVFP4", {"model.layers.4.mixer.in_proj"}),
              HasSubstr("keeps 'model.layers.4.mixer.in_proj' unquantised; servesim's nvfp4 format leaves out the LM "
                        "head, embeddings and router gates only"));
  EXPECT_THAT(error_of("NVFP4", {"transformer.h.0.attn"}), HasSubstr("keeps 'transformer.h.0.attn' unquantised"));
  // MLA's input projections alone, in every layer (DeepSeek-V3.1's export), and what is not that
  std::vector<std::string> mla_inputs{"lm_head", "model.layers.61*"};
  for (int l = 0; l < 61; ++l)
    for (const char* p : {"q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj"})
      mla_inputs.push_back(fmt::format("model.layers.{}.self_attn.{}", l, p));
  const ModelSpec mla = applied("NVFP4", mla_inputs);
  EXPECT_EQ(mla.precision, "nvfp4");
  EXPECT_EQ(mla.mla_input_precision, "bf16");
  std::vector<std::string> one_layer_short(mla_inputs);
  one_layer_short.pop_back();  // layer 60's kv_b_proj quantised
  EXPECT_THAT(error_of("NVFP4", one_layer_short),
              HasSubstr("it keeps MLA's input projections of 60 of 61 layers, and 1 layers' attention"));
  std::vector<std::string> and_shared(mla_inputs);
  and_shared.push_back("model.layers.10.mlp.shared_experts*");
  EXPECT_THAT(error_of("NVFP4", and_shared), HasSubstr("0 dense layers and 1 MoE layers' shared experts besides"));
  EXPECT_THAT(error_of("FP8", mla_inputs), HasSubstr("servesim models NVFP4 checkpoints that keep every layer's MLA"));
  // a dense model: attention kept in bf16 is not a format
  ModelSpec dense = Catalog::builtin().model("llama-3.1-8b");
  EXPECT_THROW(apply_modelopt_exclusions("NVFP4", {"*.self_attn*"}, "q.json", dense), InputError);
}

// NVIDIA's NVFP4 DeepSeek-V3.1 and V3.2 keep MLA's input projections (q_a, q_b, kv_a, kv_b; V3.2's
// indexer too) in bf16 and quantise o_proj and every FFN: NVFP4 with bf16 MLA inputs, their bytes
// counted by hand (61 layers x (7,168 x 1,536 + 1,536 x 128 x 192 + 7,168 x 576 + 512 x 128 x 256)
// parameters at 2 bytes instead of 4.5 bits), and their GEMMs priced from the bf16 table: a decode
// step differs from the same model's with NVFP4 projections by exactly 61 layers' lookups.
TEST(Nvfp4, DeepSeekExportsKeepMlasInputProjectionsInBf16) {
  const Catalog& c = Catalog::builtin();
  const ModelSpec& v31 = c.model("nvidia/DeepSeek-V3.1-NVFP4");
  EXPECT_EQ(v31.precision, "nvfp4");
  EXPECT_EQ(v31.expert_precision, "");
  EXPECT_EQ(v31.mla_input_precision, "bf16");
  EXPECT_EQ(c.model("nvidia/DeepSeek-V3.2-NVFP4").mla_input_precision, "bf16");
  const double inputs = 61.0 * (7168.0 * 1536 + 1536.0 * 128 * 192 + 7168.0 * 576 + 512.0 * 128 * 256);
  EXPECT_DOUBLE_EQ(v31.mla_input_params(), inputs);
  ModelSpec whole = v31;
  whole.mla_input_precision = "";
  EXPECT_NEAR(v31.weight_bytes() - whole.weight_bytes(), inputs * (2 - 4.5 / 8), 1e-6 * inputs);

  const auto tables = b200_trtllm_tables(v31);
  const double with_bf16_inputs = b200_trtllm_decode_gemm_ms(v31, tables);
  const double all_nvfp4 = b200_trtllm_decode_gemm_ms(whole, tables);
  auto projections = [&](const char* dtype) {  // fused q_a + kv_a, then q_b over 16 heads a GPU
    const LogGrid& g = tables->gemm.at(dtype);
    return g.at({64, 1536 + 576, 7168}, Extrapolation::kError, "gemm").value +
           g.at({64, 16 * 192, 1536}, Extrapolation::kError, "gemm").value;
  };
  // (at 64 tokens the measured bf16 kernels are the faster: NVFP4 quantises its activations first)
  EXPECT_NE(projections("bfloat16"), projections("nvfp4"));
  EXPECT_NEAR(with_bf16_inputs - all_nvfp4, 61 * (projections("bfloat16") - projections("nvfp4")), 1e-9);
}

// NVIDIA's NVFP4 GLM-5 and Kimi K2.5 keep every layer's attention block (MLA's projections, o_proj,
// GLM-5's indexer) in bf16 and every FFN, dense, shared and routed, in NVFP4. Kimi K2.5's bytes by
// hand: DeepSeek-V3's 61 layers x (MLA's input projections at K2's 64 heads + o_proj's 64 heads x
// 128 values x 7,168) at 2 bytes instead of 4.5 bits; its kernel-timed decode step differs from
// the whole-NVFP4 model's by exactly 61 layers' projection and o_proj lookups in the two tables.
TEST(Nvfp4, GlmFiveAndKimiK25ExportsKeepEveryLayersAttentionInBf16) {
  const Catalog& c = Catalog::builtin();
  const ModelSpec &glm = c.model("nvidia/GLM-5-NVFP4"), &kimi = c.model("nvidia/Kimi-K2.5-NVFP4");
  for (const ModelSpec* m : {&glm, &kimi}) {
    SCOPED_TRACE(m->hf_id);
    EXPECT_EQ(m->precision, "nvfp4");
    EXPECT_EQ(m->attention_precision, "bf16");
    EXPECT_EQ(m->mla_input_precision, "");
    EXPECT_EQ(m->expert_precision, "");
  }
  const ModelSpec& k2 = c.model("moonshotai/Kimi-K2-Instruct");
  EXPECT_EQ(std::tie(kimi.layers, kimi.hidden_size, kimi.kv_lora_rank, kimi.q_lora_rank, kimi.experts, kimi.dense_layers),
            std::tie(k2.layers, k2.hidden_size, k2.kv_lora_rank, k2.q_lora_rank, k2.experts, k2.dense_layers));
  const double attention = 61.0 * (7168.0 * 1536 + 1536.0 * 64 * 192 + 7168.0 * 576 + 512.0 * 64 * 256 + 64.0 * 128 * 7168);
  EXPECT_DOUBLE_EQ(kimi.attention_params(), attention);
  ModelSpec whole = kimi;
  whole.attention_precision = "";
  EXPECT_NEAR(kimi.weight_bytes() - whole.weight_bytes(), attention * (2 - 4.5 / 8), 1e-6 * attention);

  const auto tables = b200_trtllm_tables(kimi);
  const double bf16_attention = b200_trtllm_decode_gemm_ms(kimi, tables);
  const double all_nvfp4 = b200_trtllm_decode_gemm_ms(whole, tables);
  auto projections = [&](const char* dtype) {  // fused q_a + kv_a, q_b over 8 heads a GPU, o_proj
    const LogGrid& g = tables->gemm.at(dtype);
    return g.at({64, 1536 + 576, 7168}, Extrapolation::kError, "gemm").value +
           g.at({64, 8 * 192, 1536}, Extrapolation::kError, "gemm").value +
           g.at({64, 7168, 8 * 128}, Extrapolation::kError, "gemm").value;
  };
  EXPECT_NE(projections("bfloat16"), projections("nvfp4"));
  EXPECT_NEAR(bf16_attention - all_nvfp4, 61 * (projections("bfloat16") - projections("nvfp4")), 1e-9);
}

// NVIDIA's mixed-precision Qwen3.6 exports (quant_algo MIXED_PRECISION, each module's format in
// quantized_layers): FP8 attention (full and linear), W4A16 NVFP4 FFNs, shared and routed experts
// and LM head. Their bytes by hand, each op's format, the roofline's w4a16 (bf16 FLOPs, 4.5-bit
// weights), the kernel model's refusal, and what the format does not cover.
TEST(Nvfp4, MixedPrecisionExportsKeepEachPartInItsFormat) {
  const Catalog& c = Catalog::builtin();
  const ModelSpec &dense = c.model("nvidia/Qwen3.6-27B-NVFP4"), &moe = c.model("nvidia/Qwen3.6-35B-A3B-NVFP4");
  EXPECT_EQ(std::tie(dense.precision, dense.ffn_precision, dense.expert_precision, dense.lm_head_precision),
            std::make_tuple("fp8", "nvfp4_w4a16", "", "nvfp4_w4a16"));
  EXPECT_EQ(std::tie(moe.precision, moe.ffn_precision, moe.expert_precision, moe.lm_head_precision),
            std::make_tuple("fp8", "nvfp4_w4a16", "nvfp4_w4a16", "nvfp4_w4a16"));
  for (const ModelSpec* m : {&dense, &moe}) {
    SCOPED_TRACE(m->hf_id);
    const double h = m->hidden_size, lm_head = static_cast<double>(m->vocab_size) * h;
    const double ffn = m->experts == 0
                           ? m->ffn_layers() * 3.0 * h * m->intermediate_size
                           : m->moe_layers() * static_cast<double>(m->shared_experts) * 3.0 * h * m->moe_intermediate_size;
    const double routed = m->routed_expert_params(), rest = m->params_b * 1e9 - ffn - lm_head - routed;
    EXPECT_DOUBLE_EQ(m->dense_and_shared_ffn_params(), ffn);
    EXPECT_NEAR(m->weight_bytes(), rest * 1 + (ffn + lm_head + routed) * 4.5 / 8, 1e-6 * m->weight_bytes());
    for (const GemmOp& op : iteration_gemms(*m, 1, 64, 64)) {
      const std::string_view name = op.name;
      const bool w4a16 = name == "gate_up_proj" || name == "down_proj" || name == "shared_gate_up" ||
                         name == "shared_down" || name == "lm_head" || op.group > 0;
      EXPECT_EQ(gemm_precision(*m, op), w4a16 ? "nvfp4_w4a16" : "fp8") << name;
    }
  }
  // w4a16: bf16 FLOPs on 4.5-bit weights (H100: no FP4 units needed)
  const RooflineEfficiency efficiency;
  const RooflineKernels k{c.gpu("h100_sxm"), efficiency};
  const double n = 8192, kk = 8192;
  EXPECT_DOUBLE_EQ(k.gemm_s(1, n, kk, "nvfp4_w4a16") - k.gemm_s(1, n, kk, "int4"), 0);  // the same bytes and FLOPs
  EXPECT_GT(k.gemm_s(4096, n, kk, "nvfp4_w4a16"), k.gemm_s(4096, n, kk, "fp8"));  // compute-bound: bf16's peak
  EXPECT_NO_THROW(load_scenario_string("name: x\npools:\n  - {model: nvidia/Qwen3.6-27B-NVFP4, gpu: h100_sxm}\n", "s.yaml"));
  const auto r = testing::run_servesim("timing --model nvidia/Qwen3.6-27B-NVFP4 --system h100_sxm --timing kernel");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("its FFNs or LM head are stored in a format of their own (nvfp4_w4a16, nvfp4_w4a16)"));

  // what is not that: a Mamba mixer (Nemotron-3.5), a layer's FFN left out, two formats, another algo
  ModelSpec qwen = c.model("Qwen/Qwen3-32B");
  qwen.precision = "bf16";
  std::vector<std::pair<std::string, std::string>> layers;
  for (int l = 0; l < qwen.layers; ++l) {
    layers.emplace_back(fmt::format("model.layers.{}.self_attn.qkv_proj", l), "FP8");
    layers.emplace_back(fmt::format("model.layers.{}.mlp.gate_up_proj", l), "W4A16_NVFP4");
  }
  auto error_of = [&](const std::vector<std::pair<std::string, std::string>>& q) {
    ModelSpec m = qwen;
    try {
      apply_modelopt_mixed_precision(q, "q.json", m);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return "no error: " + m.precision + " " + m.ffn_precision + " " + m.lm_head_precision;
  };
  EXPECT_EQ(error_of(layers), "no error: fp8 nvfp4_w4a16 bf16");
  auto mixer = layers;
  mixer.emplace_back("backbone.layers.0.mixer.in_proj", "FP8");
  EXPECT_THAT(error_of(mixer), HasSubstr("q.json: quantized_layers quantises 'backbone.layers.0.mixer.in_proj'; servesim "
                                         "places a mixed-precision checkpoint's attention, FFNs, experts and LM head "
                                         "only"));
  auto short_one = layers;
  short_one.pop_back();
  EXPECT_THAT(error_of(short_one), HasSubstr(fmt::format("leaves layer {}'s dense FFNs and shared experts unquantised "
                                                         "while 'model.layers.0.mlp.gate_up_proj' is nvfp4_w4a16",
                                                         qwen.layers - 1)));
  auto two = layers;
  two.back().second = "FP8";
  EXPECT_THAT(error_of(two), HasSubstr("it stores the dense FFNs and shared experts in two formats (nvfp4_w4a16 and fp8)"));
  auto other = layers;
  other.front().second = "W8A8_SQ";
  EXPECT_THAT(error_of(other), HasSubstr("its quant_algo 'W8A8_SQ' is not modelled"));
}

// config.json's own quantization_config (quant_method modelopt, its `ignore` list) reads as the
// hf_quant_config.json does; one without quant_algo is an error naming the key.
TEST(Nvfp4, AConfigJsonsModelOptQuantizationIsRead) {
  const std::string minimax = R"({"architectures": ["MixtralForCausalLM"], "num_hidden_layers": 2,
      "hidden_size": 1024, "num_attention_heads": 8, "num_key_value_heads": 8, "intermediate_size": 512,
      "vocab_size": 1000, "num_local_experts": 8, "num_experts_per_tok": 2,
      "quantization_config": {"quant_method": "modelopt", "quant_algo": "NVFP4", )";
  const ModelSpec m = model_from_hf_config_text(
      minimax + R"("ignore": ["lm_head", "model.layers.0.self_attn*", "model.layers.1.self_attn*"]}})", "c.json", "x/y");
  EXPECT_EQ(m.precision, "bf16");
  EXPECT_EQ(m.expert_precision, "nvfp4");
  EXPECT_EQ(model_from_hf_config_text(minimax + R"("ignore": ["lm_head"]}})", "c.json", "x/y").precision, "nvfp4");
  try {
    model_from_hf_config_text(R"({"architectures": ["MixtralForCausalLM"], "num_hidden_layers": 2,
      "hidden_size": 1024, "num_attention_heads": 8, "num_key_value_heads": 8, "intermediate_size": 512,
      "vocab_size": 1000, "num_local_experts": 8, "num_experts_per_tok": 2,
      "quantization_config": {"quant_method": "modelopt"}})",
                              "c.json", "x/y");
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("c.json: quantization_config (quant_method modelopt) has no quant_algo"));
  }
}

// A checkpoint id names the catalog entry that is of it (`Qwen/Qwen3-32B` is qwen3-32b), in a
// scenario and in `servesim timing`; not an entry's same_architecture ids, whose weights' format
// may differ (zai-org/GLM-5-FP8 is not glm-5's bf16).
TEST(Nvfp4, ACheckpointIdNamesItsCatalogEntry) {
  const Catalog& c = Catalog::builtin();
  EXPECT_EQ(&c.model("Qwen/Qwen3-32B"), &c.model("qwen3-32b"));
  EXPECT_EQ(&c.model("MiniMaxAI/MiniMax-M2.5"), &c.model("minimax-m2.5"));
  EXPECT_FALSE(c.has_model("zai-org/GLM-5-FP8"));
  EXPECT_THROW(c.model("zai-org/GLM-5-FP8"), ConfigError);
  // a scenario naming such an id is told which entry has its shapes
  try {
    load_scenario_string("name: x\npools:\n  - {model: zai-org/GLM-5-FP8, gpu: b200, tp: 8}\n", "s.yaml");
    ADD_FAILURE() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("unknown model 'zai-org/GLM-5-FP8': the catalog's glm-5 has its architecture "
                                    "(same_architecture)"));
    EXPECT_THAT(e.what(), HasSubstr("model: glm-5, with pools[].precision set to the checkpoint's format"));
  }
  EXPECT_NO_THROW(load_scenario_string("name: x\npools:\n  - {model: Qwen/Qwen3-32B, gpu: h100_sxm, tp: 2}\n", "s.yaml"));
  const auto r = testing::run_servesim(
      "timing --model nvidia/MiniMax-M2.5-NVFP4 --system b200_sxm --tp 4 --expert-parallel 4 --timing kernel");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("lookups outside the measured tables (extrapolated, counted once per shape): 0"));
}

}  // namespace
}  // namespace servesim
