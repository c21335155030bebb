// Timing models: roofline sanity against physics, table interpolation, catalog capacity.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>
#include <string_view>

#include "models/catalog.h"
#include "models/timing/model_ops.h"
#include "models/timing/roofline.h"
#include "models/timing/table.h"
#include "scenario/scenario.h"
#include "tests/test_util.h"

namespace servesim {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

RooflineTiming roofline(const std::string& model, int tp, const std::string& gpu = "h100_sxm") {
  const Catalog& c = Catalog::builtin();
  return RooflineTiming(c.model(model), c.gpu(gpu), tp, roofline_efficiency("default"));
}

BatchShape decode(int batch, std::int64_t context) {
  BatchShape b;
  b.decode_seqs = batch;
  b.decode_context_tokens = context * batch;
  return b;
}

BatchShape prefill(std::int64_t tokens) {
  BatchShape b;
  b.prefill_seqs = 1;
  b.prefill_tokens = tokens;
  b.prefill_attention_pairs = static_cast<double>(tokens) * static_cast<double>(tokens + 1) / 2;
  return b;
}

TEST(Roofline, DecodeAtBatchOneIsWeightBandwidthBound) {
  const Catalog& c = Catalog::builtin();
  const double bound_s = c.model("llama-3.1-8b").weight_bytes() / (c.gpu("h100_sxm").hbm_gbps * 1e9);
  auto r = roofline("llama-3.1-8b", 1);
  auto d = r.breakdown(decode(1, 128));
  // The weight-streaming time is the roofline's physics: within 25% of weights / HBM bandwidth
  // (above it by the measured 0.8 bandwidth efficiency, less the embedding table no decode reads).
  EXPECT_NEAR(d.linear_s, bound_s, 0.25 * bound_s) << d.linear_s * 1e3 << " ms vs " << bound_s * 1e3 << " ms";
  EXPECT_GT(d.linear_s, bound_s);  // can never beat the bandwidth bound
  // The iteration adds attention over a tiny KV, the elementwise kernels of one token and the
  // fixed per-iteration framework overhead, an efficiency-file constant.
  const double t = ns_to_s(r.iteration_ns(decode(1, 128)));
  EXPECT_NEAR(t, d.linear_s + d.attention_s + d.elementwise_s + roofline_efficiency("default").overhead_ms * 1e-3, 1e-9);
  EXPECT_LT(d.elementwise_s, 0.01 * d.linear_s);  // one token's norms and activations are noise
}

TEST(Roofline, LongPrefillIsComputeBound) {
  auto r = roofline("llama-3.1-8b", 1);
  auto d = r.breakdown(prefill(8192));
  const Catalog& c = Catalog::builtin();
  const double weight_time = c.model("llama-3.1-8b").weight_bytes() / (c.gpu("h100_sxm").hbm_gbps * 1e9 * 0.8);
  EXPECT_GT(d.linear_s, 3 * weight_time);  // FLOPs, not bytes, set the time
  // and per-token cost grows with length (quadratic attention)
  EXPECT_GT(ns_to_s(r.iteration_ns(prefill(16384))) / 16384, ns_to_s(r.iteration_ns(prefill(2048))) / 2048);
}

TEST(Roofline, TensorParallelismSpeedsUpAndAddsAllReduce) {
  auto r1 = roofline("llama-3.1-70b", 2), r4 = roofline("llama-3.1-70b", 4);
  EXPECT_LT(r4.iteration_ns(decode(32, 1024)), r1.iteration_ns(decode(32, 1024)));
  EXPECT_GT(r4.breakdown(decode(32, 1024)).allreduce_s, 0);
  EXPECT_EQ(roofline("llama-3.1-8b", 1).breakdown(decode(32, 1024)).allreduce_s, 0);
}

TEST(Roofline, MoeReadsOnlyTouchedExperts) {
  auto r = roofline("mixtral-8x7b", 2);
  auto small = r.breakdown(decode(1, 512)), big = r.breakdown(decode(256, 512));
  // one token touches 2 of 8 experts: far fewer bytes than the whole model
  const Catalog& c = Catalog::builtin();
  const double all_s = c.model("mixtral-8x7b").weight_bytes() / (2 * c.gpu("h100_sxm").hbm_gbps * 1e9 * 0.8);
  EXPECT_LT(small.linear_s, 0.6 * all_s);
  EXPECT_GE(big.linear_s, 0.95 * all_s);
}

TEST(Roofline, ExpertParallelismKeepsTheBytesAndFusesTheExperts) {
  const Catalog& c = Catalog::builtin();
  const ModelSpec m = c.model("qwen3-235b-a22b-fp8");
  RooflineEfficiency eff = roofline_efficiency("default");
  eff.kernel_latency_us = 5;
  // a GPU of TP 4 holds a quarter of every expert (EP 1) or every one of a quarter of them (EP 4):
  // the same bytes; either way the experts of a layer run as one fused kernel (one latency)
  for (int ep : {1, 4}) {
    double fused = 0, separate = 0;
    const RooflineKernels k{c.gpu("h100_sxm"), eff};
    for (const GemmOp& op : iteration_gemms(m, 4, 128, 0, ep)) {
      if (op.group <= 0) continue;
      fused += op.count / op.group * k.gemm_s(op.m, op.group * op.n, op.k, m.precision);
      separate += op.count * k.gemm_s(op.m, op.n, op.k, m.precision);
    }
    EXPECT_LT(fused, separate) << ep;
  }
  auto d1 = RooflineTiming(m, c.gpu("h100_sxm"), 4, eff, 1).breakdown(decode(128, 1024));
  auto d4 = RooflineTiming(m, c.gpu("h100_sxm"), 4, eff, 4).breakdown(decode(128, 1024));
  EXPECT_NEAR(d4.linear_s, d1.linear_s, 0.05 * d1.linear_s);
  // and validation: only MoE models, only layouts that divide
  auto bad = [](const std::string& model, int tp, int ep) {
    return load_scenario_string(fmt::format("pools: [{{model: {}, tp: {}, expert_parallel: {}}}]", model, tp, ep), "t");
  };
  EXPECT_THROW(bad("llama-3.1-70b", 4, 2), ConfigError);
  EXPECT_THROW(bad("qwen3-235b-a22b-fp8", 4, 3), ConfigError);
  EXPECT_NO_THROW(bad("qwen3-235b-a22b-fp8", 4, 4));
}

TEST(Catalog, CapacityAndShortfall) {
  PoolConfig p;
  p.model = "llama-3.1-8b";
  KvCapacity cap = kv_capacity(p, Catalog::builtin());
  // 128 KiB of KV per token for Llama-3.1-8B (32 layers x 8 KV heads x 128 x 2 x 2 bytes)
  EXPECT_DOUBLE_EQ(Catalog::builtin().model("llama-3.1-8b").kv_bytes_per_token(), 131072.0);
  EXPECT_GT(cap.blocks, 20000);
  EXPECT_LT(cap.blocks, 40000);
  p.model = "llama-3.1-70b";
  try {
    kv_capacity(p, Catalog::builtin());
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("does not fit on 1 x h100_sxm"));
    EXPECT_THAT(e.what(), HasSubstr("shortfall"));
  }
  p.engine.num_gpu_blocks = 123;
  EXPECT_EQ(kv_capacity(p, Catalog::builtin()).blocks, 123);
  // DeepSeek-V3's MLA caches 576 values per token per layer, bf16 by default (kv_cache_dtype auto)
  EXPECT_DOUBLE_EQ(Catalog::builtin().model("deepseek-v3").kv_bytes_per_token(), 61.0 * 576 * 2);
  // fp8 weights halve the weight bytes; an fp8 KV cache halves the bytes per token
  PoolConfig q;
  q.model = "llama-3.1-70b";
  q.tp = 2;
  const ModelSpec bf16 = Catalog::builtin().deployed_model(q);
  q.precision = "fp8";
  q.kv_cache_dtype = "fp8";
  const ModelSpec fp8 = Catalog::builtin().deployed_model(q);
  EXPECT_EQ(fp8.precision, "fp8");
  EXPECT_DOUBLE_EQ(fp8.weight_bytes(), bf16.weight_bytes() / 2);
  EXPECT_DOUBLE_EQ(fp8.kv_bytes_per_token(), bf16.kv_bytes_per_token() / 2);
  PoolConfig r = q;
  r.precision = r.kv_cache_dtype = "bf16";
  // fp8 frees weight memory and packs twice the tokens per block: more than twice the blocks
  EXPECT_GT(kv_capacity(q, Catalog::builtin()).blocks, 2 * kv_capacity(r, Catalog::builtin()).blocks);
}

