// The vLLM-style engine scheduler, driven directly (no SystemC).
#include <gtest/gtest.h>

#include <list>
#include <map>

#include "core/rng.h"
#include "models/kv_cache.h"
#include "tests/engine_harness.h"

namespace servesim {
namespace {

using testing::make_request;
using testing::run_engine;

PoolConfig pool(int max_seqs, int budget, bool chunked = true, bool prefix = true) {
  PoolConfig p;
  p.engine.scheduler = "vllm";
  p.engine.max_num_seqs = max_seqs;
  p.engine.max_num_batched_tokens = budget;
  p.engine.enable_chunked_prefill = chunked;
  p.engine.enable_prefix_caching = prefix;
  p.engine.watermark = 0;
  return p;
}

TEST(KvCache, PrefixReuseRefcountsAndLruEviction) {
  KvCache c(4, 16);
  auto a = c.allocate(), b = c.allocate();
  c.register_full(a, 11);
  c.register_full(b, 12);
  std::vector<std::uint64_t> keys{11, 12, 13};
  std::vector<KvCache::BlockId> hits;
  EXPECT_EQ(c.match_prefix(keys, &hits), 2);
  EXPECT_EQ(hits, (std::vector<KvCache::BlockId>{a, b}));
  EXPECT_EQ(c.evictable(hits), 0);  // both in use
  EXPECT_EQ(c.acquire(hits[0]), a);  // shared: two references
  c.release(a);
  c.release(a);
  c.release(b);
  EXPECT_EQ(c.free_blocks(), 4);  // unused cached blocks count as free...
  EXPECT_EQ(c.match_prefix(keys, &hits), 2);  // ...but stay resident
  EXPECT_EQ(c.evictable(hits), 2);
  // a was released before b: it is the least recently used and goes first
  auto ev = c.take_events();
  ASSERT_EQ(ev.size(), 2u);
  c.allocate();
  c.allocate();
  c.allocate();
  EXPECT_EQ(c.match_prefix(keys), 0);  // key 11 evicted: the chain breaks at its first block
  ev = c.take_events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, KvEvent::Kind::kRemoved);
  EXPECT_EQ(ev[0].key, 11u);
  EXPECT_EQ(c.allocate(), b);  // the last one evicts 12
  EXPECT_EQ(c.allocate(), -1);
}

// The cache as first written (a linked LRU list, an ordered key map, every block created up
// front): the reference the faster structures must agree with, allocation by allocation.
class ReferenceKvCache {
 public:
  explicit ReferenceKvCache(int n) : blocks_(static_cast<size_t>(n)) {
    for (int b = n - 1; b >= 0; --b) free_.push_back(b);
  }
  int allocate() {
    int id;
    if (!free_.empty()) {
      id = free_.back();
      free_.pop_back();
    } else if (!lru_.empty()) {
      id = lru_.front();
      lru_.pop_front();
      by_key_.erase(blocks_[static_cast<size_t>(id)].key);
      events.push_back({.kind = KvEvent::Kind::kRemoved, .key = blocks_[static_cast<size_t>(id)].key});
      blocks_[static_cast<size_t>(id)].keyed = false;
    } else {
      return -1;
    }
    blocks_[static_cast<size_t>(id)].refs = 1;
    return id;
  }
  void register_full(int id, std::uint64_t key, std::uint64_t parent) {
    Block& b = blocks_[static_cast<size_t>(id)];
    if (b.keyed || by_key_.count(key)) return;
    b.key = key;
    b.keyed = true;
    by_key_[key] = id;
    events.push_back({.kind = KvEvent::Kind::kStored, .key = key, .parent = parent});
  }
  std::vector<int> match(const std::vector<std::uint64_t>& keys) const {
    std::vector<int> out;
    for (std::uint64_t k : keys) {
      auto it = by_key_.find(k);
      if (it == by_key_.end()) break;
      out.push_back(it->second);
    }
    return out;
  }
  void acquire(int id) {
    if (blocks_[static_cast<size_t>(id)].refs++ == 0) lru_.remove(id);
  }
  void release(int id) {
    Block& b = blocks_[static_cast<size_t>(id)];
    if (--b.refs > 0) return;
    if (b.keyed) lru_.push_back(id);
    else free_.push_back(id);
  }
  std::int64_t free_blocks() const { return static_cast<std::int64_t>(free_.size() + lru_.size()); }
  std::vector<KvEvent> events;

