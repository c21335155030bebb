// Attention data parallelism (pools[].attention_dp): ranks with their own schedulers and KV caches
// stepping in lockstep, a new request's rank chosen as vLLM's coordinator or SGLang's round robin
// choose it, the ranks' KV events merged into the worker's, and the experts the ranks share.
#include <gmock/gmock.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>

#include "core/error.h"
#include "core/request.h"
#include "models/catalog.h"
#include "models/data_parallel_scheduler.h"
#include "models/timing/kernel_tables.h"
#include "models/timing/model_ops.h"
#include "models/timing/roofline.h"
#include "tests/test_util.h"

namespace servesim {
namespace {

using ::testing::HasSubstr;

// A rank that reports a set load, records what it was given and emits the KV events it is told to.
class FakeRank final : public EngineScheduler {
 public:
  explicit FakeRank(EngineLoad load, std::int64_t cached = 0) : load_(load), cached_(cached) {}
  std::int64_t cached_prefix_blocks(const Request&) const override { return cached_; }
  void enqueue(Request* r, TimeNs, EngineJob) override { got.push_back(r->id); }
  bool plan(TimeNs, BatchShape&) override { return false; }
  void complete(TimeNs, IterationResult& out) override { out.clear(); }
  EngineLoad load() const override { return load_; }
  std::vector<Request*> reset() override { return {}; }
  std::vector<KvEvent> take_kv_events() override { return std::exchange(events, {}); }
  void progress(std::vector<TokenProgress>&) const override {}
  bool abort(Request*) override { return false; }
  std::vector<std::uint64_t> got;
  std::vector<KvEvent> events;

