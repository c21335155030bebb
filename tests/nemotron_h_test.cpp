// Nemotron-H (Nemotron-3 Nano): a hybrid whose layers are each one thing, a Mamba2 mixer, an
// attention mixer or an MoE FFN, named by hybrid_override_pattern; its FFNs squared-ReLU (up and
// down, no gate). The config reads as its shapes and parameter count (hand sums), its KV cache
// as vLLM V1 lays out a hybrid (the Mamba2 state has Gated DeltaNet's shape), the kernel model
// refuses what it has no tables for, and a run holds each sequence's state blocks end to end.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "core/error.h"
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

const std::string kNano = "nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16";
// its config.json: 52 layers, 23 M (Mamba2), 6 * (attention), 23 E (MoE)
constexpr double kMamba = 23, kAttention = 6, kMoe = 23, kHidden = 2688, kHeads = 32, kKvHeads = 2, kHeadDim = 128,
                 kVocab = 131072, kGroups = 8, kStateSize = 128, kMambaHeads = 64, kMambaHeadDim = 64,
                 kConvKernel = 4, kExperts = 128, kTopK = 6, kExpertFfn = 1856, kSharedFfn = 3712;

// An iteration's GEMMs over `tokens` tokens on a tp-way worker, by name.
std::map<std::string, GemmOp> gemms_by_name(const ModelSpec& m, int tp, double tokens) {
  std::map<std::string, GemmOp> by_name;
  for (const GemmOp& op : iteration_gemms(m, tp, tokens, 0)) by_name.emplace(op.name, op);
  return by_name;
}

// A checkpoint read from the repository's copy of its config.json (aiconfigurator's model_configs,
// "org/name" filed as "org--name_config.json").
ModelSpec model_of_config(const std::string& id) {
  std::string file = id;
  file.replace(file.find('/'), 1, "--");
  return model_from_hf_config(testing::data_file("aiconfigurator/model_configs/" + file + "_config.json"), id);
}

// A roofline decode step of `seqs` sequences of 1,024 tokens on tp H100s (default efficiencies),
// part by part; under attention DP (`ranks` > 1) a rank's, every rank as loaded.
RooflineTiming::Breakdown roofline_decode(const ModelSpec& m, int tp, int seqs, int ranks = 1) {
  BatchShape step;
  step.decode_seqs = seqs;
  step.decode_context_tokens = seqs * 1024LL;
  if (ranks > 1) {
    step.moe_group_ranks = ranks;
    step.moe_group_tokens = ranks * seqs;
  }
  return RooflineTiming(m, Catalog::builtin().gpu("h100_sxm"), tp, roofline_efficiency("default", "")).breakdown(step);
}