TEST(Catalog, ScenarioThatDoesNotFitIsAConfigError) {
  testing::TempDir d;
  auto path = d.write("big.yaml", "pools:\n  - model: llama-3.1-70b\n    tp: 1\n");
  auto r = testing::run_servesim("validate " + path);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.out, HasSubstr("big.yaml:3:9: key 'pools.0.tp'"));
  EXPECT_THAT(r.out, HasSubstr("raise tp"));
}

class TableTest : public ::testing::Test {
 protected:
  std::string write(const std::string& body) { return dir_.write("t.csv", "phase,batch,tokens,latency_ms\n" + body); }
  testing::TempDir dir_;
};

TEST_F(TableTest, ExactAtGridPointsAndBilinearBetween) {
  auto path = write(
      "prefill,1,100,10\nprefill,1,200,30\nprefill,2,100,14\nprefill,2,200,50\n"
      "decode,1,100,5\ndecode,1,200,6\ndecode,4,100,7\ndecode,4,200,9\n");
  TableTiming t(path, false);
  BatchShape b;
  b.prefill_seqs = 2;
  b.prefill_tokens = 400;
  EXPECT_EQ(t.iteration_ns(b), 50'000'000);  // grid point (2, 200)
  b.prefill_tokens = 300;                     // (2, 150): halfway between 14 and 50
  EXPECT_EQ(t.iteration_ns(b), 32'000'000);
  BatchShape d = decode(4, 200);
  EXPECT_EQ(t.iteration_ns(d), 9'000'000);
  d = decode(2, 150);  // b-weight 1/3, t-weight 1/2: (1-1/3)*5.5 + 1/3*8
  EXPECT_EQ(t.iteration_ns(d), 6'333'333);
  // monotone along both axes where the data is
  EXPECT_LT(t.iteration_ns(decode(1, 120)), t.iteration_ns(decode(1, 180)));
  EXPECT_LT(t.iteration_ns(decode(2, 150)), t.iteration_ns(decode(3, 150)));
}

