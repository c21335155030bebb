// LoRA adapters: a request names an adapter in `model`; workers hold at most max_loras adapters
// in GPU memory (a batch mixes at most that many), a load costs its copy from host memory, the
// slots come out of the KV cache, adapters never share prefix blocks, and the router prefers
// workers it last sent the adapter to.
#include <gmock/gmock.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "live/openai_api.h"
#include "models/catalog.h"
#include "models/lora_slots.h"
#include "tests/test_util.h"

namespace servesim {
namespace {

using ::testing::HasSubstr;
using H5 = testing::H5File;

TEST(LoraSlots, AdmitLoadAndEvictTheLeastRecentlyUsedIdleAdapter) {
  LoraSlots s(2, 4);
  EXPECT_TRUE(s.admits(-1));
  EXPECT_TRUE(s.start(0));   // cold: loaded
  EXPECT_FALSE(s.start(0));  // running: no load
  EXPECT_TRUE(s.start(1));
  EXPECT_EQ(s.distinct_running(), 2);
  EXPECT_FALSE(s.admits(2));  // two adapters run: a third must wait
  EXPECT_TRUE(s.admits(0));
  EXPECT_FALSE(s.start(-1));  // the base model needs no slot
  s.stop(1);
  EXPECT_TRUE(s.admits(2));
  EXPECT_TRUE(s.start(2));  // replaces 1, the only idle adapter, though 0 was loaded earlier
  EXPECT_TRUE(s.resident(0));
  EXPECT_FALSE(s.resident(1));
  s.stop(0);
  s.stop(0);
  s.stop(2);
  // both idle now: 0 stopped before 2, so 0 is the least recently used
  EXPECT_TRUE(s.start(3));
  EXPECT_FALSE(s.resident(0));
  EXPECT_TRUE(s.resident(2));
  EXPECT_EQ(s.loads(), 4u);
  EXPECT_THROW(s.stop(1), InvariantError);
}

TEST(Lora, AdapterWeightsAndTheirShareOfGpuMemory) {
  const Catalog& c = Catalog::builtin();
  const ModelSpec& m = c.model("llama-3.1-8b");
  // per layer and rank: q (4096 + 4096), k and v (4096 + 1024 each), o (4096 + 4096), gate and
  // up (4096 + 14336 each), down (14336 + 4096) = 81,920; x rank 16 x 32 layers x 2 bytes
  EXPECT_DOUBLE_EQ(lora_bytes_per_gpu(m, 16, 1), 81920.0 * 16 * 32 * 2);
  // TP 2 halves B of q, k, v, gate, up and A of o, down: 55,296 per layer and rank
  EXPECT_DOUBLE_EQ(lora_bytes_per_gpu(m, 16, 2), 55296.0 * 16 * 32 * 2);
  PoolConfig pool;
  pool.model = "llama-3.1-8b";
  const KvCapacity plain = kv_capacity(pool, c);
  pool.lora.adapters.push_back({"a", 8, 1});
  pool.lora.max_loras = 4;
  pool.lora.max_lora_rank = 32;
  const KvCapacity with = kv_capacity(pool, c);
  // the slots are sized at max_lora_rank, whatever the adapters' own ranks
  EXPECT_DOUBLE_EQ(with.lora_bytes, 4 * lora_bytes_per_gpu(m, 32, 1));
  EXPECT_DOUBLE_EQ(plain.kv_bytes - with.kv_bytes, with.lora_bytes);
  EXPECT_EQ(with.blocks, static_cast<std::int64_t>(with.kv_bytes / (m.kv_bytes_per_token() * 16)));
  EXPECT_LT(with.blocks, plain.blocks);
}

// One worker, requests alone in the system (5 s apart), so each one's TTFT is one prefill iteration.
std::string lone_requests(testing::TempDir& dir, const std::vector<std::pair<std::string, int>>& rows) {
  std::string text;
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& [model, prompt] = rows[i];
    text += fmt::format(R"({{"timestamp": {}, "input_length": 1024, "output_length": 4, "hash_ids": [{}, {}]{}}})",
                        i * 5000, prompt * 10, prompt * 10 + 1,
                        model.empty() ? "" : fmt::format(R"(, "model": "{}")", model)) +
            "\n";
  }
  return dir.write("t.jsonl", text);
}

const char* kLonePool = R"(
name: lora_lone
workload: {{source: mooncake_jsonl, path: {}, hash_block_tokens: 512}}
pools:
  - name: w
    model: llama-3.1-8b
    gpu: h100_sxm
    lora: {{max_loras: 1, load_latency: 10ms, adapters: [{{name: sql}}, {{name: chat, rank: 8}}]}}
)";

