// KV offloading to host memory (pools[].kv_offload): blocks evicted from the GPU's prefix cache
// are kept in the worker's host memory and loaded back over PCIe when a prompt needs them; the
// load's time is hand arithmetic, and with host memory enough for the whole trace a GPU cache of
// a few percent of it reuses every prefix the trace allows (the exact bound, in the groundtruth
// suite: prefix_cache_500_blocks_host_offload).
#include <gmock/gmock.h>
#include <fmt/format.h>
#include <gtest/gtest.h>


#include "models/kv_host_tier.h"
#include "tests/test_util.h"

namespace servesim {
namespace {

using ::testing::HasSubstr;
using H5 = testing::H5File;

std::string scenario(const std::string& trace, const std::string& offload) {
  return fmt::format(R"(
name: offload
workload: {{source: mooncake_jsonl, path: {}}}
pools:
  - name: w
    model: llama-3.1-8b
    gpu: h100_sxm
    engine: {{num_gpu_blocks: 12, block_size: 16, watermark: 0}}
    timing: {{model: polynomial, polynomial: {{constant_ms: 10, per_prefill_token_ms: 0.1, per_decode_seq_ms: 1}}}}
    kv_offload: {}
)",
                     trace, offload);
}

// A: 4 prompt blocks (and a fifth for its output), then cached; B needs all 12 GPU blocks and
// evicts A's; then A's prompt again.
std::string a_b_a(testing::TempDir& dir) { return testing::write_hash_trace(dir, {{0, 64, 1}, {1000, 176, 2}, {2000, 64, 1}}); }

// The a_b_a trace with this kv_offload setting: the results file.
std::string run_a_b_a(testing::TempDir& dir, const std::string& name, const std::string& offload) {
  const std::string out = dir.file(name + ".h5");
  auto r = testing::run_servesim("run " + dir.write(name + ".yaml", scenario(a_b_a(dir), offload)) + " -q -o " + out);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  return out;
}

TEST(KvOffload, APromptLoadsItsEvictedBlocksBackAndWaitsForTheCopy) {
  testing::TempDir dir;
  const std::string trace = a_b_a(dir);  // C, the third, repeats A's prompt
  auto run = [&](const std::string& name, const std::string& offload) {
    const std::string out = dir.file(name + ".h5");
    auto r = testing::run_servesim("run " + dir.write(name + ".yaml", scenario(trace, offload)) + " -q -o " + out);
    EXPECT_EQ(r.exit_code, 0) << r.out;
    return out;
  };
  H5 on(run("on", "{host_gbytes: 1, host_gbyte_per_s: 1, host_latency: 1ms}"));
  auto col = [&](const H5& f, const char* c) { return testing::read_double_column(f.id, "/requests", c); };
  // C: 3 of its 4 blocks come back (the last prompt token is always computed): a Llama-3.1-8B
  // block of 16 tokens is 16 x 131,072 bytes, 2.097152 ms at 1 GB/s; then 16 tokens of prefill
  const double load_s = 0.001 + 3 * 16 * 131072 / 1e9;
  EXPECT_NEAR(col(on, "onboard_s").at(2), load_s, 1e-9);
  // the worker's time series: the bytes loaded and the time its link was busy, window by window
  auto series = [&](const char* table, const char* c) { return testing::read_double_column(on.id, table, c); };
  const auto loaded = series("/workers", "kv_onboarded_bytes");
  const auto busy = series("/workers", "kv_onboard_busy_frac");
  const auto interval = series("/timeseries/cluster", "interval_s");
  ASSERT_EQ(loaded.size(), interval.size());  // one worker: a row per window
  double bytes = 0, busy_s = 0;
  for (size_t i = 0; i < loaded.size(); ++i) {
    bytes += loaded[i];
    busy_s += busy[i] * interval[i];
  }
  EXPECT_DOUBLE_EQ(bytes, 3 * 16 * 131072.0);
  EXPECT_NEAR(busy_s, load_s, 1e-9);
  double written = 0;
  for (double b : series("/workers", "kv_offloaded_bytes")) written += b;
  EXPECT_GE(written, 4 * 16 * 131072.0);  // at least A's four prompt blocks went to host memory
  EXPECT_NEAR(col(on, "ttft_s").at(2), load_s + 0.010 + 16 * 0.0001, 1e-9);
  EXPECT_EQ(col(on, "cached_tokens").at(2), 48);
  EXPECT_EQ(col(on, "offloaded_tokens").at(2), 48);
  EXPECT_EQ(col(on, "offloaded_tokens").at(1), 0);
  auto summary = [&](const H5& f, const char* m) { return testing::read_double_column(f.id, "/summary", m).at(0); };
  EXPECT_NEAR(summary(on, "kv_onboarded_gbytes"), 3 * 16 * 131072 / 1e9, 1e-12);
  // written back: A's four full blocks (B's prompt and first decode step evict them), then the
  // four of B's that C's prompt and decode step take
  EXPECT_NEAR(summary(on, "kv_offloaded_gbytes"), 8 * 16 * 131072 / 1e9, 1e-12);
  // without host memory C computes its whole prompt: 10 + 64 x 0.1 ms
  H5 off(run("off", "{host_gbytes: 0}"));
  EXPECT_NEAR(col(off, "ttft_s").at(2), 0.010 + 64 * 0.0001, 1e-9);
  EXPECT_EQ(col(off, "cached_tokens").at(2), 0);
}

TEST(KvOffload, BlockingWriteBackMakesTheEvictingIterationWaitForItsCopies) {
  testing::TempDir dir;
  const std::string trace = a_b_a(dir);
  auto run = [&](const std::string& name, const std::string& write_back) {
    const std::string out = dir.file(name + ".h5");
    const std::string offload = "{host_gbytes: 1, host_gbyte_per_s: 1, host_latency: 1ms, write_back: " + write_back + "}";
    auto r = testing::run_servesim("run " + dir.write(name + ".yaml", scenario(trace, offload)) + " -q -o " + out);
    EXPECT_EQ(r.exit_code, 0) << r.out;
    return out;
  };
  H5 overlapped(run("overlapped", "overlapped")), blocking(run("blocking", "blocking"));
  auto ttft = [](const H5& f) { return testing::read_double_column(f.id, "/requests", "ttft_s"); };
  const auto t0 = ttft(overlapped), t1 = ttft(blocking);
  ASSERT_EQ(t0.size(), 3u);
  ASSERT_EQ(t1.size(), 3u);
  // three blocks written back: 1 ms and 3 x 2.097152 ms at 1 GB/s (a block: 16 x 131,072 bytes)
  const double three_blocks_s = 0.001 + 3 * 16 * 131072 / 1e9;
  EXPECT_DOUBLE_EQ(t1[0], t0[0]);  // A evicts nothing: the cache is empty
  // B's 11 prompt blocks: A's partial fifth (free), the 7 never used, then 3 of A's 4 cached ones
  // (its first decode step evicts the fourth, after B's first token)
  EXPECT_NEAR(t1[1] - t0[1], three_blocks_s, 1e-9);
  // C's 4 (3 loaded, 1 computed): B's partial twelfth (free), then 3 of B's cached blocks; the
  // load and the write-back add up
  EXPECT_NEAR(t1[2] - t0[2], three_blocks_s, 1e-9);
  auto written = [](const H5& f) { return testing::read_double_column(f.id, "/summary", "kv_offloaded_gbytes").at(0); };
  EXPECT_DOUBLE_EQ(written(blocking), written(overlapped));  // the same copies, only their cost differs
  EXPECT_NEAR(written(blocking), 8 * 16 * 131072 / 1e9, 1e-12);
}

TEST(KvOffload, HostMemoryKeepsTheMostRecentlyEvictedBlocks) {
  testing::TempDir dir;
  // host memory for 2 blocks: of A's 4 evicted blocks the two evicted last stay. A sequence frees
  // its tail first, so those are its first two: C loads them and computes the rest
  H5 f(run_a_b_a(dir, "small", fmt::format("{{host_gbytes: {}}}", 2.5 * 16 * 131072 / 1e9)));
  EXPECT_EQ(testing::read_double_column(f.id, "/requests", "offloaded_tokens").at(2), 32);
}

// store: on_compute (a write-through): each prompt block is copied to host memory once, as it is
// computed, whether or not the GPU ever evicts it; C loads A's blocks back as with on_evict.
TEST(KvOffload, StoredAsComputedEveryPromptBlockCrossesOnceAndEvictionsCopyNothing) {
  testing::TempDir dir;
  H5 f(run_a_b_a(dir, "compute", "{host_gbytes: 1, host_gbyte_per_s: 1, host_latency: 1ms, store: on_compute}"));
  auto col = [&](const char* c) { return testing::read_double_column(f.id, "/requests", c); };
  const double load_s = 0.001 + 3 * 16 * 131072 / 1e9;
  EXPECT_NEAR(col("onboard_s").at(2), load_s, 1e-9);
  EXPECT_EQ(col("offloaded_tokens").at(2), 48);
  EXPECT_NEAR(col("ttft_s").at(2), load_s + 0.010 + 16 * 0.0001, 1e-9);
  // A's 4 prompt blocks and B's 11, each once; C's are all in host memory already (3 loaded, the
  // fourth computed again but stored by A). on_evict writes 8 (the first test).
  EXPECT_NEAR(testing::read_double_column(f.id, "/summary", "kv_offloaded_gbytes").at(0), 15 * 16 * 131072 / 1e9,
              1e-12);
}

TEST(KvOffload, StoredAsComputedTheHostKeepsTheMostRecentlyComputedBlocks) {
  testing::TempDir dir;
  // host memory for 2 blocks, as in the test before: on_evict keeps A's first two blocks (the last
  // ones the GPU evicted) and C loads them; on_compute keeps the last two blocks computed, B's
  // tenth and eleventh, so C finds none of its prompt there and computes it all
  H5 f(run_a_b_a(dir, "small", fmt::format("{{host_gbytes: {}, store: on_compute}}", 2.5 * 16 * 131072 / 1e9)));
  EXPECT_EQ(testing::read_double_column(f.id, "/requests", "offloaded_tokens").at(2), 0);
  EXPECT_NEAR(testing::read_double_column(f.id, "/requests", "ttft_s").at(2), 0.010 + 64 * 0.0001, 1e-9);
}

TEST(KvOffload, StoredAsComputedBlockingCopiesDelayTheNextIteration) {
  testing::TempDir dir;
  auto run = [&](const std::string& write_back) {
    return run_a_b_a(dir, write_back,
                     "{host_gbytes: 1, host_gbyte_per_s: 1, host_latency: 1ms, store: on_compute, write_back: " +
                         write_back + "}");
  };
  H5 overlapped(run("overlapped")), blocking(run("blocking"));
  auto col = [](const H5& f, const char* c) { return testing::read_double_column(f.id, "/requests", c); };
  const auto ttft0 = col(overlapped, "ttft_s"), ttft1 = col(blocking, "ttft_s");
  const auto e2e0 = col(overlapped, "e2e_s"), e2e1 = col(blocking, "e2e_s");
  ASSERT_EQ(e2e1.size(), 3u);
  auto copy_s = [](int blocks) { return 0.001 + blocks * 16 * 131072 / 1e9; };
  // each prompt's blocks are copied after its prefill: its decode step waits for them, its first
  // token does not
  for (size_t i = 0; i < 3; ++i) EXPECT_DOUBLE_EQ(ttft1[i], ttft0[i]) << i;
  EXPECT_NEAR(e2e1[0] - e2e0[0], copy_s(4), 1e-9);   // A: 4 blocks
  EXPECT_NEAR(e2e1[1] - e2e0[1], copy_s(11), 1e-9);  // B: 11 blocks
  EXPECT_NEAR(e2e1[2] - e2e0[2], 0, 1e-9);           // C: its blocks are there already
}

TEST(KvOffload, TheHostTierKeepsTheMostRecentKeysWithinItsCapacity) {
  KvHostTier tier(2000);
  for (std::uint64_t k = 1; k <= 3000; ++k) tier.store(k);
  EXPECT_EQ(tier.size(), 2000);
  EXPECT_EQ(tier.stored(), 3000u);
  const std::vector<std::uint64_t> oldest{1000, 1001}, kept{1001, 1002, 1003};
  EXPECT_EQ(tier.peek(oldest), 0);  // 1..1000 left first
  EXPECT_EQ(tier.match(kept), 3);   // and these become the most recent
  for (std::uint64_t k = 3001; k <= 4997; ++k) tier.store(k);  // 1,997 more push out 1004..3000
  EXPECT_EQ(tier.peek(kept), 3);
  const std::vector<std::uint64_t> gone{1004};
  EXPECT_EQ(tier.peek(gone), 0);
  tier.store(1002);  // already here: no copy
  EXPECT_EQ(tier.stored(), 4997u);
  tier.clear();  // an engine restart
  EXPECT_EQ(tier.size(), 0);
  EXPECT_EQ(tier.peek(kept), 0);
  tier.store(7);
  EXPECT_EQ(tier.size(), 1);
}

TEST(KvOffload, AWriteThroughStoresOnlyWhatTheHostTierLacksAndLeavesTheRestInPlace) {
  KvHostTier tier(2);
  tier.store_new(1);
  tier.store_new(2);
  tier.store_new(1);  // here already: no copy, and 1 stays the least recent (store() would refresh it)
  EXPECT_EQ(tier.stored(), 2u);
  tier.store_new(3);  // evicts 1
  const std::vector<std::uint64_t> one{1}, two_three{2, 3};
  EXPECT_EQ(tier.peek(one), 0);
  EXPECT_EQ(tier.peek(two_three), 2);
  EXPECT_EQ(tier.stored(), 3u);
}

TEST(KvOffload, TheHostTierReportsWhatItStoresAndEvicts) {
  KvHostTier tier(2);
  tier.store(1);  // not recording yet
  tier.record_events(true);
  tier.store(2);
  tier.store(2);  // already here: no event
  tier.store(3);  // evicts 1, the least recent
  const std::vector<KvEvent> events = tier.take_events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].kind, KvEvent::Kind::kStored);
  EXPECT_EQ(events[0].key, 2u);
  EXPECT_EQ(events[1].kind, KvEvent::Kind::kRemoved);
  EXPECT_EQ(events[1].key, 1u);
  EXPECT_EQ(events[2].kind, KvEvent::Kind::kStored);
  EXPECT_EQ(events[2].key, 3u);
  for (const KvEvent& e : events) EXPECT_EQ(e.medium, KvEvent::Medium::kCpu);
  EXPECT_TRUE(tier.take_events().empty());
}

