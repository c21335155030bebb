// KV-aware routing end to end: runs through the CLI, read back from HDF5.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <numeric>
#include <set>

#include "scenario/scenario.h"
#include "tests/test_util.h"
#include "traces/trace_source.h"

namespace servesim {
namespace {

// Multi-turn sessions whose hash blocks are the engine's 16-token blocks; every follow-up
// arrives at least 2 s after the turn before it (well after that turn's prefill).
const char* kSessions = R"(
name: sessions
seed: 3
workload:
  hash_block_tokens: 16
  synthetic:
    duration: 300s
    arrival: {process: poisson, rate: 0.5}
    input_length: {dist: fixed, value: 64}
    output_length: {dist: fixed, value: 32}
    sessions: {enabled: true, turns: {dist: fixed, value: 4}, think_time: 5s, min_think_time: 2s}
router: {policy: kv_aware}
pools:
  - {replicas: 4, model: llama-3.1-8b, gpu: h100_sxm, engine: {block_size: 16}}
)";

using H5 = testing::H5File;

struct Rows {
  std::vector<double> id, session, worker, input, cached, expected;
};

Rows run(testing::TempDir& dir, const std::string& yaml, const std::string& sets, const std::string& name) {
  std::string scn = dir.write(name + ".yaml", yaml), out = dir.file(name + ".h5");
  auto r = testing::run_servesim("run " + scn + " -q -o " + out + " " + sets);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  H5 f(out);
  Rows rows;
  rows.id = testing::read_double_column(f.id, "/requests", "id");
  rows.session = testing::read_double_column(f.id, "/requests", "session_id");
  rows.worker = testing::read_double_column(f.id, "/requests", "decode_worker");
  rows.input = testing::read_double_column(f.id, "/requests", "input_tokens");
  rows.cached = testing::read_double_column(f.id, "/requests", "cached_tokens");
  rows.expected = testing::read_double_column(f.id, "/requests", "expected_cached_tokens");
  return rows;
}

double hit_rate(const Rows& r) {
  double in = 0, c = 0;
  for (size_t i = 0; i < r.input.size(); ++i) in += r.input[i], c += r.cached[i];
  return c / in;
}

double mean_gap(const Rows& r) {
  double g = 0;
  for (size_t i = 0; i < r.input.size(); ++i) g += std::fabs(r.expected[i] - r.cached[i]);
  return g / static_cast<double>(r.input.size());
}

TEST(KvRoutingE2E, HitRateEqualsTheExactBoundFromTheTrace) {
  testing::TempDir dir;
  // A heavy overlap weight makes prefix affinity dominate the load term: with weight 1 a
  // follow-up rightly goes elsewhere when its holder is busier by more than the blocks it
  // would save (Dynamo's cost rule); this test is about the indexer being exact.
  Rows rows = run(dir, kSessions, "--set router.overlap_score_weight=100", "bound");
  // the bound: with an unlimited cache, each request can reuse the leading blocks already seen
  // earlier in the trace (a full block, never the prompt's last token)
  auto scenario = load_scenario_string(kSessions, "sessions.yaml");
  TraceContext ctx{scenario.config.workload, ".", scenario.config.seed};
  auto src = make_trace_source(ctx);
  std::set<std::uint64_t> seen;
  double bound_tokens = 0, input_tokens = 0;
  while (auto t = src->next()) {
    size_t prefix = 0;
    while (prefix < t->hash_ids.size() && seen.count(t->hash_ids[prefix])) ++prefix;
    bound_tokens += static_cast<double>(std::min<size_t>(prefix, (t->input_tokens - 1) / 16) * 16);
    input_tokens += t->input_tokens;
    seen.insert(t->hash_ids.begin(), t->hash_ids.end());
  }
  ASSERT_GT(bound_tokens, 0);
  std::printf("prefix hit rate %.6f, exact bound %.6f\n", hit_rate(rows), bound_tokens / input_tokens);
  EXPECT_DOUBLE_EQ(hit_rate(rows), bound_tokens / input_tokens);
  // and every follow-up went to the worker holding its session's prefix
  std::map<double, double> session_worker;
  for (size_t i = 0; i < rows.id.size(); ++i) {
    auto [it, fresh] = session_worker.emplace(rows.session[i], rows.worker[i]);
    EXPECT_EQ(it->second, rows.worker[i]) << "session " << rows.session[i];
  }
  EXPECT_EQ(mean_gap(rows), 0.0);  // no latency, no eviction: the router's view is exact
}

TEST(KvRoutingE2E, EventLatencyMakesTheRouterStale) {
  testing::TempDir dir;
  Rows fresh = run(dir, kSessions, "", "fresh");
  Rows stale = run(dir, kSessions, "--set router.kv_event_latency=60s", "stale");
  std::printf("latency 0: hit %.4f gap %.1f tokens; latency 60s: hit %.4f gap %.1f tokens\n", hit_rate(fresh),
              mean_gap(fresh), hit_rate(stale), mean_gap(stale));
  EXPECT_GT(mean_gap(stale), mean_gap(fresh));
  EXPECT_LT(hit_rate(stale), hit_rate(fresh));
}

// The events-fed index read from the workers' own caches (router.index_store auto) gives the
// results of the table fed by every event, bit for bit: with caches small enough to evict, host
// offloading beside it, and workers that fail and start again (their columns detached), on
// sessions whose follow-ups reuse their prefixes. (Events in flight are undone as the unit test
// checks: auto takes the table when kv_event_latency is set.)
TEST(KvRoutingE2E, TheCacheViewIndexGivesTheTablesResultsBitForBit) {
  testing::TempDir dir;
  const std::string scenario = std::string(kSessions) + R"(
failures: {on_failure: retry, schedule: [{at: 60s, pool: workers, count: 1}, {at: 150s, pool: workers, count: 2}]}
planner:
  policy: scripted
  adjustment_interval: 10s
  scripted: [{at: 100s, pool: workers, replicas: 4}, {at: 200s, pool: workers, replicas: 2}, {at: 230s, pool: workers, replicas: 4}]
)";
  for (const char* variant : {"", "--set pools.0.engine.block_size=32 --set pools.0.engine.num_gpu_blocks=60",
                              "--set pools.0.kv_offload.host_gbytes=0.01 --set pools.0.engine.num_gpu_blocks=120"}) {
    SCOPED_TRACE(variant);
    const std::string sets = std::string(variant) + " --set workload.synthetic.arrival.rate=4";
    std::string a = dir.write("a.yaml", scenario), out_a = dir.file("view.h5"), out_b = dir.file("table.h5");
    auto ra = testing::run_servesim("run " + a + " -q -o " + out_a + " " + sets);
    auto rb = testing::run_servesim("run " + a + " -q -o " + out_b + " " + sets + " --set router.index_store=table");
    ASSERT_EQ(ra.exit_code, 0) << ra.out;
    ASSERT_EQ(rb.exit_code, 0) << rb.out;
    H5 fa(out_a), fb(out_b);
    for (const char* ds : {"/requests", "/timeseries/cluster", "/workers", "/control_plane"}) {
      auto x = testing::read_raw(fa.id, ds), y = testing::read_raw(fb.id, ds);
      ASSERT_FALSE(x.empty()) << ds;
      EXPECT_TRUE(x == y) << ds << " differs";
    }
    // the run exercised what the comparison is about: reuse, and workers that failed
    const auto cached = testing::read_double_column(fa.id, "/requests", "cached_tokens");
    EXPECT_GT(std::accumulate(cached.begin(), cached.end(), 0.0), 0.0);
    EXPECT_GE(testing::read_double_column(fa.id, "/summary", "worker_failures")[0], 3.0);
  }
}

