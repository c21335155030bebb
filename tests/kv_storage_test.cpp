// KV tiers shared below the workers' host memory (kv_storage: G3 a disk per node, G4 remote
// storage): blocks host memory evicts go down; a prompt that continues there waits while its
// blocks are fetched into host memory over the tier's shared link, then loads them as host hits.
// Times are hand arithmetic: a Llama-3.1-8B block of 16 tokens is 16 x 131,072 bytes.
#include <gmock/gmock.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "models/engine_scheduler.h"
#include "models/kv_cache.h"
#include "models/kv_storage.h"
#include "tests/engine_harness.h"
#include "tests/test_util.h"

namespace servesim {
namespace {

using ::testing::HasSubstr;
using H5 = testing::H5File;

constexpr double kBlockBytes = 16 * 131072.0;

// One worker (or `replicas`), 12 GPU blocks, host memory for 4 blocks (1 GB/s, 1 ms), and the
// given kv_storage.
std::string scenario(const std::string& trace, const std::string& storage, int replicas = 1) {
  return fmt::format(R"(
name: storage
workload: {{source: mooncake_jsonl, path: {}}}
router: {{policy: round_robin}}
pools:
  - name: w
    replicas: {}
    model: llama-3.1-8b
    gpu: h100_sxm
    engine: {{num_gpu_blocks: 12, block_size: 16, watermark: 0}}
    timing: {{model: polynomial, polynomial: {{constant_ms: 10, per_prefill_token_ms: 0.1, per_decode_seq_ms: 1}}}}
    kv_offload: {{host_gbytes: {}, host_gbyte_per_s: 1, host_latency: 1ms}}
kv_storage: {}
)",
                     trace, replicas, 4.5 * kBlockBytes / 1e9, storage);
}

// A (4 prompt blocks), B and D (11 each), then A's prompt again as C. B evicts A's blocks from the
// GPU into host memory; D evicts B's into host memory, which pushes A's four down to the tier
// below; C finds its first three blocks there (its last token is always computed).
std::string a_b_d_a(testing::TempDir& dir) {
  return testing::write_hash_trace(dir, {{0, 64, 1}, {1000, 176, 2}, {2000, 176, 3}, {3000, 64, 1}});
}

H5 run(testing::TempDir& dir, const std::string& name, const std::string& yaml) {
  const std::string out = dir.file(name + ".h5");
  auto r = testing::run_servesim("run " + dir.write(name + ".yaml", yaml) + " -q -o " + out);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  return H5(out);
}

double at(const H5& f, const char* column, size_t row) {
  return testing::read_double_column(f.id, "/requests", column).at(row);
}

TEST(KvStorage, APromptOnTheNodesDiskIsFetchedIntoHostMemoryThenLoaded) {
  testing::TempDir dir;
  H5 f = run(dir, "disk", scenario(a_b_d_a(dir), "{disk: {gbytes: 1, gbyte_per_s: 1, latency: 5ms}}"));
  const double fetch_s = 0.005 + 3 * kBlockBytes / 1e9;  // three blocks off the disk at 1 GB/s
  const double load_s = 0.001 + 3 * kBlockBytes / 1e9;   // then over PCIe at 1 GB/s
  EXPECT_EQ(at(f, "disk_tokens", 3), 48);
  EXPECT_EQ(at(f, "remote_tokens", 3), 0);
  EXPECT_NEAR(at(f, "fetch_s", 3), fetch_s, 1e-9);
  EXPECT_EQ(at(f, "offloaded_tokens", 3), 48);  // loaded from host memory, where the fetch put them
  EXPECT_NEAR(at(f, "onboard_s", 3), load_s, 1e-9);
  EXPECT_NEAR(at(f, "ttft_s", 3), fetch_s + load_s + 0.010 + 16 * 0.0001, 1e-9);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(at(f, "disk_tokens", i), 0) << i;
  auto summary = [&](const char* m) { return testing::read_double_column(f.id, "/summary", m).at(0); };
  EXPECT_NEAR(summary("kv_disk_hit_rate"), 48.0 / (64 + 176 + 176 + 64), 1e-12);
  EXPECT_NEAR(summary("kv_disk_read_gbytes"), 3 * kBlockBytes / 1e9, 1e-12);
  EXPECT_EQ(summary("kv_fetched_requests"), 1);
  // the disk's link: its bytes in the link time series, the whole window at most busy
  EXPECT_EQ(testing::read_string_column(f.id, "/links/info", "name"),
            (std::vector<std::string>{"disk.node0", "disk.node0.write"}));
  EXPECT_EQ(testing::read_string_column(f.id, "/links/info", "kind"), (std::vector<std::string>{"disk", "disk_write"}));
  std::vector<double> moved(2, 0.0);
  const auto links = testing::read_double_column(f.id, "/links/timeseries", "link");
  const auto bytes = testing::read_double_column(f.id, "/links/timeseries", "bytes");
  for (size_t i = 0; i < links.size(); ++i) moved.at(static_cast<size_t>(links[i])) += bytes[i];
  EXPECT_NEAR(moved[0], 3 * kBlockBytes, 1e-3);
  // writes: D's eviction of B's 11 blocks pushes A's 4 and B's first 7 out of host memory onto the
  // disk; the 3 blocks fetched for C push out B's next 3; C's own blocks evict 4 of D's from the
  // GPU, whose copies push out B's last and A's 3 (on the disk already: not written again)
  EXPECT_NEAR(moved[1], 15 * kBlockBytes, 1e-3);
  for (double u : testing::read_double_column(f.id, "/links/timeseries", "utilisation")) EXPECT_LE(u, 1 + 1e-9);
  // without the disk C computes its whole prompt
  H5 none = run(dir, "none", scenario(a_b_d_a(dir), "{}"));
  EXPECT_EQ(at(none, "cached_tokens", 3), 0);
  EXPECT_NEAR(at(none, "ttft_s", 3), 0.010 + 64 * 0.0001, 1e-9);
}

TEST(KvStorage, RemoteStorageServesWhatNoDiskHolds) {
  testing::TempDir dir;
  H5 f = run(dir, "remote", scenario(a_b_d_a(dir), "{remote: {gbytes: 1, gbyte_per_s: 2, latency: 10ms}}"));
  const double fetch_s = 0.010 + 3 * kBlockBytes / 2e9;
  EXPECT_EQ(at(f, "remote_tokens", 3), 48);
  EXPECT_EQ(at(f, "disk_tokens", 3), 0);
  EXPECT_NEAR(at(f, "fetch_s", 3), fetch_s, 1e-9);
  EXPECT_NEAR(at(f, "ttft_s", 3), fetch_s + 0.001 + 3 * kBlockBytes / 1e9 + 0.010 + 16 * 0.0001, 1e-9);
}

// A disk that holds 3 blocks keeps the last three host memory evicted, B's; A's went on to remote
// storage, which C reads them from.
TEST(KvStorage, ADiskEvictsIntoRemoteStorage) {
  testing::TempDir dir;
  const std::string storage = fmt::format(
      "{{disk: {{gbytes: {}, gbyte_per_s: 1}}, remote: {{gbytes: 1, gbyte_per_s: 1}}}}", 3.5 * kBlockBytes / 1e9);
  H5 f = run(dir, "both", scenario(a_b_d_a(dir), storage));
  EXPECT_EQ(at(f, "remote_tokens", 3), 48);
  EXPECT_EQ(at(f, "disk_tokens", 3), 0);
}

// Two workers on one node fetch three blocks each at the same instant: each gets half the disk's
// bandwidth. On nodes of one GPU each, each has a disk to itself.
TEST(KvStorage, FetchesShareTheirNodesDiskFairly) {
  testing::TempDir dir;
  // round robin: A, B, D, C on one worker; E, F, G, H (H repeats E) on the other; C and H at 3 s
  const std::string trace = testing::write_hash_trace(dir, {{0, 64, 1},
                                           {0, 64, 5},
                                           {1000, 176, 2},
                                           {1000, 176, 6},
                                           {2000, 176, 3},
                                           {2000, 176, 7},
                                           {3000, 64, 1},
                                           {3000, 64, 5}});
  auto fetch_times = [&](const std::string& name, int gpus_per_node) {
    H5 f = run(dir, name,
               scenario(trace, fmt::format("{{disk: {{gbytes: 1, gbyte_per_s: 1}}, gpus_per_node: {}}}", gpus_per_node), 2));
    return testing::read_double_column(f.id, "/requests", "fetch_s");
  };
  const auto shared = fetch_times("shared", 8), apart = fetch_times("apart", 1);
  ASSERT_EQ(shared.size(), 8u);
  EXPECT_EQ(fetch_times("shared_again", 8), shared);  // the same run again: the same, bit for bit
  for (size_t i = 6; i < 8; ++i) {
    EXPECT_NEAR(shared[i], 6 * kBlockBytes / 1e9, 1e-9) << i;  // 3 blocks at 0.5 GB/s
    EXPECT_NEAR(apart[i], 3 * kBlockBytes / 1e9, 1e-9) << i;
  }
}

// Two workers, each on a node of its own. A runs on one; two pairs of 11-block prompts, one of
// each pair per worker, push A's blocks through that worker's host memory to its node's disk; then
// A's prompt again. With router.storage_overlap_weight > 0 kv_aware sends it to the worker whose
// disk holds it (which fetches 3 blocks); at 0 both workers cost the same and the tie goes either way.
TEST(KvStorage, TheRouterSendsAPromptToTheNodeWhoseDiskHoldsIt) {
  testing::TempDir dir;
  const std::string trace = testing::write_hash_trace(
      dir, {{0, 64, 1}, {1000, 176, 2}, {1000, 176, 3}, {2000, 176, 4}, {2000, 176, 5}, {3000, 64, 1}});
  std::string yaml = scenario(trace, "{disk: {gbytes: 1, gbyte_per_s: 1}, gpus_per_node: 1}", 2);
  yaml.replace(yaml.find("router: {policy: round_robin}"), 29, "router: {policy: kv_aware}");
  const std::string path = dir.write("s.yaml", yaml);
  int elsewhere = 0;
  for (const std::string weight : {"0.5", "0"})
    for (int seed = 1; seed <= 8; ++seed) {
      const std::string out = dir.file(fmt::format("w{}_{}.h5", weight, seed));
      auto r = testing::run_servesim(fmt::format("run {} --seed {} --set router.storage_overlap_weight={} -q -o {}",
                                                 path, seed, weight, out));
      ASSERT_EQ(r.exit_code, 0) << r.out;
      H5 f(out);
      auto worker = [&](double id) { return testing::request_field(f.id, "decode_worker", id); };
      ASSERT_NE(worker(1), worker(2));  // each pair went one to each worker
      ASSERT_NE(worker(3), worker(4));
      if (weight == "0.5") {
        EXPECT_EQ(worker(5), worker(0)) << "seed " << seed;
        EXPECT_EQ(testing::request_field(f.id, "disk_tokens", 5), 48) << "seed " << seed;
      } else {
        elsewhere += worker(5) != worker(0);
      }
    }
  EXPECT_GT(elsewhere, 0);  // weight 0: the tie went to the other worker in some of 8 runs
}

// An attention-DP worker of two ranks, requests alternating between them (round robin): rank 0
// sees A, B, D and C as the single worker above does (rank 1 small prompts of its own), so C
// fetches the same three blocks from the node's disk into rank 0's host memory, in the same time.
TEST(KvStorage, AnAttentionDpRankFetchesIntoItsOwnHostMemory) {
  testing::TempDir dir;
  const std::string trace = testing::write_hash_trace(
      dir, {{0, 64, 1}, {500, 16, 7}, {1000, 176, 2}, {1500, 16, 8}, {2000, 176, 3}, {2500, 16, 9}, {3000, 64, 1}});
  std::string yaml = scenario(trace, "{disk: {gbytes: 1, gbyte_per_s: 1, latency: 5ms}}");
  yaml.replace(yaml.find("    replicas: 1\n"), 16, "    replicas: 1\n    attention_dp: 2\n");
  yaml.replace(yaml.find("watermark: 0}"), 13, "watermark: 0, dp_balance: round_robin}");
  H5 f = run(dir, "dp", yaml);
  EXPECT_EQ(at(f, "disk_tokens", 6), 48);
  EXPECT_NEAR(at(f, "fetch_s", 6), 0.005 + 3 * kBlockBytes / 1e9, 1e-9);
  EXPECT_EQ(at(f, "offloaded_tokens", 6), 48);
}

// The worker dies while C's fetch from slow remote storage is in flight; its replacement starts in
// 1 s and C, routed to it, fetches the same blocks again. The first fetch's arrival, 1 s before
// the second's, belongs to the dead engine: C waits for its own fetch, the whole 10 s latency.
// (C comes at 13 s: A's blocks, written to remote storage at 2 s, are readable there 10 s later.)
TEST(KvStorage, AFetchStartedBeforeItsWorkerDiedDoesNotServeTheRetry) {
  testing::TempDir dir;
  const std::string trace =
      testing::write_hash_trace(dir, {{0, 64, 1}, {1000, 176, 2}, {2000, 176, 3}, {13000, 64, 1}});
  std::string yaml = scenario(trace, "{remote: {gbytes: 1, gbyte_per_s: 1, latency: 10s}}");
  yaml.replace(yaml.find("    kv_offload:"), 0, "    lifecycle: {startup: {value: 1s}}\n");
  yaml += "failures: {schedule: [{at: 13.5s, pool: w}]}\n";
  H5 f = run(dir, "retry", yaml);
  EXPECT_EQ(testing::read_double_column(f.id, "/summary", "request_retries").at(0), 1);
  EXPECT_EQ(at(f, "remote_tokens", 3), 48);
  EXPECT_NEAR(at(f, "fetch_s", 3), 10 + 3 * kBlockBytes / 1e9, 1e-9);
  EXPECT_NEAR(at(f, "ttft_s", 3), 1.5 + 10 + 3 * kBlockBytes / 1e9 + 0.001 + 3 * kBlockBytes / 1e9 + 0.010 + 16 * 0.0001,
              1e-9);
}

// A block written into a tier is found there only once its write has reached it: D's allocation
// at 2 s pushes A's 4 blocks and B's first 7 from host memory down to remote storage, one batch
// of 11 blocks at 1 GB/s behind a 1.5 s latency, readable from about 3.52 s. C at 3 s finds
// nothing there and computes its whole prompt; C at 4 s reads A's three blocks.
TEST(KvStorage, ABlockIsReadWhereItWasWrittenOnlyOnceItsWriteArrived) {
  testing::TempDir dir;
  auto c_at = [&](int ms) {
    const std::string trace =
        testing::write_hash_trace(dir, {{0, 64, 1}, {1000, 176, 2}, {2000, 176, 3}, {ms, 64, 1}});
    return run(dir, fmt::format("c{}", ms), scenario(trace, "{remote: {gbytes: 1, gbyte_per_s: 1, latency: 1500ms}}"));
  };
  H5 early = c_at(3000), late = c_at(4000);
  EXPECT_EQ(at(early, "remote_tokens", 3), 0);
  EXPECT_EQ(at(early, "cached_tokens", 3), 0);
  EXPECT_NEAR(at(early, "ttft_s", 3), 0.010 + 64 * 0.0001, 1e-9);
  EXPECT_EQ(at(late, "remote_tokens", 3), 48);
  EXPECT_NEAR(at(late, "fetch_s", 3), 1.5 + 3 * kBlockBytes / 1e9, 1e-9);
}

TEST(KvStorage, ATierHoldingItsWritesFindsABlockOnceItsWriteArrived) {
  KvHostTier tier(4);
  std::int64_t now = 0;
  tier.hold_until_written([&] { return now; });
  for (std::uint64_t k : {1, 2, 3}) tier.store(k);
  const std::vector<std::uint64_t> keys{1, 2, 3};
  EXPECT_EQ(tier.size(), 3);  // they take their room at once
  EXPECT_FALSE(tier.holds(1));
  EXPECT_EQ(tier.peek(keys), 0);
  EXPECT_EQ(tier.match(keys), 0);
  // the first two writes on their way: one arrives at 100 ns, the next 50 ns later
  tier.writing(1, 2, 100, 50);
  now = 99;
  EXPECT_EQ(tier.peek(keys), 0);
  now = 100;
  EXPECT_EQ(tier.peek(keys), 1);
  now = 150;
  EXPECT_EQ(tier.peek(keys), 2);
  now = 10'000;
  EXPECT_FALSE(tier.holds(3));  // not in the batch
  // the third goes out before the first batch's end is confirmed: each batch keeps its own times
  tier.writing(3, 3, 20'000, 50);
  EXPECT_TRUE(tier.holds(2));
  EXPECT_FALSE(tier.holds(3));
  now = 20'000;
  EXPECT_TRUE(tier.holds(3));
  now = 10'000;
  tier.written_through(2);  // the first batch's end
  EXPECT_TRUE(tier.holds(2));
  EXPECT_FALSE(tier.holds(3));
  EXPECT_EQ(tier.peek(keys), 2);
  EXPECT_EQ(tier.match(keys), 2);
  tier.store(3);  // already on its way: not written again
  EXPECT_EQ(tier.stored(), 3u);
  EXPECT_FALSE(tier.holds(3));
  tier.written_through(1);  // completions only move forward
  EXPECT_TRUE(tier.holds(2));
  tier.written_through(3);
  EXPECT_EQ(tier.peek(keys), 3);
  tier.fill(9);  // fetched into it, not written: readable at once
  EXPECT_TRUE(tier.holds(9));
  KvHostTier host(4);  // a worker's host memory: readable as stored
  host.store(5);
  EXPECT_TRUE(host.holds(5));
}

// A client that goes away while its prompt is being fetched: the request leaves the engine then
// (it did not wait for the fetch before leaving), and the fetch's arrival starts nothing.
TEST(KvStorage, AnAbortDuringAFetchTakesTheRequestOut) {
  PoolConfig pool;
  pool.engine.scheduler = "vllm";
  pool.engine.block_size = 16;
  pool.engine.watermark = 0;
  KvStorage storage({.nodes = 1, .disk_blocks_per_node = 8, .remote_blocks = 0});
  SchedulerContext ctx{pool, 0, 64};
  ctx.offload = {.host_blocks = 8, .block_bytes = kBlockBytes, .gpu_block_bytes = kBlockBytes};
  ctx.storage = &storage;
  ctx.storage_node = 0;
  auto sched = SchedulerRegistry::instance().create("vllm", ctx);
  Request r = testing::make_request(0, 0, 64, 8, {1, 2, 3, 4});
  for (std::uint64_t key : prompt_block_keys(r.hash_ids, r.hash_block_tokens, r.input_tokens, pool.engine.block_size))
    storage.below_host(0)->store(key);
  sched->enqueue(&r, 0);
  BatchShape batch;
  sched->plan(0, batch);
  std::vector<EngineScheduler::StorageFetch> fetches;
  sched->take_fetches(fetches);
  ASSERT_EQ(fetches.size(), 1u);
  EXPECT_EQ(fetches[0].disk_blocks, 3);
  EXPECT_EQ(sched->load().waiting, 1);
  EXPECT_TRUE(sched->abort(&r));
  EXPECT_EQ(sched->load().waiting, 0);
  sched->fetched(&r, 1000);
  EXPECT_FALSE(sched->plan(1000, batch));
  EXPECT_EQ(sched->load().waiting + sched->load().running, 0);
}

TEST(KvStorage, TheTiersKeepKeysLeastRecentlyUsedAndPassEvictionsDown) {
  KvStorage s({.nodes = 2, .disk_blocks_per_node = 2, .remote_blocks = 3});
  KvHostTier* node0 = s.below_host(0);
  for (std::uint64_t k : {1, 2, 3}) node0->store(k);  // 1 leaves the disk for remote storage
  const std::vector<std::uint64_t> keys{1, 2, 3, 4};
  KvStorage::Hit hit = s.peek(0, keys);
  EXPECT_EQ(hit.remote_blocks, 1);  // 1
  EXPECT_EQ(hit.disk_blocks, 2);    // 2, 3
  EXPECT_EQ(s.peek(1, keys).blocks(), 1);  // node 1's disk is empty; remote storage is shared
  KvStorage no_disk({.nodes = 2, .disk_blocks_per_node = 0, .remote_blocks = 3});
  EXPECT_EQ(no_disk.below_host(1), no_disk.below_host(0));  // host memory evicts straight to remote
}

TEST(KvStorage, SettingsItCannotHonourAreRefused) {
  testing::TempDir dir;
  const std::string trace = a_b_d_a(dir);
  auto refused = [&](const std::string& name, const std::string& yaml, const std::string& key) {
    auto r = testing::run_servesim("validate " + dir.write(name + ".yaml", yaml));
    EXPECT_NE(r.exit_code, 0) << name;
    EXPECT_THAT(r.out, HasSubstr(key)) << name;
  };
  refused("no_rate", scenario(trace, "{disk: {gbytes: 1}}"), "kv_storage.disk.gbyte_per_s");
  refused("tiny", scenario(trace, "{remote: {gbytes: 0.000001, gbyte_per_s: 1}}"), "kv_storage.remote.gbytes");
  std::string blind = scenario(trace, "{}");
  blind.replace(blind.find("router: {policy: round_robin}"), 29, "router: {policy: kv_aware, storage_overlap_weight: 0.5}");
  refused("weight", blind, "router.storage_overlap_weight");
  std::string no_host = scenario(trace, "{disk: {gbytes: 1, gbyte_per_s: 1}}");
  no_host.replace(no_host.find("kv_offload:"), 11, "unused_key:");
  no_host.erase(no_host.find("    unused_key:"), no_host.find("kv_storage:") - no_host.find("    unused_key:"));
  refused("no_host", no_host, "no pool has host memory for KV");
}

}  // namespace
}  // namespace servesim