TEST(NemotronH, TheConfigReadsAsItsShapesAndParameters) {
  const ModelSpec m = model_of_config(kNano);
  // the mixers are servesim's layers; the attention ones have no FFN after them
  EXPECT_EQ(m.layers, kMamba + kAttention);
  EXPECT_EQ(m.linear_layers, kMamba);
  EXPECT_EQ(m.full_attention_layers(), kAttention);
  EXPECT_EQ(m.ffn_free_layers, kAttention);
  EXPECT_EQ(m.ffn_layers(), kMoe);
  EXPECT_EQ(m.moe_layers(), kMoe);
  EXPECT_EQ(m.linear_mixer, "mamba2");
  EXPECT_FALSE(m.gated_ffn);
  EXPECT_EQ(m.linear_key_heads, kGroups);
  EXPECT_EQ(m.linear_key_head_dim, kStateSize);
  EXPECT_EQ(m.linear_value_heads, kMambaHeads);
  EXPECT_EQ(m.linear_value_head_dim, kMambaHeadDim);
  EXPECT_EQ(m.linear_state_dtype_bytes, 4);  // mamba_ssm_cache_dtype float32
  EXPECT_EQ(m.experts, kExperts);
  EXPECT_EQ(m.top_k, kTopK);
  EXPECT_EQ(m.shared_experts, 2);  // one shared expert 3,712 wide: two 1,856-wide experts' worth
  // by hand: a Mamba2 layer's input projection (z and x of 64 x 64, B and C of 8 x 128, dt per
  // head), its convolution over x, B and C, its output projection; an attention layer's q, k, v,
  // o; an MoE layer's router, 128 routed and the shared experts of up and down projections only;
  // untied embeddings and LM head
  const double inner = kMambaHeads * kMambaHeadDim, groups_width = kGroups * kStateSize;
  const double mamba = kHidden * (2 * inner + 2 * groups_width + kMambaHeads) + (inner + 2 * groups_width) * kConvKernel +
                       inner * kHidden;
  const double attention = 2 * kHidden * kHeads * kHeadDim + 2 * kHidden * kKvHeads * kHeadDim;
  const double expert = 2 * kHidden * kExpertFfn, shared = 2 * kHidden * kSharedFfn, router = kHidden * kExperts;
  const double rest = 2 * kVocab * kHidden + kMamba * mamba + kAttention * attention;
  EXPECT_NEAR(m.params_b * 1e9, rest + kMoe * (kExperts * expert + shared + router), 1);
  EXPECT_NEAR(m.active_params_b * 1e9, rest + kMoe * (kTopK * expert + shared + router), 1);
  EXPECT_NEAR(m.params_b, 31.6, 0.05);
  EXPECT_NEAR(m.active_params_b, 3.6, 0.05);  // "A3B": 3.2B without the embedding table
  // the routed experts' weights: 23 layers x 128 experts x up and down
  EXPECT_DOUBLE_EQ(m.routed_expert_params(), kMoe * kExperts * expert);
  // KV: the 6 attention layers' keys and values of 2 heads of 128, bf16
  EXPECT_DOUBLE_EQ(m.kv_bytes_per_token(), kAttention * 2 * kKvHeads * kHeadDim * 2);
  // one sequence's state in one layer at TP 1 (vLLM's mamba2_state_shape): the convolution's last
  // 3 inputs of x, B and C in bf16, and 64 heads of 64 x 128 in fp32
  EXPECT_DOUBLE_EQ(m.linear_state_bytes_per_layer(1),
                   (inner + 2 * groups_width) * 3 * 2 + kMambaHeads * kMambaHeadDim * kStateSize * 4);
  EXPECT_DOUBLE_EQ(m.linear_state_bytes_per_layer(1), 2134016);
  // the checkpoint is a catalog model by its id
  EXPECT_EQ(Catalog::builtin().model(kNano).linear_layers, kMamba);
}

// The FFN projections have no gate: the "gate_up" GEMMs are the up projections alone; the
// Mamba2 input projection has one dt per head where Gated DeltaNet has b and a; the all-reduces
// follow each mixer and each FFN (29 + 23, not 2 x 29).
TEST(NemotronH, ItsGemmsHaveNoGateAndItsMixersTheirOwnProjections) {
  const ModelSpec m = Catalog::builtin().model(kNano);
  const std::map<std::string, GemmOp> by_name = gemms_by_name(m, 1, 8);
  ASSERT_TRUE(by_name.count("expert_gate_up") && by_name.count("shared_gate_up") && by_name.count("router"));
  EXPECT_EQ(by_name.at("expert_gate_up").n, kExpertFfn);
  EXPECT_EQ(by_name.at("shared_gate_up").n, kSharedFfn);
  EXPECT_EQ(by_name.at("router").count, kMoe);
  EXPECT_EQ(by_name.count("gate_up_proj"), 0u);  // no dense FFN layers
  EXPECT_EQ(by_name.at("linear_attention_in_proj").n, 2 * 4096 + 2 * 1024 + 64);
  EXPECT_EQ(by_name.at("linear_attention_in_proj").count, kMamba);
  EXPECT_EQ(by_name.at("qkv_proj").count, kAttention);
  const auto two = roofline_decode(m, 2, 8);
  ModelSpec every_layer_an_ffn = m;
  every_layer_an_ffn.ffn_free_layers = 0;
  const auto doubled = roofline_decode(every_layer_an_ffn, 2, 8);
  EXPECT_NEAR(two.allreduce_s / doubled.allreduce_s, (kMamba + kAttention + kMoe) / (2 * (kMamba + kAttention)), 1e-12);
}