 private:
  EngineLoad load_;
  std::int64_t cached_;
};

struct FakeEngine {
  std::vector<FakeRank*> ranks;
  std::unique_ptr<DataParallelScheduler> dp;
  FakeEngine(std::vector<EngineLoad> loads, const std::string& balance, std::vector<std::int64_t> cached = {}) {
    std::vector<std::unique_ptr<EngineScheduler>> owned;
    for (size_t k = 0; k < loads.size(); ++k) {
      auto r = std::make_unique<FakeRank>(loads[k], k < cached.size() ? cached[k] : 0);
      ranks.push_back(r.get());
      owned.push_back(std::move(r));
    }
    dp = std::make_unique<DataParallelScheduler>(std::move(owned), balance);
  }
};

TEST(DataParallel, LeastLoadedTakesTheLowestFourTimesWaitingPlusRunningAndRoundRobinTakesTurns) {
  std::vector<Request> reqs(4);
  for (size_t i = 0; i < reqs.size(); ++i) reqs[i].id = i;
  // scores 4 x waiting + running: 0 x 4 + 5 = 5, 1 x 4 + 0 = 4, 1 x 4 + 1 = 5: rank 1, always
  // (a fake's load does not grow)
  FakeEngine least({{.waiting = 0, .running = 5}, {.waiting = 1, .running = 0}, {.waiting = 1, .running = 1}},
                   "least_loaded");
  for (Request& r : reqs) least.dp->enqueue(&r, 0, EngineJob::kFull);
  EXPECT_TRUE(least.ranks[0]->got.empty());
  EXPECT_EQ(least.ranks[1]->got, (std::vector<std::uint64_t>{0, 1, 2, 3}));
  EXPECT_EQ(least.dp->rank_of(&reqs[2]), 1);
  // ties go to the first rank
  FakeEngine tied({{.waiting = 0, .running = 4}, {.waiting = 1, .running = 0}}, "least_loaded");
  tied.dp->enqueue(&reqs[0], 0, EngineJob::kFull);
  EXPECT_EQ(tied.ranks[0]->got.size(), 1u);

  FakeEngine rr({{}, {}, {}}, "round_robin");
  for (Request& r : reqs) rr.dp->enqueue(&r, 0, EngineJob::kFull);
  EXPECT_EQ(rr.ranks[0]->got, (std::vector<std::uint64_t>{0, 3}));
  EXPECT_EQ(rr.ranks[1]->got, (std::vector<std::uint64_t>{1}));
  EXPECT_EQ(rr.ranks[2]->got, (std::vector<std::uint64_t>{2}));
  // the engine's load is the ranks' sum
  EXPECT_EQ(least.dp->load().running, 6);
  EXPECT_EQ(least.dp->load().waiting, 2);
}

TEST(DataParallel, PrefixAwareTakesTheRankCachingMostOfThePromptThenTheLeastLoaded) {
  Request r;
  // cached blocks 3, 5, 5: ranks 1 and 2 tie on the prefix, rank 2 is less loaded (4 x 0 + 2 < 4 x 1 + 0)
  FakeEngine e({{.waiting = 0, .running = 0}, {.waiting = 1, .running = 0}, {.waiting = 0, .running = 2}},
               "prefix_aware", {3, 5, 5});
  e.dp->enqueue(&r, 0, EngineJob::kFull);
  EXPECT_EQ(e.ranks[2]->got.size(), 1u);
  // no rank caches any of it: least_loaded's rule
  FakeEngine cold({{.waiting = 0, .running = 3}, {.waiting = 0, .running = 1}}, "prefix_aware");
  cold.dp->enqueue(&r, 0, EngineJob::kFull);
  EXPECT_EQ(cold.ranks[1]->got.size(), 1u);
}

TEST(DataParallel, TheWorkerHoldsABlockWhileSomeRankHoldsIt) {
  FakeEngine e({{}, {}}, "round_robin");
  auto stored = [](std::uint64_t k) { return KvEvent{.kind = KvEvent::Kind::kStored, .key = k}; };
  auto removed = [](std::uint64_t k) { return KvEvent{.kind = KvEvent::Kind::kRemoved, .key = k}; };
  e.ranks[0]->events = {stored(7), stored(8)};
  e.ranks[1]->events = {stored(7)};
  std::vector<KvEvent> out = e.dp->take_kv_events();
  ASSERT_EQ(out.size(), 2u);  // 7 once, 8
  EXPECT_EQ(out[0].key, 7u);
  EXPECT_EQ(out[1].key, 8u);
  e.ranks[0]->events = {removed(7), removed(8)};
  out = e.dp->take_kv_events();
  ASSERT_EQ(out.size(), 1u);  // rank 1 still holds 7
  EXPECT_EQ(out[0].key, 8u);
  EXPECT_EQ(out[0].kind, KvEvent::Kind::kRemoved);
  e.ranks[1]->events = {removed(7)};
  out = e.dp->take_kv_events();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].key, 7u);
  EXPECT_EQ(out[0].kind, KvEvent::Kind::kRemoved);
}

// dp_balance router: a request joins the rank the router wrote on it (a prefill-only job the
// prefill rank), the engine's KV events name the rank whose cache changed (no merging), and a
// request with no rank is an error, not a silent choice.
TEST(DataParallel, UnderRouterBalanceTheRequestNamesItsRankAndEventsNameTheirs) {
  FakeEngine e({{}, {}, {}}, "router");
  std::vector<Request> reqs(3);
  for (size_t i = 0; i < reqs.size(); ++i) reqs[i].id = i;
  reqs[0].dp_rank = 2;
  reqs[1].dp_rank = 0;
  reqs[1].prefill_dp_rank = 1;
  e.dp->enqueue(&reqs[0], 0, EngineJob::kFull);
  e.dp->enqueue(&reqs[1], 0, EngineJob::kPrefillOnly);
  EXPECT_EQ(e.ranks[2]->got, (std::vector<std::uint64_t>{0}));
  EXPECT_EQ(e.ranks[1]->got, (std::vector<std::uint64_t>{1}));
  EXPECT_TRUE(e.ranks[0]->got.empty());
  EXPECT_THAT([&] { e.dp->enqueue(&reqs[2], 0, EngineJob::kFull); },
              ::testing::ThrowsMessage<InvariantError>(HasSubstr("request 2 came with rank -1 of 3")));
  e.ranks[0]->events = {KvEvent{.kind = KvEvent::Kind::kStored, .key = 7}};
  e.ranks[2]->events = {KvEvent{.kind = KvEvent::Kind::kStored, .key = 7}, KvEvent{.kind = KvEvent::Kind::kRemoved, .key = 9}};
  const std::vector<KvEvent> out = e.dp->take_kv_events();
  ASSERT_EQ(out.size(), 3u);  // 7 on both ranks: two events
  EXPECT_EQ(out[0].dp_rank, 0);
  EXPECT_EQ(out[1].dp_rank, 2);
  EXPECT_EQ(out[2].dp_rank, 2);
  EXPECT_EQ(out[2].kind, KvEvent::Kind::kRemoved);
  // the engine's own balance writes the rank it chose on the request (the /requests column)
  FakeEngine rr({{}, {}}, "round_robin");
  for (Request& r : reqs) rr.dp->enqueue(&r, 0, EngineJob::kFull);
  EXPECT_EQ(reqs[2].dp_rank, 0);  // 0, 1, 0
  EXPECT_EQ(reqs[1].dp_rank, 1);
}

