#pragma once
// The router's events-fed prefix index answered from the workers' own prefix caches.
//
// A worker's cache reports every change of its key set as a KV event (a key stored only where no
// block holds it, removed only when its block is evicted, the whole set cleared when the engine
// restarts), so the set of keys the router's KvIndexer holds for that worker is exactly the
// cache's set with the events not yet delivered to the router undone. This class answers
// overlaps that way: from the cache directly when nothing is in flight (the usual case with no
// event latency), else with the pending events applied backwards. The router then does no work
// per block stored or evicted (two hash-table operations on a table the size of every worker's
// cache together, most of a KV-aware replay's cost) and one cache lookup per worker and matched
// key per request instead. The answers, and the entry count, are the KvIndexer's bit for bit.
//
// A worker whose engine restarts (its cache replaced by an empty one) is detached first: its
// column becomes a KvIndexer column fed by its events from then on, as the classic path.
#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "models/kv_cache.h"
#include "models/kv_event.h"
#include "router/kv_indexer.h"

namespace servesim {

class CacheViewIndex {
 public:
  // A batch of one column's events published and not yet delivered.
  struct Batch {
    std::int32_t column;
    std::span<const KvEvent> events;
  };

  // caches[c]: column c's engine cache. Each must outlive this, keep its address (an engine
  // resets its cache in place) and record its events (KvCache::record_events).
  explicit CacheViewIndex(std::vector<const KvCache*> caches);

  // A batch of column c's events reached the router (batches of a column arrive in order).
  void delivered(std::int32_t column, std::span<const KvEvent> events);
  // overlap[c] = leading keys of `keys` the router holds for column c, as the KvIndexer fed by
  // the delivered events would. `in_flight`: every column's undelivered batches, each column's
  // in delivery order.
  void overlaps(std::span<const std::uint64_t> keys, std::span<const Batch> in_flight,
                std::vector<std::int64_t>& overlap) const;
  // Column c's engine is about to reset its cache: keep its column as a table from now on.
  void detach(std::int32_t column, std::span<const Batch> in_flight);
  // (key, column) pairs held, as KvIndexer::entries().
  std::int64_t entries() const;

 private:
  // The key -> held map of column c's pending events undone: a key's earliest pending event says
  // whether the router's view held it before (removed) or not (stored).
  void undo_pending(std::int32_t column, std::span<const Batch> in_flight,
                    std::unordered_map<std::uint64_t, bool>& held_before) const;

  std::vector<const KvCache*> caches_;
  std::vector<std::int64_t> delivered_keys_;  // per attached column: stored minus removed, delivered
  std::vector<char> detached_;
  size_t detached_count_ = 0;
  KvIndexer table_;  // the detached columns
  mutable std::unordered_map<std::uint64_t, bool> held_before_;
  mutable std::vector<std::int64_t> table_overlap_;
  mutable std::vector<char> pending_;  // per column: batches in flight
};

}  // namespace servesim
