// NVFP4 (NVIDIA's FP4: 4-bit values, an FP8 scale per 16) on Blackwell: weight bytes, the
// roofline at the FP4 peak, the kernel model from B200's measured nvfp4 GEMM tables, and the
// refusal on GPUs without FP4 units.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/error.h"
#include "models/catalog.h"
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

}  // namespace
}  // namespace servesim