TEST(DataParallel, RanksShareTheExpertsAndTheirTokens) {
  const ModelSpec& m = Catalog::builtin().model("qwen3-30b-a3b");
  ASSERT_EQ(m.experts, 128);
  ASSERT_EQ(m.top_k, 8);
  auto expert = [&](const GemmOps& ops) {
    for (const GemmOp& op : ops)
      if (std::string_view(op.name) == "expert_gate_up") return op;
    ADD_FAILURE() << "no expert GEMM";
    return GemmOp{};
  };
  // one token alone touches its 8 experts, one token each
  const GemmOp alone = expert(iteration_gemms(m, 1, 1, 0));
  EXPECT_DOUBLE_EQ(alone.group, 8);
  EXPECT_DOUBLE_EQ(alone.m, 1);
  // two ranks of one token: 128 (1 - (120/128)^2) = 15.5 experts touched, half of them on each
  // rank's GPU, 16 routed tokens over them
  const GemmOp shared = expert(iteration_gemms(m, 1, 1, 0, 1, 2, 2));
  EXPECT_DOUBLE_EQ(shared.group, 15.5 / 2);
  EXPECT_DOUBLE_EQ(shared.m, 16 / 15.5);
  // the dense parts see the rank's own token
  for (const GemmOp& op : iteration_gemms(m, 1, 1, 0, 1, 2, 2)) {
    if (std::string_view(op.name) == "qkv_proj" || std::string_view(op.name) == "router") {
      EXPECT_DOUBLE_EQ(op.m, 1);
    }
  }
  // a rank's GPUs hold the dense layers and half the experts (48 MoE layers x 128 experts x
  // gate, up, down of 2048 x 768, bf16)
  EXPECT_DOUBLE_EQ(m.routed_expert_bytes(), 48.0 * 128 * 3 * 2048 * 768 * 2);
  EXPECT_LT(m.routed_expert_bytes(), m.weight_bytes());
  PoolConfig pool;
  pool.model = "qwen3-30b-a3b";
  pool.gpu = "h100_sxm";
  const KvCapacity one = kv_capacity(pool, Catalog::builtin());
  pool.attention_dp = 2;
  const KvCapacity rank = kv_capacity(pool, Catalog::builtin());
  EXPECT_DOUBLE_EQ(rank.weight_bytes, one.weight_bytes - m.routed_expert_bytes() / 2);
  EXPECT_GT(rank.blocks, one.blocks);
}