// vLLM lays out Nemotron-H's KV cache as Qwen3.5's: the attention block grows until its page
// holds a layer's state, 16 x ceil(2,134,016 / (16 x 1,024)) = 2,096 tokens at TP 1 (one token's
// K and V of 2 heads of 128 in bf16 is 1,024 bytes), and a sequence holds ceil(23 / 6) = 4 state
// blocks. The kernel model has no Mamba2 tables: it says so.
TEST(NemotronH, ItsCacheIsLaidOutAsVllmsHybridsAndTheKernelModelRefusesIt) {
  const Catalog& c = Catalog::builtin();
  const ModelSpec m = c.model(kNano);
  for (const auto& [tp, block] : {std::pair{1, 2096}, std::pair{2, 2096}, std::pair{8, 528}}) {
    SCOPED_TRACE(tp);
    const double page = 2.0 * std::max(1.0, kKvHeads / tp) * kHeadDim * 2;
    EXPECT_EQ(block, 16 * static_cast<int>(std::ceil(m.linear_state_bytes_per_layer(tp) / (16 * page))));
    EXPECT_EQ(hybrid_kv_layout(m, tp).min_block_size, block);
    EXPECT_EQ(hybrid_kv_layout(m, tp).state_blocks_per_sequence, 4);
  }
  const std::string database = testing::data_file("aiconfigurator/systems");
  auto tables = KernelTables::shared(database + "/data/h100_sxm", "trtllm", "", KernelTables::Parts::for_model(m));
  KernelTimingConfig config;
  config.backend = "trtllm";
  try {
    KernelTiming(m, 1, config, tables, SystemMemory::load(database + "/h100_sxm.yaml"));
    ADD_FAILURE() << "no Mamba2 tables are read";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("its mamba2 layers have no kernel tables servesim reads"));
    EXPECT_THAT(e.what(), HasSubstr("timing.model: roofline"));
  }
  // its MTP draft, were it asked for, is one attention layer with an FFN
  PoolConfig pool;
  pool.model = kNano;
  pool.gpu = "h100_sxm";
  pool.speculative.method = "mtp";
  const auto draft = draft_model_spec(pool, c);
  ASSERT_TRUE(draft);
  EXPECT_EQ(draft->layers, 1);
  EXPECT_EQ(draft->ffn_layers(), 1);
  EXPECT_EQ(draft->linear_layers, 0);
  EXPECT_FALSE(model_problem(*draft).has_value());
}

