// The router's KV indexer and the kv_aware policy (plain classes, no SystemC).
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "router/kv_indexer.h"
#include "router/router_policy.h"

namespace servesim {
namespace {

std::vector<std::int64_t> overlaps(const KvIndexer& idx, std::vector<std::uint64_t> keys, TimeNs now = 0) {
  std::vector<std::int64_t> out;
  idx.overlaps(keys, now, out);
  return out;
}

// Stores the key for the worker, or removes it if held, in the indexer and a reference set alike.
void toggle(KvIndexer& idx, std::set<std::pair<std::int32_t, std::uint64_t>>& ref, std::int32_t w, std::uint64_t key) {
  if (ref.count({w, key})) {
    idx.remove(w, key);
    ref.erase({w, key});
  } else {
    idx.store(w, key);
    ref.insert({w, key});
  }
}

TEST(KvIndexer, ChainsSharedPrefixesAndMiddleRemoval) {
  KvIndexer idx(3);
  for (std::uint64_t k : {1, 2, 3, 4}) idx.store(0, k);
  for (std::uint64_t k : {1, 2, 9}) idx.store(1, k);
  EXPECT_EQ(overlaps(idx, {1, 2, 3, 4, 5}), (std::vector<std::int64_t>{4, 2, 0}));
  EXPECT_EQ(overlaps(idx, {1, 2, 9}), (std::vector<std::int64_t>{2, 3, 0}));
  EXPECT_EQ(idx.entries(), 7);
  // removing a middle block cuts the chain after it, even though later blocks remain
  idx.remove(0, 2);
  EXPECT_EQ(overlaps(idx, {1, 2, 3, 4}), (std::vector<std::int64_t>{1, 2, 0}));
  idx.remove(0, 77);  // unknown: ignored
  idx.clear(1);
  EXPECT_EQ(overlaps(idx, {1, 2, 9}), (std::vector<std::int64_t>{1, 0, 0}));
  EXPECT_EQ(idx.entries(), 3);
  idx.clear(0);
  EXPECT_EQ(idx.entries(), 0);
}

TEST(KvIndexer, GrowsAndStaysConsistentUnderChurn) {
  KvIndexer idx(4);
  std::set<std::pair<std::int32_t, std::uint64_t>> ref;
  std::uint64_t x = 1;
  for (int step = 0; step < 100000; ++step) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    auto w = static_cast<std::int32_t>((x >> 33) % 4);
    std::uint64_t key = ((x >> 40) % 5000) + 1;
    toggle(idx, ref, w, key);
    if (step % 20000 == 0) idx.clear(static_cast<std::int32_t>(step / 20000 % 4)), std::erase_if(ref, [&](auto& p) {
                             return p.first == static_cast<std::int32_t>(step / 20000 % 4);
                           });
  }
  EXPECT_EQ(idx.entries(), static_cast<std::int64_t>(ref.size()));
  for (auto& [w, k] : ref) ASSERT_TRUE(idx.holds(w, k, 0));
}

TEST(KvIndexer, ApproximateEntriesExpire) {
  KvIndexer idx(2);
  idx.store(1, 5, /*expires_ns=*/100);
  idx.store(1, 6, 100);
  EXPECT_EQ(overlaps(idx, {5, 6}, 99), (std::vector<std::int64_t>{0, 2}));
  EXPECT_EQ(overlaps(idx, {5, 6}, 100), (std::vector<std::int64_t>{0, 0}));
  idx.store(1, 5, 200);  // routed again: refreshed
  EXPECT_EQ(overlaps(idx, {5, 6}, 150), (std::vector<std::int64_t>{0, 1}));
}

// More workers than one 64-bit word holds, TTL and event-fed entries mixed, clears: every
// overlap the indexer reports equals the one counted key by key from a plain reference set.
TEST(KvIndexer, OverlapsMatchAReferenceAcrossWordsOfWorkers) {
  constexpr std::int32_t kWorkers = 130;
  KvIndexer idx(kWorkers);
  std::map<std::pair<std::int32_t, std::uint64_t>, TimeNs> ref;  // (worker, key) -> expiry (-1: none)
  std::uint64_t x = 7;
  auto next = [&] { return x = x * 6364136223846793005ull + 1442695040888963407ull; };
  const std::vector<std::uint64_t> chain = {11, 12, 13, 14, 15, 16, 17, 18};
  for (int step = 0; step < 60000; ++step) {
    const auto w = static_cast<std::int32_t>((next() >> 33) % kWorkers);
    // mostly a prefix of one chain, so overlaps are long and many workers share keys
    const std::uint64_t key = (next() >> 40) % 4 ? chain[(x >> 20) % chain.size()] : (x >> 30) % 300 + 100;
    const TimeNs expires = (x >> 10) % 3 == 0 ? static_cast<TimeNs>((x >> 12) % 1000) : -1;
    if (ref.count({w, key}) && (x >> 8) % 2) {
      idx.remove(w, key);
      ref.erase({w, key});
    } else {
      idx.store(w, key, expires);
      ref[{w, key}] = expires;
    }
    if (step % 15000 == 7) {
      const auto c = static_cast<std::int32_t>(step % kWorkers);
      idx.clear(c);
      std::erase_if(ref, [&](auto& e) { return e.first.first == c; });
    }
    if (step % 500 == 0) {
      const TimeNs now = static_cast<TimeNs>(next() >> 54);
      std::vector<std::int64_t> expected(kWorkers, 0);
      for (std::int32_t v = 0; v < kWorkers; ++v)
        for (std::uint64_t k : chain) {
          auto it = ref.find({v, k});
          if (it == ref.end() || (it->second >= 0 && it->second <= now)) break;
          ++expected[static_cast<size_t>(v)];
        }
      ASSERT_EQ(overlaps(idx, chain, now), expected) << "step " << step;
    }
  }
  EXPECT_EQ(idx.entries(), static_cast<std::int64_t>(ref.size()));
}

// A lower tier's overlap continues each worker's match in the tier above from where it ended:
// every count equals the one taken key by key from a reference set.
TEST(KvIndexer, OverlapsFromEachWorkersStartMatchAReference) {
  constexpr std::int32_t kWorkers = 70;
  KvIndexer idx(kWorkers);
  std::set<std::pair<std::int32_t, std::uint64_t>> ref;
  std::uint64_t x = 3;
  auto next = [&] { return x = x * 6364136223846793005ull + 1442695040888963407ull; };
  const std::vector<std::uint64_t> chain = {21, 22, 23, 24, 25, 26, 27, 28, 29, 30};
  for (int step = 0; step < 20000; ++step) {
    const auto w = static_cast<std::int32_t>((next() >> 33) % kWorkers);
    const std::uint64_t key = chain[(next() >> 20) % chain.size()];
    toggle(idx, ref, w, key);
    if (step % 250 == 0) {
      std::vector<std::int64_t> from(kWorkers), expected(kWorkers, 0), extra;
      for (auto& f : from) f = static_cast<std::int64_t>((next() >> 40) % (chain.size() + 1));
      for (std::int32_t v = 0; v < kWorkers; ++v)
        for (auto i = static_cast<size_t>(from[static_cast<size_t>(v)]); i < chain.size() && ref.count({v, chain[i]}); ++i)
          ++expected[static_cast<size_t>(v)];
      idx.overlaps_from(chain, 0, from, extra);
      ASSERT_EQ(extra, expected) << "step " << step;
    }
  }
}

// Events of the other medium pass the indexer by, but a clear clears the worker in every tier.
TEST(KvIndexer, AppliesOneMediumsEvents) {
  KvIndexer gpu(2), host(2);
  const std::vector<KvEvent> events = {
      {.kind = KvEvent::Kind::kStored, .key = 1},
      {.kind = KvEvent::Kind::kStored, .medium = KvEvent::Medium::kCpu, .key = 2},
      {.kind = KvEvent::Kind::kStored, .medium = KvEvent::Medium::kCpu, .key = 3},
      {.kind = KvEvent::Kind::kRemoved, .medium = KvEvent::Medium::kCpu, .key = 3},
  };
  gpu.apply(1, events);
  host.apply(1, events, KvEvent::Medium::kCpu);
  EXPECT_TRUE(gpu.holds(1, 1, 0));
  EXPECT_FALSE(gpu.holds(1, 2, 0));
  EXPECT_TRUE(host.holds(1, 2, 0));
  EXPECT_FALSE(host.holds(1, 1, 0));
  EXPECT_FALSE(host.holds(1, 3, 0));
  const std::vector<KvEvent> clear = {{.kind = KvEvent::Kind::kCleared, .key = 0}};
  host.apply(1, clear, KvEvent::Medium::kCpu);
  EXPECT_EQ(host.entries(), 0);
}

std::unique_ptr<RouterPolicy> kv_aware(double weight, double temperature, std::uint64_t seed = 1,
                                       double host_weight = 0.5) {
  static RouterConfig cfg;  // the policy copies what it needs
  cfg.policy = "kv_aware";
  cfg.overlap_score_weight = weight;
  cfg.router_temperature = temperature;
  cfg.host_overlap_weight = host_weight;
  return RouterRegistry::instance().create("kv_aware", RouterContext{cfg, seed});
}

WorkerView view(std::int32_t id, std::int64_t active_blocks, std::int64_t overlap) {
  WorkerView v;
  v.worker_id = id;
  v.active_blocks = active_blocks;
  v.overlap_blocks = overlap;
  return v;
}

TEST(KvAwarePolicy, CostIsBlocksToPrefillPlusActiveBlocks) {
  Request r;
  auto p = kv_aware(1.0, 0);
  // costs: 10-0+5=15, 10-8+9=11, 10-2+2=10
  std::vector<WorkerView> w{view(0, 5, 0), view(1, 9, 8), view(2, 2, 2)};
  EXPECT_EQ(p->choose(r, 10, w), 2u);
  auto heavy = kv_aware(2.0, 0);  // 20+5=25, 4+9=13, 16+2=18
  EXPECT_EQ(heavy->choose(r, 10, w), 1u);
}

TEST(KvAwarePolicy, AHostMemoryHitCountsAsAFractionOfAGpuHit) {
  Request r;
  auto host_view = [](std::int32_t id, std::int64_t overlap, std::int64_t host) {
    WorkerView v = view(id, 0, overlap);
    v.host_overlap_blocks = host;
    return v;
  };
  // 10 blocks: a worker holding 4 on its GPU costs 6; one holding 6 in host memory costs
  // 10 - 0.5 x 6 = 7 at the default weight, 10 - 6 = 4 at weight 1, 10 at weight 0
  const std::vector<WorkerView> w{host_view(0, 4, 0), host_view(1, 0, 6)};
  EXPECT_EQ(kv_aware(1.0, 0, 1, 0.5)->choose(r, 10, w), 0u);
  EXPECT_EQ(kv_aware(1.0, 0, 1, 1.0)->choose(r, 10, w), 1u);
  // beside a worker with nothing, any positive weight prefers the host hit
  const std::vector<WorkerView> cold{host_view(0, 0, 0), host_view(1, 0, 6)};
  EXPECT_EQ(kv_aware(1.0, 0, 1, 0.1)->choose(r, 10, cold), 1u);
}

TEST(KvAwarePolicy, WeightZeroBalancesLoadLikeLeastLoaded) {
  Request r;
  auto p = kv_aware(0.0, 0);
  std::vector<WorkerView> w{view(0, 7, 10), view(1, 3, 0), view(2, 5, 10)};
  EXPECT_EQ(p->choose(r, 10, w), 1u);  // overlap ignored: fewest active blocks
  std::map<size_t, int> counts;
  std::vector<WorkerView> tied{view(0, 4, 9), view(1, 4, 0), view(2, 8, 9)};
  for (int i = 0; i < 2000; ++i) ++counts[p->choose(r, 10, tied)];
  EXPECT_EQ(counts.count(2), 0u);
  EXPECT_NEAR(counts[0], 1000, 120);  // ties broken at random
}

TEST(KvAwarePolicy, TemperatureSamplesASoftmaxOfNormalisedCosts) {
  Request r;
  auto p = kv_aware(1.0, 0.5, 7);
  // costs 10 and 20: normalised by 20, weights exp(0) : exp(-0.5/0.5) = 1 : e^-1
  std::vector<WorkerView> w{view(0, 0, 0), view(1, 10, 0)};
  int first = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) first += p->choose(r, 10, w) == 0;
  EXPECT_NEAR(first / static_cast<double>(n), 1 / (1 + std::exp(-1.0)), 0.015);
  EXPECT_EQ(kv_aware(1.0, 0)->choose(r, 10, w), 0u);  // temperature 0: always the cheapest
}

}  // namespace
}  // namespace servesim