TEST_F(TableTest, OutsideTheGridIsAnErrorUnlessClamping) {
  auto path = write("prefill,1,100,10\nprefill,1,200,30\ndecode,1,100,5\ndecode,4,100,7\n");
  TableTiming strict(path, false);
  try {
    strict.iteration_ns(decode(8, 100));
    FAIL();
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("batch 8 is outside the measured range [1, 4]"));
    EXPECT_THAT(e.what(), HasSubstr("extrapolate: true"));
  }
  TableTiming lenient(path, true);
  EXPECT_EQ(lenient.iteration_ns(decode(8, 100)), 7'000'000);
  EXPECT_EQ(lenient.extrapolations(), 1u);
  // single-batch prefill tables are looked up by the iteration's total prompt tokens
  BatchShape b;
  b.prefill_seqs = 2;
  b.prefill_tokens = 150;
  EXPECT_EQ(strict.iteration_ns(b), 20'000'000);
}

TEST_F(TableTest, MalformedTablesNameTheLine) {
  for (auto [body, expect] : std::vector<std::pair<std::string, std::string>>{
           {"prefill,1,100,x\n", "t.csv:2:"},
           {"warmup,1,100,5\n", "phase must be prefill or decode"},
           {"prefill,1,100,5\n", "needs both prefill and decode rows"},
           {"prefill,1,100,5\nprefill,2,200,5\ndecode,1,1,1\n", "no point at batch 1, tokens 200"}}) {
    try {
      TableTiming t(write(body), false);
      FAIL() << body;
    } catch (const InputError& e) {
      EXPECT_THAT(e.what(), HasSubstr(expect)) << body;
    }
  }
}

TEST(TableTiming, ShippedSplitwiseTableLoads) {
  TableTiming t(std::string(SERVESIM_SOURCE_DIR) + "/models/catalog/tables/splitwise_llama2-70b_h100_tp8.csv", false);
  EXPECT_EQ(t.iteration_ns(decode(1, 512)), 30'561'700);  // the measured median
}

// `servesim timing --breakdown`: each model's parts add up to its iteration (to the nanosecond it
// rounds to), and the command prints them as columns that add up to the latency it prints.
TEST(TimingBreakdown, PartsAddUpToTheIteration) {
  for (int tp : {1, 2}) {
    const RooflineTiming t = roofline("llama-3.1-8b", tp);
    for (const BatchShape& b : {decode(1, 1024), decode(64, 1024), prefill(2048)}) {
      double sum_ms = 0, allreduce_ms = -1;
      for (const auto& p : t.parts(b)) {
        EXPECT_GE(p.ms, 0) << p.name;
        sum_ms += p.ms;
        if (std::string_view(p.name) == "allreduce") allreduce_ms = p.ms;
      }
      EXPECT_NEAR(sum_ms, t.iteration_ns(b) * 1e-6, 1e-6);
      if (tp == 1) EXPECT_EQ(allreduce_ms, 0);  // nothing to reduce on one GPU
      else EXPECT_GT(allreduce_ms, 0);
    }
  }
  for (const std::string timing : {"roofline", "kernel"}) {
    const auto r = testing::run_servesim("timing --model llama-3.1-8b --tp 2 --timing " + timing + " --breakdown");
    ASSERT_EQ(r.exit_code, 0) << r.out;
    std::istringstream lines(r.out.substr(r.out.find("decode (one iteration")));
    std::string line;
    std::getline(lines, line);
    std::getline(lines, line);
    EXPECT_THAT(line, HasSubstr("allreduce"));
    int rows = 0;
    while (std::getline(lines, line) && !line.empty() && line[0] == ' ') {
      std::istringstream cols(line);
      double batch = 0, latency_ms = 0, tokens_per_s = 0, part = 0, sum_ms = 0;
      cols >> batch >> latency_ms >> tokens_per_s;
      while (cols >> part) sum_ms += part;
      EXPECT_NEAR(sum_ms, latency_ms, 0.01) << timing << ": " << line;  // printed to 0.01 and 0.001 ms
      ++rows;
    }
    EXPECT_EQ(rows, 9) << r.out;  // batches 1 to 256 in powers of two
  }
  const auto plain = testing::run_servesim("timing --model llama-3.1-8b");
  ASSERT_EQ(plain.exit_code, 0);
  EXPECT_THAT(plain.out, Not(HasSubstr("allreduce")));
}

}  // namespace
}  // namespace servesim