TEST(NemotronH, ABrokenPatternNamesWhatIsWrong) {
  const std::string config = R"({"architectures": ["NemotronHForCausalLM"], "num_hidden_layers": 4,
    "hybrid_override_pattern": "M*-M", "hidden_size": 64, "num_attention_heads": 2, "num_key_value_heads": 1,
    "head_dim": 32, "intermediate_size": 128, "vocab_size": 100, "n_groups": 2, "ssm_state_size": 16,
    "mamba_num_heads": 4, "mamba_head_dim": 16, "conv_kernel": 4, "mamba_ssm_cache_dtype": "float32",
    "mlp_hidden_act": "relu2"})";
  // three mixers (M, *, M) and one dense squared-ReLU MLP
  const ModelSpec dense = model_from_hf_config_text(config, "x.json", "x/y");
  EXPECT_EQ(dense.layers, 3);
  EXPECT_EQ(dense.ffn_free_layers, 2);
  EXPECT_EQ(dense.experts, 0);
  EXPECT_NEAR(dense.params_b * 1e9,
              2 * 100 * 64 + 2 * (64 * (2 * 64 + 2 * 32 + 4) + (64 + 2 * 32) * 4 + 64 * 64) +
                  (2 * 64 * 2 * 32 + 2 * 64 * 1 * 32) + 2 * 64 * 128,
              1e-6);
  auto error_of = [&](const std::string& from, const std::string& to) {
    std::string text = config;
    const size_t at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    text.replace(at, from.size(), to);
    try {
      model_from_hf_config_text(text, "x.json", "x/y");
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_THAT(error_of("\"M*-M\"", "\"M*-\""), HasSubstr("x.json: hybrid_override_pattern names 3 layers, num_hidden_layers is 4"));
  EXPECT_THAT(error_of("\"M*-M\"", "\"M*XM\""), HasSubstr("hybrid_override_pattern holds 'X'"));
  // the newer form: the kinds by name, the count from the list
  EXPECT_EQ(model_from_hf_config_text(
                [&] {
                  std::string t = config;
                  t.replace(t.find("\"num_hidden_layers\": 4,"), 23, "");
                  t.replace(t.find("\"hybrid_override_pattern\": \"M*-M\""), 33,
                            "\"layers_block_type\": [\"mamba\", \"attention\", \"mlp\", \"mamba\"]");
                  return t;
                }(),
                "x.json", "x/y")
                .params_b,
            dense.params_b);
  EXPECT_THAT(error_of("\"hybrid_override_pattern\": \"M*-M\"", "\"layers_block_type\": [\"mamba\", \"ssm\"]"),
              HasSubstr("x.json: layers_block_type holds 'ssm'"));
  EXPECT_THAT(error_of("\"hybrid_override_pattern\": \"M*-M\",", ""),
              HasSubstr("neither hybrid_override_pattern nor layers_block_type"));
  EXPECT_THAT(error_of("\"M*-M\"", "\"MMMM\""), HasSubstr("some of each"));
  EXPECT_THAT(error_of("\"M*-M\"", "\"M---\""), HasSubstr("some of each"));
  EXPECT_THAT(error_of("\"M*-M\"", "\"M*--\""), HasSubstr("no error"));  // as many FFNs as mixers
  EXPECT_THAT(error_of("\"hybrid_override_pattern\": \"M*-M\"", "\"hybrid_override_pattern\": \"M*---\""),
              HasSubstr("names 5 layers"));
  std::string more_ffns = config;  // five layers, three of them FFNs beside two mixers
  more_ffns.replace(more_ffns.find("\"num_hidden_layers\": 4"), 22, "\"num_hidden_layers\": 5");
  more_ffns.replace(more_ffns.find("\"M*-M\""), 6, "\"M*---\"");
  try {
    model_from_hf_config_text(more_ffns, "x.json", "x/y");
    ADD_FAILURE() << "three FFNs beside two mixers";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("no more FFN layers than mixers"));
  }
  // an expert width of 0 beside a shared expert's is an error, not a division by zero
  std::string zero_width = config;
  zero_width.replace(zero_width.find("\"M*-M\""), 6, "\"M*EM\"");
  zero_width.replace(zero_width.find("\"mlp_hidden_act\""), 16,
                     "\"n_routed_experts\": 4, \"num_experts_per_tok\": 2, \"moe_intermediate_size\": 0, "
                     "\"n_shared_experts\": 1, \"moe_shared_expert_intermediate_size\": 64, \"mlp_hidden_act\"");
  try {
    model_from_hf_config_text(zero_width, "x.json", "x/y");
    ADD_FAILURE() << "an expert 0 wide";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("moe_intermediate_size must be positive"));
  }
  EXPECT_THAT(error_of("\"M*-M\"", "\"M*EM\""), HasSubstr("1 MoE (E) layers, and n_routed_experts is not given"));
  EXPECT_THAT(error_of("\"relu2\"", "\"silu\""), HasSubstr("mlp_hidden_act 'silu'"));
  EXPECT_THAT(error_of("\"float32\"", "\"int8\""), HasSubstr("mamba_ssm_cache_dtype 'int8'"));
  EXPECT_THAT(error_of("\"n_groups\": 2", "\"n_groups\": 3"), HasSubstr("3 linear-attention key heads do not divide"));
  EXPECT_THAT(error_of("\"conv_kernel\": 4,", ""), HasSubstr("no integer 'conv_kernel'"));
  EXPECT_THAT(error_of("\"mlp_hidden_act\"", "\"moe_latent_size\": 32, \"mlp_hidden_act\""),
              HasSubstr("moe_latent_size 32 needs MoE (E) layers"));
}