TEST(KvRoutingE2E, ApproximateModeLearnsFromItsOwnDecisions) {
  testing::TempDir dir;
  Rows approx = run(dir, kSessions, "--set router.indexer=approximate --set router.approx_ttl=10m", "approx");
  Rows rr = run(dir, kSessions, "--set router.policy=round_robin", "rr");
  EXPECT_GT(hit_rate(approx), 2 * hit_rate(rr));
}

TEST(KvRoutingE2E, MooncakeKvAwareBeatsRoundRobin) {
  std::string trace = testing::data_file("mooncake/conversation_trace.jsonl.gz");
  testing::TempDir dir;
  std::string scn = std::string(SERVESIM_SOURCE_DIR) + "/scenarios/kv_routing.yaml";
  auto summary = [&](const std::string& policy) {
    std::string out = dir.file(policy + ".h5");
    auto r = testing::run_servesim("run " + scn + " -q -o " + out + " --set workload.end=10m --set router.policy=" + policy);
    EXPECT_EQ(r.exit_code, 0) << r.out;
    H5 f(out);
    return std::make_pair(testing::read_double_column(f.id, "/summary", "prefix_hit_rate")[0],
                          testing::read_double_column(f.id, "/summary", "ttft_mean_s")[0]);
  };
  auto [rr_hit, rr_ttft] = summary("round_robin");
  auto [kv_hit, kv_ttft] = summary("kv_aware");
  std::printf("Mooncake 10 min, 8 workers: round_robin hit %.4f TTFT %.3f s; kv_aware hit %.4f TTFT %.3f s\n", rr_hit,
              rr_ttft, kv_hit, kv_ttft);
  EXPECT_GT(kv_hit, rr_hit);
  EXPECT_LT(kv_ttft, rr_ttft);
}

}  // namespace
}  // namespace servesim

namespace servesim {
namespace {

TEST(KvRoutingE2E, StaleLoadReportsMakeTheRouterHerd) {
  // least_loaded on reports that arrive every 5 s: between reports every request goes to the
  // worker that looked idlest, so load spreads worse than with the router's own bookkeeping
  const char* scenario = R"(
name: herd
seed: 2
workload:
  synthetic:
    duration: 120s
    arrival: {process: poisson, rate: 20}
    input_length: {dist: fixed, value: 512}
    output_length: {dist: fixed, value: 200}
router: {policy: least_loaded}
pools:
  - {replicas: 4, model: llama-3.1-8b, gpu: h100_sxm}
)";
  testing::TempDir dir;
  auto imbalance = [&](const std::string& sets, const std::string& name) {
    std::string scn = dir.write(name + ".yaml", scenario), out = dir.file(name + ".h5");
    auto r = testing::run_servesim("run " + scn + " -q -o " + out + " " + sets);
    EXPECT_EQ(r.exit_code, 0) << r.out;
    H5 f(out);
    auto v = testing::read_double_column(f.id, "/timeseries/cluster", "load_imbalance");
    double sum = 0, n = 0;
    for (double x : v)
      if (!std::isnan(x)) sum += x, ++n;
    return sum / n;
  };
  double own = imbalance("", "own");
  double reports = imbalance("--set router.load_source=reports --set router.load_report_interval=5s", "reports");
  std::printf("mean max/mean KV imbalance: router bookkeeping %.3f, 5 s load reports %.3f\n", own, reports);
  EXPECT_GT(reports, own);
}

}  // namespace
}  // namespace servesim