TEST(DataParallel, MoeLayersPayTheirTokensAllToAllOverTheGroup) {
  const ModelSpec& m = Catalog::builtin().model("qwen3-30b-a3b");
  const GpuSpec& gpu = Catalog::builtin().gpu("h100_sxm");
  const RooflineEfficiency eff;
  const RooflineTiming timing(m, gpu, 1, eff);
  auto alltoall_s = [&](int tokens, int ranks) {
    BatchShape b;
    b.decode_seqs = tokens;
    b.decode_context_tokens = 1000LL * tokens;
    b.moe_group_ranks = ranks;
    b.moe_group_tokens = std::int64_t{tokens} * ranks;
    return timing.breakdown(b).alltoall_s;
  };
  EXPECT_EQ(alltoall_s(16, 1), 0);  // one rank: no dispatch
  // two ranks: 48 MoE layers x (dispatch + combine) x half of each rank's tokens, each sent once
  // per GPU its top-8 experts lie on (2 (1 - 1/2^8) = 1.9921875 GPUs expected) as 2,048 bf16
  // values over NVLink, plus each exchange's fixed cost
  EXPECT_DOUBLE_EQ(moe_dispatch_copies(m, 2), 1.9921875);
  EXPECT_DOUBLE_EQ(moe_dispatch_copies(m, 1), 1);
  const double per_token_s =
      2.0 * 48 * 0.5 * 1.9921875 * 2048 * 2 / (gpu.nvlink_gbps * 1e9 * eff.allreduce_bandwidth_efficiency);
  EXPECT_NEAR(alltoall_s(32, 2) - alltoall_s(16, 2), 16 * per_token_s, 1e-12);
  EXPECT_NEAR(alltoall_s(16, 2), 16 * per_token_s + 2.0 * 48 * eff.allreduce_latency_us * 1e-6, 1e-12);
  // FP8 dispatch (DeepEP): the dispatch carries 1 + 4/128 bytes a value, the combine 2
  ModelSpec fp8 = m;
  fp8.moe_dispatch_bytes = 1 + 4.0 / 128;
  const RooflineTiming fp8_timing(fp8, gpu, 1, eff);
  BatchShape b32, b16;
  for (auto [b, n] : {std::pair{&b32, 32}, std::pair{&b16, 16}}) {
    b->decode_seqs = n;
    b->decode_context_tokens = 1000LL * n;
    b->moe_group_ranks = 2;
    b->moe_group_tokens = 2LL * n;
  }
  EXPECT_NEAR(fp8_timing.breakdown(b32).alltoall_s - fp8_timing.breakdown(b16).alltoall_s,
              16 * per_token_s * (1.03125 + 2) / 4, 1e-12);
  // 16 ranks on nodes of 8: 7/16 of each GPU's copies stay on NVLink, 8/16 leave for the other
  // node over its 50 GB/s link, at the same time: the network decides
  ASSERT_EQ(gpu.gpus_per_node, 8);
  ASSERT_EQ(gpu.internode_gbps, 50);
  const double copies16 = moe_dispatch_copies(m, 16), bw = 1e9 * eff.allreduce_bandwidth_efficiency;
  const double nvlink_s = 7.0 / 16 * copies16 * 2048 * 2 / (450 * bw), network_s = 8.0 / 16 * copies16 * 2048 * 2 / (50 * bw);
  ASSERT_GT(network_s, nvlink_s);
  EXPECT_NEAR(alltoall_s(32, 16) - alltoall_s(16, 16), 16 * 2.0 * 48 * network_s, 1e-12);
  // within one node (8 ranks) the same tokens cost NVLink alone
  const double copies8 = moe_dispatch_copies(m, 8);
  EXPECT_NEAR(alltoall_s(32, 8) - alltoall_s(16, 8), 16 * 2.0 * 48 * 7.0 / 8 * copies8 * 2048 * 2 / (450 * bw), 1e-12);
}