// Nemotron-3 Super: 88 layers, 40 M, 8 *, 40 E; its 512 routed experts (top 22, 2,688 wide) run in
// a 1,024-wide latent space, each MoE layer projecting a token down to it and the experts' sum back
// up; the shared expert (5,376 wide) at the hidden size. Its name's 120B and A12B check the reading:
// with experts at the hidden size it would hold 459B.
TEST(NemotronH, SupersExpertsRunInALatentSpace) {
  const std::string id = "nvidia/NVIDIA-Nemotron-3-Super-120B-A12B-FP8";
  const ModelSpec m = model_of_config(id);
  constexpr double M = 40, A = 8, E = 40, h = 4096, latent = 1024, experts = 512, top_k = 22, ffn = 2688,
                   shared_ffn = 5376, inner = 128 * 64, groups_width = 8 * 128;
  EXPECT_EQ(m.moe_latent_size, latent);
  EXPECT_EQ(m.expert_width(), latent);
  EXPECT_EQ(m.layers, M + A);
  EXPECT_EQ(m.moe_layers(), E);
  EXPECT_EQ(m.shared_experts, 2);
  EXPECT_EQ(m.precision, "fp8");  // from its hf_quant_config.json (quant_algo FP8): config.json says bfloat16
  EXPECT_EQ(m.dtype_bytes, 1);
  const double mamba = h * (2 * inner + 2 * groups_width + 128) + (inner + 2 * groups_width) * 4 + inner * h;
  const double attention = 2 * h * 32 * 128 + 2 * h * 2 * 128;
  const double moe_fixed = 2 * h * shared_ffn + h * experts + 2 * h * latent;  // shared, router, projections
  const double rest = 2 * 131072 * h + M * mamba + A * attention;
  EXPECT_NEAR(m.params_b * 1e9, rest + E * (experts * 2 * latent * ffn + moe_fixed), 1);
  EXPECT_NEAR(m.active_params_b * 1e9, rest + E * (top_k * 2 * latent * ffn + moe_fixed), 1);
  EXPECT_NEAR(m.params_b, 120, 1);
  EXPECT_NEAR(m.active_params_b, 12.5, 0.5);
  EXPECT_DOUBLE_EQ(m.routed_expert_params(), E * experts * 2 * latent * ffn);
  // the GEMMs: the projections into the latent space and back (whole on each GPU), the experts
  // between latent widths (sharded over TP), the shared expert at the hidden size
  const std::map<std::string, GemmOp> by_name = gemms_by_name(m, 2, 64);
  ASSERT_TRUE(by_name.count("moe_latent_down") && by_name.count("moe_latent_up"));
  EXPECT_EQ(by_name.at("moe_latent_down").n, latent);
  EXPECT_EQ(by_name.at("moe_latent_down").k, h);
  EXPECT_EQ(by_name.at("moe_latent_up").n, h);
  EXPECT_EQ(by_name.at("moe_latent_up").k, latent);
  EXPECT_EQ(by_name.at("moe_latent_up").count, E);
  EXPECT_EQ(by_name.at("expert_gate_up").k, latent);
  EXPECT_EQ(by_name.at("expert_gate_up").n, ffn / 2);
  EXPECT_EQ(by_name.at("expert_down").n, latent);
  EXPECT_EQ(by_name.at("shared_gate_up").k, h);
  // attention DP's all-to-all moves the latent, a quarter of the hidden state's bytes
  ModelSpec full = m;
  full.moe_latent_size = 0;
  const double latent_s = roofline_decode(m, 1, 64, 4).alltoall_s;
  const double full_s = roofline_decode(full, 1, 64, 4).alltoall_s;
  EXPECT_GT(latent_s, 0);
  EXPECT_LT(latent_s, full_s);
  EXPECT_GT(latent_s, full_s / 4);  // the same latency, a quarter of the bytes
  // the checkpoint is a catalog model by its id
  EXPECT_EQ(Catalog::builtin().model(id).moe_latent_size, latent);
  EXPECT_EQ(Catalog::builtin().model(id).precision, "fp8");
}

