// The router's index read from the workers' prefix caches (CacheViewIndex) answers as the
// KvIndexer fed by the same KV events does: checked against it while real KvCaches churn,
// their events in flight for random delays, and engines restart.
#include <gtest/gtest.h>

#include <deque>
#include <vector>

#include "core/error.h"
#include "models/kv_cache.h"
#include "router/cache_view_index.h"
#include "router/kv_indexer.h"

namespace servesim {
namespace {

struct Lcg {
  std::uint64_t x;
  std::uint64_t next() { return x = x * 6364136223846793005ull + 1442695040888963407ull; }
  size_t below(size_t n) { return static_cast<size_t>((next() >> 33) % n); }
};

// A prompt of `blocks` chain keys along one of a few branches, so prompts share prefixes.
std::vector<std::uint64_t> prompt(Lcg& rng, size_t blocks) {
  std::vector<std::uint64_t> keys;
  std::uint64_t chain = 1 + rng.below(3);
  for (size_t j = 0; j < blocks; ++j) {
    chain = chain * 1000003ull + (j < 4 ? 0 : rng.below(j < 8 ? 2 : 6)) + 1;
    keys.push_back(chain);
  }
  return keys;
}

struct Engine {
  KvCache* cache;
  std::vector<std::vector<KvCache::BlockId>> running;  // each request's blocks
};

// One request admitted as an engine does: its cached prefix taken, the rest allocated and
// registered; nothing if it does not fit.
void admit(Engine& e, const std::vector<std::uint64_t>& keys) {
  std::vector<KvCache::BlockId> hit;
  e.cache->match_prefix(keys, &hit);
  const auto fresh = static_cast<std::int64_t>(keys.size() - hit.size());
  if (fresh > e.cache->free_blocks() - e.cache->evictable(hit)) return;
  std::vector<KvCache::BlockId> blocks;
  for (KvCache::BlockId b : hit) blocks.push_back(e.cache->acquire(b));
  std::vector<KvCache::BlockId> added;
  e.cache->allocate(fresh, added);
  e.cache->register_chain(added, std::span<const std::uint64_t>(keys).subspan(hit.size()),
                          hit.empty() ? 0 : keys[hit.size() - 1]);
  blocks.insert(blocks.end(), added.begin(), added.end());
  e.running.push_back(std::move(blocks));
}

TEST(CacheViewIndex, AnswersAsTheIndexerFedByTheSameEventsWhileEventsAreInFlightAndEnginesRestart) {
  constexpr size_t kWorkers = 5;
  constexpr std::int64_t kBlocks = 48;
  std::vector<KvCache> caches;
  caches.reserve(kWorkers);  // addresses fixed: the view reads them in place
  for (size_t w = 0; w < kWorkers; ++w) caches.emplace_back(kBlocks, 16);
  std::vector<Engine> engines;
  std::vector<const KvCache*> views;
  for (KvCache& c : caches) {
    engines.push_back(Engine{&c, {}});
    views.push_back(&c);
  }
  KvIndexer table(static_cast<std::int32_t>(kWorkers));
  CacheViewIndex view(views);
  struct Queued {
    std::int64_t due;
    std::int32_t column;
    std::vector<KvEvent> events;
  };
  std::deque<Queued> queue;  // publish order; each column's batches due in that order
  Lcg rng{11};
  std::int64_t now = 0, checks = 0, pending_checks = 0, restarts = 0;
  std::vector<std::int64_t> last_due(kWorkers, 0);
  const auto deliver_due = [&] {
    for (auto it = queue.begin(); it != queue.end();) {
      if (it->due > now) {
        ++it;
        continue;
      }
      table.apply(it->column, it->events);
      view.delivered(it->column, it->events);
      it = queue.erase(it);
    }
  };
  const auto in_flight = [&] {
    std::vector<CacheViewIndex::Batch> batches;
    for (const Queued& q : queue) batches.push_back({q.column, q.events});
    return batches;
  };
  for (int step = 0; step < 40000; ++step) {
    now += static_cast<std::int64_t>(rng.below(3));
    deliver_due();
    Engine& e = engines[rng.below(kWorkers)];
    const auto column = static_cast<std::int32_t>(&e - engines.data());
    const size_t op = rng.below(100);
    if (op < 45) {
      admit(e, prompt(rng, 1 + rng.below(12)));
    } else if (op < 85 && !e.running.empty()) {
      const size_t i = rng.below(e.running.size());
      e.cache->release_backwards(e.running[i]);
      e.running.erase(e.running.begin() + static_cast<std::ptrdiff_t>(i));
    } else if (op < 97) {
      // publish what the cache recorded, due after a random latency (no earlier than its last batch)
      std::vector<KvEvent> events = e.cache->take_events();
      if (!events.empty()) {
        const std::int64_t due = std::max(last_due[static_cast<size_t>(column)], now + static_cast<std::int64_t>(rng.below(6)));
        last_due[static_cast<size_t>(column)] = due;
        queue.push_back({due, column, std::move(events)});
      }
    } else if (op == 99 && rng.below(20) == 0) {
      // the engine restarts: the view detaches first; unpublished events are lost and a clear is published
      view.detach(column, in_flight());
      *e.cache = KvCache(kBlocks, 16);
      e.running.clear();
      queue.push_back({std::max(last_due[static_cast<size_t>(column)], now), column,
                       {KvEvent{.kind = KvEvent::Kind::kCleared, .key = 0}}});
      ++restarts;
    }
    if (step % 7 == 0) {
      const std::vector<std::uint64_t> keys = prompt(rng, 1 + rng.below(12));
      std::vector<std::int64_t> expected, got;
      table.overlaps(keys, 0, expected);
      const auto batches = in_flight();
      view.overlaps(keys, batches, got);
      ASSERT_EQ(got, expected) << "step " << step;
      ASSERT_EQ(view.entries(), table.entries()) << "step " << step;
      ++checks;
      bool any_pending = !batches.empty();
      for (const KvCache& c : caches) any_pending |= !c.unpublished_events().empty();
      pending_checks += any_pending;
    }
  }
  // the comparison covered every path: caches read as they are, pending events undone, restarts
  EXPECT_GT(checks, 5000);
  EXPECT_GT(pending_checks, checks / 4);
  EXPECT_LT(pending_checks, checks);
  EXPECT_GE(restarts, 3);
  EXPECT_GT(table.entries(), 0);
}

TEST(CacheViewIndex, AClearReachingAnAttachedColumnIsAnError) {
  KvCache cache(8, 16);
  CacheViewIndex view({&cache});
  const std::vector<KvEvent> clear = {KvEvent{.kind = KvEvent::Kind::kCleared, .key = 0}};
  EXPECT_THROW(view.delivered(0, clear), InvariantError);
}

}  // namespace
}  // namespace servesim