TEST(DataParallel, KernelTimingPricesTheDispatchFromNcclsAllToAllTable) {  // 2, 4 and 8 GPUs on H100
  testing::TempDir dir;
  const std::string trace = dir.write("t.jsonl", R"({"timestamp": 0, "input_length": 100, "output_length": 4})" "\n");
  const std::string scn = dir.write("s.yaml", fmt::format(R"(
name: dp_kernel
workload: {{source: mooncake_jsonl, path: {}}}
pools:
  - {{name: w, model: qwen3-30b-a3b, gpu: h100_sxm, attention_dp: 2, timing: {{model: kernel}}}}
)",
                                                           trace));
  auto r = testing::run_servesim("run " + scn + " -q -o " + dir.file("k.h5"));
  EXPECT_EQ(r.exit_code, 0) << r.out;
  testing::H5File f(dir.file("k.h5"));
  const double within = testing::read_double_column(f.id, "/summary", "timing_extrapolations").at(0);
  // beyond the GPU counts NCCL was measured on: the largest below it, counted and said
  r = testing::run_servesim("run " + scn + " -o " + dir.file("k16.h5") + " --set pools.0.attention_dp=16");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("the MoE dispatch over 16 GPUs priced from NCCL's all-to-all on 8"));
  testing::H5File f16(dir.file("k16.h5"));
  EXPECT_GE(testing::read_double_column(f16.id, "/summary", "timing_extrapolations").at(0), within + 1);
  // FP8 dispatch: the same request, a cheaper exchange
  r = testing::run_servesim("run " + scn + " -q -o " + dir.file("k8.h5") + " --set pools.0.moe_dispatch=fp8");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  testing::H5File f8(dir.file("k8.h5"));
  EXPECT_LT(testing::read_double_column(f8.id, "/requests", "e2e_s").at(0),
            testing::read_double_column(f.id, "/requests", "e2e_s").at(0));
}

TEST(DataParallel, TablesOnlySomeModelsReadAreReadForThem) {
  const std::string tables = std::string(SERVESIM_SOURCE_DIR) + "/data/aiconfigurator/systems/data/h100_sxm";
  const auto dense = KernelTables::shared(tables, "sglang", "", {.moe = false, .mla = false});
  EXPECT_TRUE(dense->moe.empty());
  EXPECT_TRUE(dense->context_mla.empty());
  EXPECT_FALSE(dense->sources.count("moe"));
  // a MoE model's call reads them (and serves a dense model's calls from then on)
  const auto moe = KernelTables::shared(tables, "sglang", "", {.moe = true, .mla = false});
  EXPECT_FALSE(moe->moe.empty());
  EXPECT_TRUE(moe->sources.count("moe"));
  EXPECT_EQ(KernelTables::shared(tables, "sglang", "", {.moe = false, .mla = false}), moe);
  EXPECT_EQ(moe->gemm.size(), dense->gemm.size());
}

// Polynomial timing: 1 ms + 0.01 ms per prompt token. Two one-token requests arrive together,
// prompts of 100 and 300 tokens: 2 ms and 4 ms alone, 5 ms in one batch.
std::string lockstep_scenario(const std::string& trace, int dp, int replicas, const std::string& router) {
  return fmt::format(R"(
name: dp
workload: {{source: mooncake_jsonl, path: {}}}
router: {{policy: {}}}
frontend: {{request_latency: 0s}}
pools:
  - name: w
    replicas: {}
    attention_dp: {}
    model: llama-3.1-8b
    gpu: h100_sxm
    engine: {{num_gpu_blocks: 100, block_size: 16}}
    timing: {{model: polynomial, polynomial: {{constant_ms: 1, per_prefill_token_ms: 0.01}}}}
)",
                     trace, router, replicas, dp);
}