// Nemotron-3 Ultra: Super's design 8,192 wide (512 experts top 22, 5,120 wide, in a 2,048-wide
// latent), its 108 layers (48 mamba, 12 attention, 48 moe) listed by name in layers_block_type,
// with no num_hidden_layers; its name says 550B and A55B.
TEST(NemotronH, UltraListsItsLayersByName) {
  const std::string id = "nvidia/NVIDIA-Nemotron-3-Ultra-550B-A55B-BF16";
  const ModelSpec m = model_of_config(id);
  constexpr double M = 48, A = 12, E = 48, h = 8192, latent = 2048, experts = 512, top_k = 22, ffn = 5120,
                   shared_ffn = 10240, inner = 256 * 64, groups_width = 8 * 128;
  EXPECT_EQ(m.layers, M + A);
  EXPECT_EQ(m.linear_layers, M);
  EXPECT_EQ(m.moe_layers(), E);
  EXPECT_EQ(m.moe_latent_size, latent);
  const double mamba = h * (2 * inner + 2 * groups_width + 256) + (inner + 2 * groups_width) * 4 + inner * h;
  const double attention = 2 * h * 64 * 128 + 2 * h * 2 * 128;
  const double moe_fixed = 2 * h * shared_ffn + h * experts + 2 * h * latent;
  const double rest = 2 * 131072 * h + M * mamba + A * attention;
  EXPECT_NEAR(m.params_b * 1e9, rest + E * (experts * 2 * latent * ffn + moe_fixed), 1);
  EXPECT_NEAR(m.active_params_b * 1e9, rest + E * (top_k * 2 * latent * ffn + moe_fixed), 1);
  EXPECT_NEAR(m.params_b, 550, 1);
  EXPECT_NEAR(m.active_params_b, 55.5, 1);
  EXPECT_EQ(Catalog::builtin().model(id).layers, M + A);
}

// Nemotron-H 56B (dense): 118 layers, 54 M and 10 * mixers, 54 of them followed by a dense
// squared-ReLU MLP (-). Its config holds Python's Infinity (time_step_limit), as transformers
// writes it.
TEST(NemotronH, TheDense56BReadsWithItsInfinity) {
  const std::string id = "nvidia/Nemotron-H-56B-Base-8K";
  const ModelSpec m = model_of_config(id);
  constexpr double M = 54, A = 10, mlp = 54, h = 8192, inner = 256 * 64, groups_width = 8 * 256;
  EXPECT_EQ(m.layers, M + A);
  EXPECT_EQ(m.linear_layers, M);
  EXPECT_EQ(m.ffn_free_layers, M + A - mlp);
  EXPECT_EQ(m.experts, 0);
  EXPECT_EQ(m.head_dim, 128);  // none given: hidden / heads
  EXPECT_EQ(m.precision, "bf16");
  const double mamba = h * (2 * inner + 2 * groups_width + 256) + (inner + 2 * groups_width) * 4 + inner * h;
  const double attention = 2 * h * 64 * 128 + 2 * h * 8 * 128;
  EXPECT_NEAR(m.params_b * 1e9, 2 * 131072 * h + M * mamba + A * attention + mlp * 2 * h * 32768, 1);
  EXPECT_NEAR(m.params_b, 56, 0.5);
  EXPECT_EQ(Catalog::builtin().model(id).linear_layers, M);
}

// Python's json writes Infinity, -Infinity and NaN, which JSON lacks: they read as null, outside
// strings only, so a shape given as one is missing, not a parse error of the whole file.
TEST(NemotronH, PythonsNonFiniteConstantsReadAsNull) {
  const std::string llama = R"({"architectures": ["LlamaForCausalLM"], "num_hidden_layers": 2, "hidden_size": 64,
    "num_attention_heads": 2, "num_key_value_heads": 1, "intermediate_size": 128, "vocab_size": 100,
    "limits": [0.0, Infinity, -Infinity, NaN], "note": "Infinity, NaN and \"NaN\" in a string")";
  EXPECT_EQ(model_from_hf_config_text(llama + "}", "x.json", "x/y").layers, 2);
  std::string nan_layers = llama + "}";
  nan_layers.replace(nan_layers.find(R"("num_hidden_layers": 2)"), 22, R"("num_hidden_layers": NaN)");
  try {
    model_from_hf_config_text(nan_layers, "x.json", "x/y");
    ADD_FAILURE() << "NaN layers";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("x.json: no integer 'num_hidden_layers'"));
  }
  EXPECT_THROW(model_from_hf_config_text(llama + ", Infinite}", "x.json", "x/y"), InputError);  // still JSON
}