// Two workers with 12 GPU blocks each. A (4 blocks) runs on one of them; two 11-block prompts
// arrive together, one per worker, and push A's blocks into that worker's host memory; then A's
// prompt again. The router sees the host copy through the workers' CPU events: at any positive
// host_overlap_weight it sends the repeat where A ran, and the repeat loads 3 blocks back; at
// weight 0 both workers cost the same and the tie goes either way.
TEST(KvOffload, TheRouterSendsAPromptToTheWorkerHoldingItInHostMemory) {
  testing::TempDir dir;
  const std::string trace = testing::write_hash_trace(dir, {{0, 64, 1}, {1000, 176, 2}, {1000, 176, 3}, {2000, 64, 1}});
  std::string yaml = scenario(trace, "{host_gbytes: 1}");
  yaml.replace(yaml.find("  - name: w\n"), 12, "  - name: w\n    replicas: 2\n");
  yaml += "router: {policy: kv_aware}\n";
  const std::string path = dir.write("s.yaml", yaml);
  int elsewhere = 0;
  for (const std::string weight : {"0.5", "0"})
    for (int seed = 1; seed <= 8; ++seed) {
      const std::string out = dir.file(fmt::format("w{}_{}.h5", weight, seed));
      auto r = testing::run_servesim(fmt::format("run {} --seed {} --set router.host_overlap_weight={} -q -o {}", path,
                                                 seed, weight, out));
      ASSERT_EQ(r.exit_code, 0) << r.out;
      H5 f(out);
      auto worker = [&](double id) { return testing::request_field(f.id, "decode_worker", id); };
      ASSERT_NE(worker(1), worker(2));  // the two long prompts went one to each worker
      if (weight == "0.5") {
        EXPECT_EQ(worker(3), worker(0)) << "seed " << seed;
        EXPECT_EQ(testing::request_field(f.id, "offloaded_tokens", 3), 48) << "seed " << seed;
      } else {
        elsewhere += worker(3) != worker(0);
      }
    }
  EXPECT_GT(elsewhere, 0);  // weight 0: the tie went to the other worker in some of 8 runs
}

TEST(KvOffload, SettingsItCannotHonourAreRefused) {
  testing::TempDir dir;
  const std::string trace = dir.write("t.jsonl", R"({"timestamp": 0, "input_length": 64, "output_length": 2})" "\n");
  std::string yaml = scenario(trace, "{host_gbytes: 0.000001}");
  auto r = testing::run_servesim("validate " + dir.write("tiny.yaml", yaml));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("pools.0.kv_offload.host_gbytes"));
  EXPECT_THAT(r.out, HasSubstr("not one KV block"));
  yaml = scenario(trace, "{host_gbytes: 1}");
  yaml.replace(yaml.find("watermark: 0"), 12, "watermark: 0, enable_prefix_caching: false");
  r = testing::run_servesim("validate " + dir.write("nocache.yaml", yaml));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("prefix caching is off"));
  r = testing::run_servesim("validate " + dir.write("wb.yaml", scenario(trace, "{host_gbytes: 1, write_back: sometimes}")));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("pools.0.kv_offload.write_back"));
  r = testing::run_servesim("validate " + dir.write("st.yaml", scenario(trace, "{host_gbytes: 1, store: always}")));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("pools.0.kv_offload.store"));
}

}  // namespace
}  // namespace servesim