TEST(Lora, TheFirstTokenWaitsForTheAdapterLoadOnce) {
  testing::TempDir dir;
  // base, sql (cold), sql (resident), chat (cold, replaces sql), base: all different prompts
  const std::string trace = lone_requests(dir, {{"", 1}, {"sql", 2}, {"sql", 3}, {"chat", 4}, {"", 5}});
  auto r = testing::run_servesim("run " + dir.write("s.yaml", fmt::format(fmt::runtime(kLonePool), trace)) + " -o " + dir.file("o.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  H5 f(dir.file("o.h5"));
  auto ttft = testing::read_double_column(f.id, "/requests", "ttft_s");
  auto lora = testing::read_double_column(f.id, "/requests", "lora");
  auto loaded = testing::read_double_column(f.id, "/requests", "lora_loaded");
  auto id = testing::read_double_column(f.id, "/requests", "id");
  std::map<int, size_t> row;
  for (size_t i = 0; i < id.size(); ++i) row[static_cast<int>(id[i])] = i;
  ASSERT_EQ(row.size(), 5u);
  auto at = [&](const std::vector<double>& col, int k) { return col[row.at(k)]; };
  EXPECT_EQ(testing::read_string_attribute(f.id, "/meta", "lora_adapters"), "sql\nchat");
  EXPECT_EQ(at(lora, 0), -1);
  EXPECT_EQ(at(lora, 1), 0);
  EXPECT_EQ(at(lora, 3), 1);
  EXPECT_EQ(at(loaded, 0), -1);
  EXPECT_EQ(at(loaded, 1), 1);
  EXPECT_EQ(at(loaded, 2), 0);
  EXPECT_EQ(at(loaded, 3), 1);
  // by hand: a load is 10 ms + the adapter's bytes over 64 GB/s; every iteration with the adapter
  // running also reads its bytes once at the H100's 3,350 GB/s
  const ModelSpec& m = Catalog::builtin().model("llama-3.1-8b");
  const double sql = lora_bytes_per_gpu(m, 16, 1), chat = lora_bytes_per_gpu(m, 8, 1);
  const double hbm = Catalog::builtin().gpu("h100_sxm").hbm_gbps * 1e9;
  EXPECT_NEAR(at(ttft, 4), at(ttft, 0), 1e-9);  // the base model pays nothing
  EXPECT_NEAR(at(ttft, 1) - at(ttft, 0), 0.010 + sql / 64e9 + sql / hbm, 3e-9);
  EXPECT_NEAR(at(ttft, 2) - at(ttft, 0), sql / hbm, 3e-9);
  EXPECT_NEAR(at(ttft, 3) - at(ttft, 0), 0.010 + chat / 64e9 + chat / hbm, 3e-9);
  auto summary = [&](const std::string& k) { return testing::read_double_column(f.id, "/summary", k).at(0); };
  EXPECT_EQ(summary("lora_requests"), 3);
  EXPECT_EQ(summary("lora_loads"), 2);
  EXPECT_NEAR(summary("lora_hit_rate"), 1.0 / 3, 1e-12);
  EXPECT_THAT(r.out, HasSubstr("lora        3 requests named an adapter"));
}

TEST(Lora, AdaptersNeverShareCachedPrefixBlocks) {
  testing::TempDir dir;
  // the same prompt four times: sql, chat, sql again, the base model
  const std::string trace = lone_requests(dir, {{"sql", 1}, {"chat", 1}, {"sql", 1}, {"", 1}});
  auto r = testing::run_servesim("run " + dir.write("s.yaml", fmt::format(fmt::runtime(kLonePool), trace)) + " -o " + dir.file("o.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  H5 f(dir.file("o.h5"));
  auto cached = testing::read_double_column(f.id, "/requests", "cached_tokens");
  auto id = testing::read_double_column(f.id, "/requests", "id");
  std::map<int, double> by_id;
  for (size_t i = 0; i < id.size(); ++i) by_id[static_cast<int>(id[i])] = cached[i];
  EXPECT_EQ(by_id.at(0), 0);
  EXPECT_EQ(by_id.at(1), 0);     // another adapter: its KV differs
  EXPECT_EQ(by_id.at(2), 1008);  // sql's own blocks: all full blocks but the one holding the last token
  EXPECT_EQ(by_id.at(3), 0);     // the base model shares nothing with an adapter
}

TEST(Lora, ABatchMixesAtMostMaxLorasAdapters) {
  testing::TempDir dir;
  std::string rows;
  const char* names[] = {"a", "b", "c", ""};
  for (int i = 0; i < 60; ++i)
    rows += fmt::format(R"({{"timestamp": {}, "input_length": 200, "output_length": 60{}}})", i * 10,
                        names[i % 4][0] ? fmt::format(R"(, "model": "{}")", names[i % 4]) : "") +
            "\n";
  const std::string yaml = fmt::format(R"(
name: lora_mix
workload: {{source: mooncake_jsonl, path: {}}}
pools:
  - name: w
    model: llama-3.1-8b
    gpu: h100_sxm
    lora: {{max_loras: 2, adapters: [{{name: a}}, {{name: b}}, {{name: c}}]}}
)",
                                       dir.write("t.jsonl", rows));
  auto r = testing::run_servesim("run " + dir.write("s.yaml", yaml) + " -o " + dir.file("o.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  H5 f(dir.file("o.h5"));
  auto col = [&](const char* c) { return testing::read_double_column(f.id, "/requests", c); };
  auto arrival = col("arrival_s"), queue = col("queue_s"), e2e = col("e2e_s"), lora = col("lora"), pre = col("preemptions");
  ASSERT_EQ(arrival.size(), 60u);
  for (double p : pre) ASSERT_EQ(p, 0);  // one admission each: [start, end] is its whole run
  // at each admission, the adapters running then (its own included)
  size_t most = 0;
  for (size_t i = 0; i < arrival.size(); ++i) {
    const double t = arrival[i] + queue[i];
    std::set<int> running;
    for (size_t j = 0; j < arrival.size(); ++j)
      if (lora[j] >= 0 && arrival[j] + queue[j] <= t && t < arrival[j] + e2e[j]) running.insert(static_cast<int>(lora[j]));
    most = std::max(most, running.size());
    EXPECT_LE(running.size(), 2u) << "at " << t;
  }
  EXPECT_EQ(most, 2u);  // the limit was reached, so it was what held the third adapter back
  auto loads = testing::read_double_column(f.id, "/summary", "lora_loads").at(0);
  EXPECT_GE(loads, 3);
}

const char* kAffinity = R"(
name: lora_affinity
seed: 3
workload:
  synthetic:
    duration: 60s
    arrival: {{process: poisson, rate: 12}}
    input_length: {{dist: fixed, value: 800}}
    output_length: {{dist: fixed, value: 60}}
    lora: {{fraction: 1}}
router: {{policy: least_loaded, lora_affinity: {}}}
pools:
  - name: w
    replicas: 4
    model: llama-3.1-8b
    gpu: h100_sxm
    lora: {{max_loras: 1, load_latency: 20ms, adapters: [{{name: t, count: 4}}]}}
)";

TEST(Lora, AffinityKeepsEachAdapterWhereItIsLoaded) {
  testing::TempDir dir;
  std::map<bool, double> loads, ttft;
  for (bool affinity : {true, false}) {
    const std::string out = dir.file(fmt::format("o{}.h5", affinity));
    auto r = testing::run_servesim("run " + dir.write("s.yaml", fmt::format(fmt::runtime(kAffinity), affinity)) + " -o " + out);
    ASSERT_EQ(r.exit_code, 0) << r.out;
    H5 f(out);
    loads[affinity] = testing::read_double_column(f.id, "/summary", "lora_loads").at(0);
    ttft[affinity] = testing::read_double_column(f.id, "/summary", "lora_ttft_mean_s").at(0);
    if (affinity) {
      auto lora = testing::read_double_column(f.id, "/requests", "lora");
      auto worker = testing::read_double_column(f.id, "/requests", "decode_worker");
      std::map<int, std::set<int>> workers_of;
      for (size_t i = 0; i < lora.size(); ++i) workers_of[static_cast<int>(lora[i])].insert(static_cast<int>(worker[i]));
      ASSERT_EQ(workers_of.size(), 4u);
      for (const auto& [a, w] : workers_of) EXPECT_EQ(w.size(), 1u) << "adapter " << a;  // a light load: no spill
    }
  }
  EXPECT_EQ(loads[true], 4);  // each adapter loaded once, on its own worker
  EXPECT_GT(loads[false], 20 * loads[true]);
  EXPECT_LT(ttft[true], ttft[false]);
}

TEST(Lora, AnUnknownAdapterIsRejectedLikeAnUnknownModel) {
  testing::TempDir dir;
  const std::string trace = lone_requests(dir, {{"sql", 1}, {"sql-v2", 2}, {"", 3}});
  auto r = testing::run_servesim("run " + dir.write("s.yaml", fmt::format(fmt::runtime(kLonePool), trace)) + " -o " + dir.file("o.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  H5 f(dir.file("o.h5"));
  auto summary = [&](const std::string& k) { return testing::read_double_column(f.id, "/summary", k).at(0); };
  EXPECT_EQ(summary("requests_rejected_unknown_model"), 1);
  EXPECT_EQ(summary("requests_completed"), 2);
}

TEST(Lora, ARateLimitNamingAnAdapterIsThatTenantsOwn) {
  testing::TempDir dir;
  std::string rows;
  for (int i = 0; i < 40; ++i)
    rows += fmt::format(R"({{"timestamp": 0, "input_length": 200, "output_length": 10, "model": "{}"}})",
                        i % 2 ? "chat" : "sql") +
            "\n";
  const std::string yaml = fmt::format(R"(
name: lora_limits
workload: {{source: mooncake_jsonl, path: {}}}
router: {{admission: {{rate_limits: [{{model: sql, requests_per_s: 1, burst: 5}}]}}}}
pools:
  - {{name: w, model: llama-3.1-8b, gpu: h100_sxm, lora: {{max_loras: 2, adapters: [{{name: sql}}, {{name: chat}}]}}}}
)",
                                       dir.write("t.jsonl", rows));
  auto r = testing::run_servesim("run " + dir.write("s.yaml", yaml) + " -o " + dir.file("o.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  H5 f(dir.file("o.h5"));
  auto lora = testing::read_double_column(f.id, "/requests", "lora");
  auto reason = testing::read_double_column(f.id, "/requests", "reject_reason");
  std::map<int, int> served, limited;
  for (size_t i = 0; i < lora.size(); ++i) (reason[i] == 4 ? limited : served)[static_cast<int>(lora[i])]++;
  EXPECT_EQ(served[0], 5);  // sql: its burst, all at t = 0
  EXPECT_EQ(limited[0], 15);
  EXPECT_EQ(served[1], 20);  // chat has no limit of its own, and the model none either
  EXPECT_EQ(limited[1], 0);
  // a limit naming nothing served is refused
  const std::string bad = std::string(yaml).replace(yaml.find("model: sql,"), 11, "model: sq1,");
  auto v = testing::run_servesim("validate " + dir.write("b.yaml", bad));
  EXPECT_NE(v.exit_code, 0);
  EXPECT_THAT(v.out, HasSubstr("no pool serves model or LoRA adapter 'sq1'"));
}

TEST(Lora, BadSettingsAreClearErrors) {
  testing::TempDir dir;
  struct Case {
    std::string pools, workload, message;
  };
  const std::string syn = "synthetic: {duration: 10s, arrival: {rate: 1}}";
  const std::vector<Case> cases = {
      {"[{name: w, model: llama-3.1-8b, lora: {max_lora_rank: 8, adapters: [{name: a, rank: 16}]}}]", syn,
       "pools.0.lora.adapters.0.rank"},
      {"[{name: w, model: llama-3.1-8b, lora: {adapters: [{name: a}, {name: a}]}}]", syn, "declared twice"},
      {"[{name: w, model: llama-3.1-8b, lora: {adapters: [{name: llama-3.1-8b}]}}]", syn, "name of a served model"},
      {"[{name: w, model: mixtral-8x7b, tp: 2, lora: {adapters: [{name: a}]}}]", syn, "mixture of experts"},
      {"[{name: w, model: llama-3.1-8b, lora: {adapters: [{name: a}]}}, {name: v, model: llama-3.1-70b, tp: 4, "
       "lora: {adapters: [{name: a}]}}]",
       "synthetic: {duration: 10s, arrival: {rate: 1}, models: [{name: a}, {name: llama-3.1-70b}]}",
       "another pool"},
      {"[{name: p, role: prefill, model: llama-3.1-8b, lora: {adapters: [{name: a}]}}, {name: d, role: decode, model: "
       "llama-3.1-8b}]",
       syn, "aggregated pools only"},
      {"[{name: w, model: llama-3.1-8b}]", "synthetic: {duration: 10s, arrival: {rate: 1}, lora: {fraction: 0.5}}",
       "workload.synthetic.lora.fraction"},
      {"[{name: w, model: llama-3.1-8b, lora: {adapters: [{name: a}]}}]",
       "synthetic: {duration: 10s, arrival: {rate: 1}, models: [{name: b}]}", "no pool serves model or LoRA adapter 'b'"},
  };
  for (const Case& c : cases) {
    const std::string yaml = fmt::format("name: bad\nworkload:\n  {}\npools: {}\n", c.workload, c.pools);
    auto r = testing::run_servesim("validate " + dir.write("bad.yaml", yaml));
    EXPECT_NE(r.exit_code, 0) << c.pools;
    EXPECT_THAT(r.out, HasSubstr(c.message)) << c.pools;
  }
}

TEST(Lora, ModelsEndpointListsAdaptersWithTheirBase) {
  const std::string body = live::models_body({"llama-3.1-8b", "sql"}, 7, {"", "llama-3.1-8b"});
  EXPECT_THAT(body, HasSubstr(R"("id":"llama-3.1-8b","object":"model","created":7,"owned_by":"servesim","root":"llama-3.1-8b","parent":null)"));
  EXPECT_THAT(body, HasSubstr(R"("id":"sql","object":"model","created":7,"owned_by":"servesim","root":"sql","parent":"llama-3.1-8b")"));
}

}  // namespace
}  // namespace servesim
