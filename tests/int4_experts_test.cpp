// int4 routed experts (W4A16, 4-bit symmetric integers with a bf16 scale per 32), as
// moonshotai/Kimi-K2.5 ships them in compressed-tensors' format: read from its config.json,
// weights counted at 4.5 bits, priced from the MoE tables' int4_wo rows; other compressed-tensors
// schemes and ignore lists are errors naming the file and what differs.
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
#include "test_util.h"

namespace servesim {
namespace {

using ::testing::HasSubstr;

const std::string kDatabase = testing::data_file("aiconfigurator/systems");

TEST(Int4Experts, KimiK25ReadsAsInt4RoutedExpertsAndTheRestBf16) {
  const Catalog& c = Catalog::builtin();
  const ModelSpec &k25 = c.model("moonshotai/Kimi-K2.5"), &k2 = c.model("moonshotai/Kimi-K2-Instruct");
  EXPECT_EQ(k25.precision, "bf16");
  EXPECT_EQ(k25.expert_precision, "int4");
  EXPECT_EQ(std::tie(k25.layers, k25.hidden_size, k25.kv_lora_rank, k25.experts, k25.top_k, k25.dense_layers,
                     k25.moe_intermediate_size),
            std::tie(k2.layers, k2.hidden_size, k2.kv_lora_rank, k2.experts, k2.top_k, k2.dense_layers,
                     k2.moe_intermediate_size));
  EXPECT_DOUBLE_EQ(k25.params_b, k2.params_b);
  EXPECT_DOUBLE_EQ(k25.expert_bytes_per_param(), 4.5 / 8);
  EXPECT_NEAR(k25.weight_bytes(), (k25.params_b * 1e9 - k25.routed_expert_params()) * 2 + k25.routed_expert_params() * 4.5 / 8,
              1e-6 * k25.weight_bytes());
}

// On H100 (no FP4 units) the experts' MoE layers come from vLLM's measured int4_wo rows at Kimi's
// shape (the table measured it int4 and fp8_block only): a decode step costs its 60 MoE layers'
// int4 rows and its bf16 attention and dense layers besides.
TEST(Int4Experts, TheExpertsArePricedFromTheMoeTablesInt4Rows) {
  PoolConfig pool;
  pool.model = "moonshotai/Kimi-K2.5";
  pool.gpu = "h100_sxm";
  pool.tp = 8;
  pool.expert_parallel = 8;
  pool.timing.kernel.backend = "vllm";
  pool.timing.kernel.backend_version = "0.24.0";
  const ModelSpec m = Catalog::builtin().deployed_model(pool);
  const auto tables =
      KernelTables::shared(kDatabase + "/data/h100_sxm", "vllm", "0.24.0", KernelTables::Parts::for_model(m));
  const SystemMemory memory = SystemMemory::load(kDatabase + "/h100_sxm.yaml");
  auto row = [&](const char* dtype) {
    const KernelTables::MoeKey key{dtype, 7168, 2048, 8, 384, 1, 8, pool.timing.kernel.moe_distribution};
    return tables->moe.at(key).at({64}, Extrapolation::kError, "moe").value;
  };
  BatchShape decode;
  decode.decode_seqs = 64;
  decode.decode_context_tokens = 64 * 2048;
  const double gemm_ms = KernelTiming(m, 8, pool.timing.kernel, tables, memory, 8).breakdown(decode).gemm_ms;
  EXPECT_NE(row("int4_wo"), row("fp8_block"));
  EXPECT_GT(gemm_ms, 60 * row("int4_wo"));
  EXPECT_LT(gemm_ms, 60 * row("int4_wo") * 2);
  pool.timing.kernel.moe = "gemm";
  try {
    KernelTiming(m, 8, pool.timing.kernel, tables, memory, 8);
    ADD_FAILURE() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("its int4 experts are priced only from the MoE tables (int4_wo)"));
  }
}

TEST(Int4Experts, OtherSchemesAndIgnoreListsAreErrorsNamingWhatDiffers) {
  const ModelSpec base = Catalog::builtin().model("moonshotai/Kimi-K2-Instruct");
  const CompressedTensorsScheme w4a16{4, "int", "group", 32, true, false};
  const std::vector<std::string> kimi = {"lm_head", "re:.*self_attn.*", "re:.*shared_experts.*",
                                         "re:.*mlp\\.(gate|up|gate_up|down)_proj.*"};
  auto error_of = [&](const CompressedTensorsScheme& s, const std::vector<std::string>& ignore) {
    ModelSpec m = base;
    try {
      apply_compressed_tensors(s, ignore, "k.json", m);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error: ") + m.expert_precision;
  };
  EXPECT_EQ(error_of(w4a16, kimi), "no error: int4");
  // the same list as module names of the multimodal wrapper (exact names only where given)
  EXPECT_THAT(error_of(w4a16, {"language_model.lm_head", "re:.*self_attn.*", "re:.*shared_experts.*",
                               "re:.*layers\\.0\\.mlp\\..*"}),
              HasSubstr("no error"));
  auto scheme = w4a16;
  scheme.group_size = 128;
  EXPECT_THAT(error_of(scheme, kimi), HasSubstr("k.json: quantization_config (compressed-tensors) stores weights as "
                                                "4-bit int values by group of 128; servesim models 4-bit"));
  scheme = w4a16;
  scheme.activations = true;
  EXPECT_THAT(error_of(scheme, kimi), HasSubstr("by group of 32, activations quantised"));
  scheme = w4a16;
  scheme.symmetric = false;
  EXPECT_THAT(error_of(scheme, kimi), HasSubstr(", asymmetric"));
  EXPECT_THAT(error_of(w4a16, {"lm_head", "re:.*self_attn.*", "re:.*mlp\\.(gate|up|gate_up|down)_proj.*"}),
              HasSubstr("quantises all of the shared experts; servesim models int4 checkpoints whose routed experts "
                        "alone are int4"));
  EXPECT_THAT(error_of(w4a16, {"lm_head", "re:.*self_attn\\.o_proj", "re:.*shared_experts.*",
                               "re:.*mlp\\.(gate|up|gate_up|down)_proj.*"}),
              HasSubstr("quantises part of attention"));
  EXPECT_THAT(error_of(w4a16, {"lm_head", "re:.*self_attn.*", "re:.*mlp.*"}),
              HasSubstr("quantises none of the routed experts"));
  EXPECT_THAT(error_of(w4a16, {"re:(unclosed"}), HasSubstr("k.json: quantization_config.ignore has 're:(unclosed', not a "
                                                           "regular expression"));
  ModelSpec dense = Catalog::builtin().model("llama-3.1-8b");
  EXPECT_THROW(apply_compressed_tensors(w4a16, kimi, "k.json", dense), InputError);
}

}  // namespace
}  // namespace servesim