// A ModelOpt checkpoint's hf_quant_config.json names its format: FP8 and NVFP4 with the LM head
// left out are servesim's fp8 and nvfp4; anything else is an error naming the file and the key.
TEST(NemotronH, AModelOptQuantizationFileNamesTheFormat) {
  const ModelSpec base = Catalog::builtin().model("llama-3.1-8b");
  auto applied = [&](const std::string& text, ModelSpec m) {
    apply_modelopt_quantization(text, "q.json", m);
    return m;
  };
  const ModelSpec fp8 = applied(R"({"quantization": {"quant_algo": "FP8", "kv_cache_quant_algo": "FP8"}})", base);
  EXPECT_EQ(fp8.precision, "fp8");
  EXPECT_EQ(fp8.dtype_bytes, 1);
  EXPECT_EQ(fp8.kv_dtype_bytes, base.kv_dtype_bytes);  // the KV format is the pool's choice
  EXPECT_EQ(applied(R"({"quantization": {"quant_algo": "NVFP4", "exclude_modules": ["lm_head"]}})", base).precision,
            "nvfp4");
  auto error_of = [&](const std::string& text, ModelSpec m) {
    try {
      applied(text, m);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_THAT(error_of(R"({"quantization": {"quant_algo": "W4A8_AWQ"}})", base),
              HasSubstr("q.json: quant_algo 'W4A8_AWQ' is not modelled"));
  EXPECT_THAT(error_of(R"({"quantization": {"quant_algo": "NVFP4", "exclude_modules": ["lm_head",
              "model.layers.0.self_attn.o_proj"]}})", base),
              HasSubstr("exclude_modules keeps 'model.layers.0.self_attn.o_proj' unquantised"));
  // (Python's constants become null outside strings only)
  EXPECT_THAT(error_of(R"({"quantization": {"quant_algo": "FP8", "exclude_modules": ["Infinity", NaN]}})", base),
              HasSubstr("exclude_modules keeps 'Infinity' unquantised"));
  EXPECT_THAT(error_of(R"({"quantization": {"quant_algo": "FP8", "exclude_modules": [NaN]}})", base),
              HasSubstr("exclude_modules keeps '(not a name)' unquantised"));
  EXPECT_THAT(error_of(R"({"producer": {"name": "modelopt"}})", base), HasSubstr("q.json: no quantization.quant_algo"));
  EXPECT_THAT(error_of("not json", base), HasSubstr("q.json: no quantization.quant_algo"));
  ModelSpec block = base;
  block.precision = "fp8_block";
  EXPECT_THAT(error_of(R"({"quantization": {"quant_algo": "NVFP4"}})", block),
              HasSubstr("quant_algo NVFP4 disagrees with config.json's fp8_block format"));
}

// 12 requests at once, each of 200 prompt + 50 output tokens: one 2,096-token block of KV and 4
// of state each. With 20 blocks (a 1% watermark of 20 is 0), 4 run at a time.
TEST(NemotronH, EachRunningSequenceHoldsItsStatesBlocks) {
  testing::TempDir dir;
  std::string rows;
  for (int i = 0; i < 12; ++i) rows += R"({"timestamp": 0, "input_length": 200, "output_length": 50})" "\n";
  const std::string trace = dir.write("t.jsonl", rows);
  const std::string scenario = fmt::format(R"(
name: nemotron
workload: {{source: mooncake_jsonl, path: {}}}
pools:
  - {{replicas: 1, model: {}, gpu: h100_sxm, engine: {{num_gpu_blocks: 20}}}}
)",
                                           trace, kNano);
  auto r = testing::run_servesim("run " + dir.write("a.yaml", scenario) + " -o " + dir.file("a.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("block_size raised from 16 to 2096 tokens"));
  EXPECT_THAT(r.out, HasSubstr("12 completed, 0 unfinished"));
  testing::H5File f(dir.file("a.h5"));
  const auto queue = testing::read_double_column(f.id, "/requests", "queue_s");
  ASSERT_EQ(queue.size(), 12u);
  EXPECT_EQ(testing::most_in_service_from_time_zero(f.id), 4u);
  EXPECT_EQ(std::count(queue.begin(), queue.end(), 0.0), 4);
}

}  // namespace
}  // namespace servesim