 private:
  struct Block {
    std::uint64_t key = 0;
    int refs = 0;
    bool keyed = false;
  };
  std::vector<Block> blocks_;
  std::vector<int> free_;
  std::list<int> lru_;
  std::map<std::uint64_t, int> by_key_;
};

// Random sequences sharing prefixes, released and hit again: the same blocks handed out, the same
// prefix hits, the same events, in the same order, as the reference.
TEST(KvCache, AgreesWithTheReferenceUnderChurn) {
  constexpr int kBlocks = 300;
  KvCache cache(kBlocks, 16);
  ReferenceKvCache ref(kBlocks);
  Rng rng = make_rng(11, "kvcache-churn");
  std::vector<std::vector<KvCache::BlockId>> running;  // each sequence's blocks, prefix first
  for (int step = 0; step < 40000; ++step) {
    const auto op = rng() % 10;
    if (op < 5) {  // a sequence arrives: its chain of keys, some leading ones cached
      const std::uint64_t root = rng() % 6 + 1;
      std::vector<std::uint64_t> keys;
      for (std::uint64_t j = 0, n = rng() % 30 + 1; j < n; ++j) keys.push_back(root * 1000 + (j < 10 ? j : j + 100 * (rng() % 3)));
      std::vector<KvCache::BlockId> hits;
      const std::int64_t hit = cache.match_prefix(keys, &hits);
      const std::vector<int> ref_hits = ref.match(keys);
      ASSERT_EQ(std::vector<int>(hits.begin(), hits.end()), ref_hits) << step;
      const auto fresh = static_cast<std::int64_t>(keys.size()) - hit;
      if (fresh > cache.free_blocks() - cache.evictable(hits)) continue;
      std::vector<KvCache::BlockId> blocks;
      for (KvCache::BlockId b : hits) blocks.push_back(cache.acquire(b)), ref.acquire(b);
      if (rng() % 2) {
        cache.allocate(fresh, blocks);
      } else {
        for (std::int64_t i = 0; i < fresh; ++i) blocks.push_back(cache.allocate());
      }
      for (std::int64_t i = 0; i < fresh; ++i) ASSERT_EQ(blocks[static_cast<size_t>(hit + i)], ref.allocate()) << step;
      const auto from = static_cast<size_t>(hit);
      cache.register_chain(std::span(blocks).subspan(from), std::span(keys).subspan(from), from ? keys[from - 1] : 0);
      for (size_t i = from; i < keys.size(); ++i) ref.register_full(blocks[i], keys[i], i ? keys[i - 1] : 0);
      running.push_back(std::move(blocks));
    } else if (!running.empty()) {  // one finishes
      const size_t i = rng() % running.size();
      cache.release_backwards(running[i]);
      for (auto it = running[i].rbegin(); it != running[i].rend(); ++it) ref.release(*it);
      running.erase(running.begin() + static_cast<std::ptrdiff_t>(i));
    }
    ASSERT_EQ(cache.free_blocks(), ref.free_blocks()) << step;
    const std::vector<KvEvent> events = cache.take_events();
    ASSERT_EQ(events.size(), ref.events.size()) << step;
    for (size_t i = 0; i < events.size(); ++i) {
      ASSERT_EQ(events[i].kind, ref.events[i].kind) << step;
      ASSERT_EQ(events[i].key, ref.events[i].key) << step;
      ASSERT_EQ(events[i].parent, ref.events[i].parent) << step;
    }
    ref.events.clear();
  }
}

TEST(KvCache, BlockKeysChainThePrefix) {
  // 512-token trace blocks mapped onto 16-token engine blocks
  auto k1 = prompt_block_keys(std::vector<std::uint64_t>{7, 8}, 512, 1000, 16);
  auto k2 = prompt_block_keys(std::vector<std::uint64_t>{7, 9}, 512, 1000, 16);
  auto k3 = prompt_block_keys(std::vector<std::uint64_t>{6, 8}, 512, 1000, 16);
  ASSERT_EQ(k1.size(), 62u);  // floor(1000/16)
  EXPECT_TRUE(std::equal(k1.begin(), k1.begin() + 32, k2.begin()));  // same first trace block
  EXPECT_NE(k1[32], k2[32]);
  EXPECT_NE(k1[0], k3[0]);
  EXPECT_NE(k1[40], k3[40]);  // a different first block changes every later key
  std::set<std::uint64_t> unique(k1.begin(), k1.end());
  EXPECT_EQ(unique.size(), k1.size());
}

TEST(VllmEngine, ChunkedPrefillTakesCeilLenOverBudgetIterations) {
  auto p = pool(4, 2048);
  auto run = run_engine(p, 100000, {make_request(0, 0, 10000, 3)}, [](const BatchShape&) { return 1000; });
  // ceil(10000 / 2048) = 5 prefill iterations, the 5th emits the first token; then 2 decodes
  ASSERT_EQ(run.batches.size(), 7u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(run.batches[i].prefill_tokens, 2048);
  EXPECT_EQ(run.batches[4].prefill_tokens, 10000 - 4 * 2048);
  EXPECT_EQ(run.requests[0].first_token_ns, 5000);
  EXPECT_EQ(run.batches[5].decode_seqs, 1);
  EXPECT_EQ(run.batches[5].decode_context_tokens, 10001);
  EXPECT_EQ(run.batches[6].decode_context_tokens, 10002);
  // attention pairs: chunk c after k earlier tokens does c*k + c(c+1)/2
  EXPECT_DOUBLE_EQ(run.batches[1].prefill_attention_pairs, 2048.0 * 2048 + 2048.0 * 2049 / 2);
}

TEST(VllmEngine, DecodesComeFirstThenPrefillChunksFillTheBudget) {
  auto p = pool(8, 100);
  std::vector<Request> rs{make_request(0, 0, 10, 50), make_request(1, 1, 500, 2)};
  auto run = run_engine(p, 10000, rs, [](const BatchShape&) { return 10; });
  // iteration 1: request 0 prefills (10 tokens); at t=10 request 1 is waiting
  EXPECT_EQ(run.batches[1].decode_seqs, 1);
  EXPECT_EQ(run.batches[1].prefill_tokens, 99);  // budget 100 minus one decode
}

TEST(VllmEngine, DecodeOnlyItlEqualsTheTimingModel) {
  auto p = pool(16, 4096);
  std::vector<Request> rs;
  for (int i = 0; i < 8; ++i) rs.push_back(make_request(static_cast<std::uint64_t>(i), 0, 32, 101));
  // iteration time: 5 ms + 0.25 ms per decoding sequence
  auto run = run_engine(p, 10000, rs, [](const BatchShape& b) { return 5'000'000 + 250'000 * b.decode_seqs; });
  for (auto& r : run.requests) {
    EXPECT_EQ(r.tokens_emitted, 101u);
    EXPECT_DOUBLE_EQ(r.mean_itl_s(), 0.007);  // the batch of 8 decodes, every step
  }
  for (size_t i = 1; i < run.results.size(); ++i) EXPECT_EQ(run.results[i].decode_tokens, 8);
}

TEST(VllmEngine, PrefixCachingReusesASharedChainUntilEvicted) {
  auto p = pool(4, 8192);
  std::vector<std::uint64_t> shared{1, 2, 3};  // 3 x 16-token trace blocks
  std::vector<Request> rs{make_request(0, 0, 40, 2, shared), make_request(1, 1'000'000, 40, 2, shared)};
  auto run = run_engine(p, 64, rs, [](const BatchShape&) { return 1000; });
  EXPECT_EQ(run.requests[0].cached_tokens, 0u);
  EXPECT_EQ(run.requests[1].cached_tokens, 32u);  // two full 16-token blocks of a 40-token prompt
  // unrelated traffic that needs every block evicts the chain
  std::vector<Request> rs2{make_request(0, 0, 40, 2, shared)};
  for (int i = 1; i <= 8; ++i)
    rs2.push_back(make_request(static_cast<std::uint64_t>(i), i * 1'000'000, 60, 4,
                               {100u + 10u * static_cast<std::uint64_t>(i), 101u + 10u * static_cast<std::uint64_t>(i),
                                102u + 10u * static_cast<std::uint64_t>(i), 103u + 10u * static_cast<std::uint64_t>(i)}));
  rs2.push_back(make_request(9, 20'000'000, 40, 2, shared));
  auto run2 = run_engine(p, 8, rs2, [](const BatchShape&) { return 1000; });
  EXPECT_EQ(run2.requests[9].cached_tokens, 0u);
  // the whole prompt cached still leaves its last token to compute
  std::vector<Request> rs3{make_request(0, 0, 48, 1, shared), make_request(1, 1'000'000, 48, 1, shared)};
  auto run3 = run_engine(p, 64, rs3, [](const BatchShape&) { return 1000; });
  EXPECT_EQ(run3.requests[1].cached_tokens, 32u);
}

TEST(VllmEngine, PreemptionByRecomputeWhenBlocksRunOut) {
  auto p = pool(32, 4096);
  std::vector<Request> rs;
  for (int i = 0; i < 24; ++i) rs.push_back(make_request(static_cast<std::uint64_t>(i), i * 1000, 100, 200));
  // 24 sequences growing to 300 tokens need 24 x 19 blocks; give them 120
  auto run = run_engine(p, 120, rs, [](const BatchShape& b) { return 1000 + 10 * b.prefill_tokens + 50 * b.decode_seqs; });
  std::uint64_t preemptions = 0;
  for (auto& r : run.requests) {
    preemptions += r.preemptions;
    EXPECT_EQ(r.tokens_emitted, r.output_tokens);
    EXPECT_EQ(r.status, RequestStatus::kCompleted);
  }
  EXPECT_GT(preemptions, 0u);
  // never more blocks in use than exist: every batch's KV fits
  for (auto& b : run.batches) EXPECT_LE(b.decode_context_tokens, 120 * 16);
}

TEST(VllmEngine, LazyDecodeMatchesTheSimpleSchedulerExactly) {
  // With no chunking, no prefix cache and room for everything, the vLLM scheduler must make
  // the same decisions as the O(running) stand-in: a differential check of the lazy bookkeeping.
  Rng rng = make_rng(3, "diff");
  std::vector<Request> rs;
  TimeNs t = 0;
  for (int i = 0; i < 3000; ++i) {
    t += static_cast<TimeNs>(rng() % 4'000'000);
    rs.push_back(make_request(static_cast<std::uint64_t>(i), t, 1 + static_cast<std::uint32_t>(rng() % 3000),
                              1 + static_cast<std::uint32_t>(rng() % 400)));
  }
  auto timing = [](const BatchShape& b) {
    return 2'000'000 + 300 * b.prefill_tokens + 40'000 * b.decode_seqs + 20 * b.decode_context_tokens;
  };
  auto vp = pool(64, 4096, false, false);
  auto bp = vp;
  bp.engine.scheduler = "basic";
  auto v = run_engine(vp, 1'000'000, rs, timing), b = run_engine(bp, 1'000'000, rs, timing);
  ASSERT_EQ(v.batches.size(), b.batches.size());
  for (size_t i = 0; i < rs.size(); ++i) {
    ASSERT_EQ(v.requests[i].first_token_ns, b.requests[i].first_token_ns) << i;
    ASSERT_EQ(v.requests[i].finish_ns, b.requests[i].finish_ns) << i;
  }
  for (size_t i = 0; i < v.batches.size(); ++i)
    ASSERT_EQ(v.batches[i].decode_context_tokens, b.batches[i].decode_context_tokens) << i;
}

TEST(VllmEngine, RequestLargerThanTheCacheIsAClearError) {
  auto p = pool(4, 4096);
  try {
    run_engine(p, 10, {make_request(0, 0, 1000, 10)}, [](const BatchShape&) { return 1; });
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("needs 64 KV blocks but worker 0 has 10"), std::string::npos) << e.what();
  }
}

TEST(VllmEngine, PriorityPolicyServesLowerPriorityValuesFirst) {
  auto p = pool(1, 4096);
  p.engine.policy = "priority";
  std::vector<Request> rs{make_request(0, 0, 10, 5), make_request(1, 1, 10, 5), make_request(2, 2, 10, 5)};
  rs[1].priority = 5;
  rs[2].priority = -1;
  auto run = run_engine(p, 1000, rs, [](const BatchShape&) { return 100; });
  EXPECT_LT(run.requests[2].first_token_ns, run.requests[1].first_token_ns);
}

}  // namespace
}  // namespace servesim

namespace servesim {
namespace {

TEST(BlockKeyMap, MatchesAReferenceMapUnderRandomInsertsAndEvictions) {
  // The owner's side as KvCache plays it: values are blocks, a block's key lives with the owner,
  // an eviction only clears it there, and a full map is rebuilt from the live keys.
  constexpr std::int32_t kBlocks = 1500;
  std::vector<std::uint64_t> key_of_block(kBlocks, 0);
  auto key_of = [&](std::int32_t v) { return key_of_block.at(static_cast<size_t>(v)); };
  std::map<std::uint64_t, std::int32_t> ref;
  BlockKeyMap m(64);  // small, so it is rebuilt many times
  int rebuilds = 0;
  Rng rng = make_rng(5, "keymap");
  for (int step = 0; step < 200000; ++step) {
    // few distinct low bits: long probe runs that wrap around
    const std::uint64_t key = ((rng() % 200) << 20 | (rng() % 16)) + 1;
    const auto block = static_cast<std::int32_t>(rng() % kBlocks);
    if (auto it = ref.find(key); it != ref.end()) {
      ASSERT_EQ(m.find(key, key_of), it->second);
      if (key_of_block[static_cast<size_t>(block)] == 0) {
        ASSERT_FALSE(m.try_insert(key, block, key_of));  // held by another block: unchanged
      }
      ASSERT_EQ(m.find(key, key_of), it->second);
      key_of_block[static_cast<size_t>(it->second)] = 0;  // evicted: the entry goes stale
      ref.erase(it);
      ASSERT_EQ(m.find(key, key_of), -1);
    } else if (key_of_block[static_cast<size_t>(block)] == 0) {
      ASSERT_EQ(m.find(key, key_of), -1);
      if (m.full()) {
        m.reset(3 * (ref.size() + 1));  // tight: long probe runs over stale entries, many rebuilds
        for (size_t b = 0; b < key_of_block.size(); ++b)
          if (key_of_block[b]) m.insert_new(key_of_block[b], static_cast<std::int32_t>(b));
        ++rebuilds;
      }
      const size_t before = m.slots();
      ASSERT_TRUE(m.try_insert(key, block, key_of));
      ASSERT_EQ(m.slots(), before);  // never grows by itself
      key_of_block[static_cast<size_t>(block)] = key;
      ref[key] = block;
    }
  }
  for (auto& [k, v] : ref) ASSERT_EQ(m.find(k, key_of), v);
  EXPECT_GT(rebuilds, 10);
}

TEST(BlockKeyMap, KeysSharingAFingerprintAreToldApartByTheirKeys) {
  // fingerprint(key) = the top 32 bits of key x the golden-ratio multiplier: two keys whose
  // products differ only in the low 32 bits share it. Build two from the multiplier's inverse
  // (mod 2^64) and check that the map confirms every fingerprint match with key_of.
  constexpr std::uint64_t kGolden = 0x9E3779B97F4A7C15ULL, kInverse = 0xF1DE83E19937733DULL;
  static_assert(kGolden * kInverse == 1);
  const std::uint64_t a = 12345 * kInverse, b = (12345 + 7) * kInverse;  // products 12345 and 12352
  ASSERT_EQ((a * kGolden) >> 32, (b * kGolden) >> 32);                    // same fingerprint (0)
  std::map<std::int32_t, std::uint64_t> keys{{0, 0}, {1, 0}};  // blocks 0 and 1, no key yet
  auto key_of = [&](std::int32_t v) { return keys.at(v); };
  BlockKeyMap m;
  ASSERT_TRUE(m.try_insert(a, 0, key_of));
  keys[0] = a;
  EXPECT_EQ(m.find(b, key_of), -1);
  ASSERT_TRUE(m.try_insert(b, 1, key_of));
  keys[1] = b;
  EXPECT_EQ(m.find(a, key_of), 0);
  EXPECT_EQ(m.find(b, key_of), 1);
  keys[0] = 0;  // block 0 evicted: its entry no longer confirms
  EXPECT_EQ(m.find(a, key_of), -1);
  EXPECT_EQ(m.find(b, key_of), 1);
  ASSERT_TRUE(m.try_insert(a, 0, key_of));  // the same pair again revives the stale entry
  keys[0] = a;
  EXPECT_EQ(m.find(a, key_of), 0);
}

}  // namespace
}  // namespace servesim

namespace servesim {
namespace {

PoolConfig sglang_pool(int max_seqs, int budget) {
  PoolConfig p;
  p.engine.scheduler = "sglang";
  p.engine.max_num_seqs = max_seqs;
  p.engine.max_num_batched_tokens = budget;
  p.engine.watermark = 0;
  return p;
}

TEST(SglangEngine, PrefillAndDecodeNeverShareAnIteration) {
  Rng rng = make_rng(9, "sglang");
  std::vector<Request> rs;
  for (int i = 0; i < 500; ++i)
    rs.push_back(testing::make_request(static_cast<std::uint64_t>(i), i * 2'000'000, 1 + static_cast<std::uint32_t>(rng() % 2000),
                                       1 + static_cast<std::uint32_t>(rng() % 300)));
  auto run = testing::run_engine(sglang_pool(64, 4096), 100000, rs,
                                 [](const BatchShape& b) { return 1'000'000 + 100 * b.prefill_tokens + 20'000 * b.decode_seqs; });
  int prefill_only = 0, decode_only = 0;
  for (auto& b : run.batches) {
    ASSERT_FALSE(b.prefill_seqs > 0 && b.decode_seqs > 0);
    prefill_only += b.prefill_seqs > 0;
    decode_only += b.decode_seqs > 0;
  }
  EXPECT_GT(prefill_only, 0);
  EXPECT_GT(decode_only, 0);
  for (auto& r : run.requests) EXPECT_EQ(r.tokens_emitted, r.output_tokens);
}

TEST(SglangEngine, LongestPrefixMatchIsAdmittedFirst) {
  // one sequence at a time: request 1 (no shared prefix) arrives before request 2 (shares
  // request 0's prefix); LPM serves request 2 first, FCFS (vllm) request 1
  std::vector<std::uint64_t> shared{1, 2, 3, 4};
  std::vector<Request> rs{testing::make_request(0, 0, 64, 20, shared), testing::make_request(1, 1000, 64, 5, {50, 51, 52, 53}),
                          testing::make_request(2, 2000, 64, 5, shared)};
  auto timing = [](const BatchShape&) { return 1'000'000; };
  auto lpm = testing::run_engine(sglang_pool(1, 4096), 1000, rs, timing);
  EXPECT_LT(lpm.requests[2].first_token_ns, lpm.requests[1].first_token_ns);
  EXPECT_EQ(lpm.requests[2].cached_tokens, 48u);
  auto fcfs = testing::run_engine(pool(1, 4096), 1000, rs, timing);
  EXPECT_LT(fcfs.requests[1].first_token_ns, fcfs.requests[2].first_token_ns);
}

TEST(SglangEngine, PreemptionKeepsTokensConserved) {
  std::vector<Request> rs;
  for (int i = 0; i < 24; ++i) rs.push_back(testing::make_request(static_cast<std::uint64_t>(i), i * 1000, 100, 200));
  auto run = testing::run_engine(sglang_pool(32, 4096), 120, rs, [](const BatchShape& b) { return 1000 + 50 * b.decode_seqs; });
  std::uint64_t preemptions = 0;
  for (auto& r : run.requests) {
    preemptions += r.preemptions;
    EXPECT_EQ(r.tokens_emitted, r.output_tokens);
  }
  EXPECT_GT(preemptions, 0u);
}

}  // namespace
}  // namespace servesim

namespace servesim {
namespace {

TEST(SglangEngine, NoChunkingNeverPlansAPrefillItCannotAdmit) {
  // 20 blocks; a 32-token request (2 blocks) decodes while a 300-token prompt (19 blocks, above the 64-token
  // budget) waits. Its first chunk would fit, the whole prompt not: the engine must keep
  // decoding until there is room, not plan a prefill-only iteration it then cannot fill.
  PoolConfig p;
  p.engine.scheduler = "sglang";
  p.engine.max_num_seqs = 4;
  p.engine.max_num_batched_tokens = 64;
  p.engine.enable_chunked_prefill = false;
  p.engine.watermark = 0;
  std::vector<Request> rs{testing::make_request(0, 0, 32, 40), testing::make_request(1, 1000, 300, 3)};
  auto run = testing::run_engine(p, 20, rs, [](const BatchShape&) { return 1'000'000; });
  EXPECT_EQ(run.requests[1].tokens_emitted, 3u);
  EXPECT_GT(run.requests[1].first_token_ns, run.requests[0].finish_ns - 1);
}

}  // namespace
}  // namespace servesim

namespace servesim {
namespace {

// SGLang under KV pressure: A decodes alone while the new-token ratio decays (0.7 -> ~0.4 after
// 300 steps), so B is admitted against A's discounted remaining output; both then outgrow the
// 40-block cache. SGLang retracts the decoding request with the fewest output tokens (B), which
// keeps its prefix, re-enters the queue and finishes after A: nothing is lost, nothing stalls.
TEST(SglangEngine, RetractsTheDecodeWithFewestOutputTokensAndFinishesEveryRequest) {
  std::vector<Request> rs{testing::make_request(0, 0, 16, 500), testing::make_request(1, 300'000'000, 16, 200)};
  auto run = testing::run_engine(sglang_pool(8, 512), 40, rs, [](const BatchShape&) { return 1'000'000; });
  const Request &a = run.requests[0], &b = run.requests[1];
  EXPECT_EQ(a.preemptions, 0u);
  EXPECT_EQ(b.preemptions, 1u) << "the cache was not over-committed, or the wrong request was retracted";
  EXPECT_EQ(a.tokens_emitted, 500u);
  EXPECT_EQ(b.tokens_emitted, 200u);
  EXPECT_GT(b.first_token_ns, 300'000'000);
  EXPECT_GT(b.finish_ns, a.finish_ns);
  // prefill and decode never share an iteration, before or after the retraction
  for (const auto& batch : run.batches) EXPECT_FALSE(batch.prefill_seqs > 0 && batch.decode_seqs > 0);
}

}  // namespace
}  // namespace servesim