TEST(DataParallel, RanksStepTogetherAsLongAsTheSlowestRank) {
  testing::TempDir dir;
  const std::string trace = dir.write("t.jsonl",
                                      R"({"timestamp": 0, "input_length": 100, "output_length": 1}
{"timestamp": 0, "input_length": 300, "output_length": 1}
)");
  std::map<std::string, std::vector<double>> e2e_ms;
  std::map<std::string, double> gpus;
  for (const auto& [name, dp, replicas, router] :
       std::vector<std::tuple<std::string, int, int, std::string>>{
           {"dp2", 2, 1, "round_robin"}, {"one", 1, 1, "round_robin"}, {"two", 1, 2, "round_robin"}}) {
    const std::string out = dir.file(name + ".h5");
    auto r = testing::run_servesim("run " + dir.write(name + ".yaml", lockstep_scenario(trace, dp, replicas, router)) +
                                   " -q -o " + out);
    ASSERT_EQ(r.exit_code, 0) << r.out;
    testing::H5File f(out);
    auto ids = testing::read_double_column(f.id, "/requests", "id");
    auto e2e = testing::read_double_column(f.id, "/requests", "e2e_s");
    e2e_ms[name].assign(2, 0);
    for (size_t i = 0; i < ids.size(); ++i) e2e_ms[name][static_cast<size_t>(ids[i])] = e2e[i] * 1e3;
    gpus[name] = testing::read_double_column(f.id, "/summary", "gpus").at(0);
  }
  // two ranks: one step of max(2, 4) ms for both
  EXPECT_NEAR(e2e_ms["dp2"][0], 4, 1e-9);
  EXPECT_NEAR(e2e_ms["dp2"][1], 4, 1e-9);
  // one rank: one batch of 400 prompt tokens
  EXPECT_NEAR(e2e_ms["one"][0], 5, 1e-9);
  EXPECT_NEAR(e2e_ms["one"][1], 5, 1e-9);
  // two independent workers: each at its own pace
  EXPECT_NEAR(e2e_ms["two"][0], 2, 1e-9);
  EXPECT_NEAR(e2e_ms["two"][1], 4, 1e-9);
  EXPECT_EQ(gpus["dp2"], 2);
  EXPECT_EQ(gpus["one"], 1);
}

TEST(DataParallel, APromptSeenBeforeReturnsToTheRankThatCachedItUnderPrefixAware) {
  testing::TempDir dir;
  // the same 320-token prompt (20 blocks of 16) at 0 and 1 s: with prefix_aware the second lands
  // on the rank that cached it and computes only its last block (its last token is recomputed);
  // round robin sends it to the other rank, which computes it all
  const std::string trace = dir.write("t.jsonl",
                                      R"({"timestamp": 0, "input_length": 320, "output_length": 2, "hash_ids": [1, 2, 3, 4, 5]}
{"timestamp": 1000, "input_length": 320, "output_length": 2, "hash_ids": [1, 2, 3, 4, 5]}
)");
  std::map<std::string, double> cached;
  for (const std::string balance : {"prefix_aware", "round_robin"}) {
    const std::string out = dir.file(balance + ".h5");
    auto r = testing::run_servesim("run " + dir.write(balance + ".yaml", lockstep_scenario(trace, 2, 1, "round_robin")) +
                                   " -q -o " + out + " --set workload.hash_block_tokens=64 --set pools.0.engine.dp_balance=" + balance);
    ASSERT_EQ(r.exit_code, 0) << r.out;
    testing::H5File f(out);
    auto ids = testing::read_double_column(f.id, "/requests", "id");
    auto tokens = testing::read_double_column(f.id, "/requests", "cached_tokens");
    for (size_t i = 0; i < ids.size(); ++i)
      if (ids[i] == 1) cached[balance] = tokens[i];
  }
  EXPECT_EQ(cached["prefix_aware"], 304);  // 19 of the 20 blocks: the last is computed for its token
  EXPECT_EQ(cached["round_robin"], 0);
}

// engine.dp_balance router: each rank of two 2-rank workers is a target of the router's policy.
// Round robin goes through the four in turn; least_loaded spreads four simultaneous requests
// over all four (the router counts each rank's load); kv_aware sends each repeated prompt back
// to the rank, not just the worker, that cached it, whose KV events told the router so (its
// expected cached tokens are then exactly what the engine finds).
TEST(DataParallel, TheRouterPicksTheRankUnderRouterBalance) {
  testing::TempDir dir;
  auto run = [&](const std::string& name, const std::string& trace, const std::string& router, int seed = 1,
                 const std::string& balance = "router") {
    const std::string out = dir.file(name + ".h5");
    auto r = testing::run_servesim("run " + dir.write(name + ".yaml", lockstep_scenario(trace, 2, 2, router)) + " -q -o " +
                                   out + fmt::format(" --seed {} --set workload.hash_block_tokens=64 "
                                                     "--set pools.0.engine.dp_balance={}", seed, balance));
    EXPECT_EQ(r.exit_code, 0) << r.out;
    return out;
  };
  auto column = [](const std::string& out, const char* name) {
    return testing::request_column_by_id(testing::H5File(out).id, name);
  };
  std::string spaced;
  for (int i = 0; i < 6; ++i)
    spaced += fmt::format(R"({{"timestamp": {}, "input_length": 100, "output_length": 2}})" "\n", 1000 * i);
  const std::string rr = run("rr", dir.write("spaced.jsonl", spaced), "round_robin");
  EXPECT_EQ(column(rr, "decode_worker"), (std::vector<double>{0, 0, 1, 1, 0, 0}));
  EXPECT_EQ(column(rr, "decode_dp_rank"), (std::vector<double>{0, 1, 0, 1, 0, 1}));
  EXPECT_EQ(column(rr, "prefill_dp_rank"), column(rr, "decode_dp_rank"));

  std::string together;
  for (int i = 0; i < 4; ++i) together += R"({"timestamp": 0, "input_length": 100, "output_length": 50})" "\n";
  const std::string least = run("least", dir.write("together.jsonl", together), "least_loaded");
  std::set<std::pair<double, double>> targets;
  const auto workers = column(least, "decode_worker"), ranks = column(least, "decode_dp_rank");
  for (size_t i = 0; i < 4; ++i) targets.emplace(workers[i], ranks[i]);
  EXPECT_EQ(targets.size(), 4u);

  // four prompts of 320 tokens (20 blocks), then each again in another order
  std::string repeats;
  const int order[] = {0, 1, 2, 3, 3, 1, 0, 2};
  for (int i = 0; i < 8; ++i) {
    const int p = order[i];
    repeats += fmt::format(R"({{"timestamp": {}, "input_length": 320, "output_length": 2, "hash_ids": [{}, {}, {}, {}, {}]}})"
                           "\n",
                           1000 * i, 10 * p + 1, 10 * p + 2, 10 * p + 3, 10 * p + 4, 10 * p + 5);
  }
  const std::string trace = dir.write("repeats.jsonl", repeats);
  for (int seed = 1; seed <= 3; ++seed) {
    const std::string kv = run(fmt::format("kv{}", seed), trace, "kv_aware", seed);
    const auto w = column(kv, "decode_worker"), k = column(kv, "decode_dp_rank");
    const auto cached = column(kv, "cached_tokens"), expected = column(kv, "expected_cached_tokens");
    for (int i = 4; i < 8; ++i) {
      const auto first = static_cast<size_t>(std::find(order, order + 4, order[i]) - order);
      EXPECT_EQ(w[static_cast<size_t>(i)], w[first]) << "seed " << seed << " request " << i;
      EXPECT_EQ(k[static_cast<size_t>(i)], k[first]) << "seed " << seed << " request " << i;
      EXPECT_EQ(cached[static_cast<size_t>(i)], 304) << "seed " << seed << " request " << i;
      EXPECT_EQ(expected[static_cast<size_t>(i)], 304) << "seed " << seed << " request " << i;
    }
  }
  // the router sees whole workers and the engine takes turns among its ranks: the router expects
  // the hit on the worker, and some repeats land on the rank that lacks it
  const std::string turns = run("turns", trace, "kv_aware", 1, "round_robin");
  const auto cached = column(turns, "cached_tokens"), expected = column(turns, "expected_cached_tokens");
  int missed = 0;
  for (size_t i = 4; i < 8; ++i) missed += expected[i] == 304 && cached[i] == 0;
  EXPECT_GT(missed, 0);
}

// Disaggregated, both pools of 2-rank workers whose ranks the router picks (the shipped
// disagg_vs_agg scenario, 5 minutes of the Mooncake trace): a remote prefill runs on a prefill
// rank and decodes on a decode rank, chosen apart (all four pairs occur); a local prefill stays
// on its decode rank. The run's end-of-run checks (the router's count per rank back to zero
// included) pass.
TEST(DataParallel, PrefillAndDecodeRanksAreEachTheRoutersChoice) {
  testing::TempDir dir;
  const std::string out = dir.file("dd.h5");
  auto r = testing::run_servesim("run " + std::string(SERVESIM_SOURCE_DIR) + "/scenarios/disagg_vs_agg.yaml -q -o " + out +
                                 " --set workload.end=300s --set pools.1.attention_dp=2 --set pools.2.attention_dp=2"
                                 " --set pools.1.engine.dp_balance=router --set pools.2.engine.dp_balance=router");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  testing::H5File f(out);
  const auto route = testing::read_double_column(f.id, "/requests", "route");
  const auto prefill = testing::read_double_column(f.id, "/requests", "prefill_dp_rank");
  const auto decode = testing::read_double_column(f.id, "/requests", "decode_dp_rank");
  std::set<std::pair<double, double>> remote;
  size_t local = 0;
  for (size_t i = 0; i < route.size(); ++i) {
    ASSERT_TRUE(decode[i] == 0 || decode[i] == 1) << i;
    if (route[i] == static_cast<double>(RequestRoute::kRemotePrefill)) {
      ASSERT_TRUE(prefill[i] == 0 || prefill[i] == 1) << i;
      remote.emplace(prefill[i], decode[i]);
    } else {
      ASSERT_EQ(route[i], static_cast<double>(RequestRoute::kLocalPrefill)) << i;
      EXPECT_EQ(prefill[i], decode[i]) << i;
      ++local;
    }
  }
  EXPECT_EQ(remote.size(), 4u);
  EXPECT_GT(local, 0u);
}

TEST(DataParallel, ConfigurationsItCannotRunAreErrorsNamingTheKey) {
  testing::TempDir dir;
  const std::string trace = dir.write("t.jsonl", R"({"timestamp": 0, "input_length": 100, "output_length": 1})" "\n");
  const std::string scn = dir.write("s.yaml", lockstep_scenario(trace, 2, 1, "round_robin"));
  auto refused = [&](const std::string& sets, std::initializer_list<const char*> says) {
    auto r = testing::run_servesim("validate " + scn + " " + sets);
    EXPECT_EQ(r.exit_code, 2) << sets << "\n" << r.out;
    for (const char* s : says) EXPECT_THAT(r.out, HasSubstr(s)) << sets;
  };
  refused("--set pools.0.model=qwen3-30b-a3b --set pools.0.attention_dp=3", {"pools.0.attention_dp", "128 experts"});
  refused("--set pools.0.engine.scheduler=basic", {"basic scheduler"});
  refused("--set pools.0.attention_dp=0", {"pools.0.attention_dp"});
  // the MoE dispatch needs the GPU's node: none given for the A100
  refused("--set pools.0.model=qwen3-30b-a3b --set pools.0.gpu=a100_80gb", {"no gpus_per_node", "pools.0.attention_dp"});
  // FP8 dispatch where nothing is dispatched: a dense model
  refused("--set pools.0.moe_dispatch=fp8", {"pools.0.moe_dispatch"});
}

TEST(DataParallel, TheTimingCommandPrintsARanksLedgerAndBatches) {
  auto one = testing::run_servesim("timing --model qwen3-30b-a3b");
  auto four = testing::run_servesim("timing --model qwen3-30b-a3b --attention-dp 4");
  ASSERT_EQ(one.exit_code, 0) << one.out;
  ASSERT_EQ(four.exit_code, 0) << four.out;
  EXPECT_THAT(four.out, HasSubstr("4 attention-DP ranks of 1 x"));
  auto kv_blocks = [](const std::string& out) {
    const size_t at = out.find(" blocks of 16 tokens");
    EXPECT_NE(at, std::string::npos) << out;
    return std::stol(out.substr(out.rfind(' ', at - 1) + 1, at));
  };
  // a rank's GPU holds a quarter of the experts: more room for KV
  EXPECT_GT(kv_blocks(four.out), kv_blocks(one.out));
}

}  // namespace
}  // namespace servesim
