#pragma once
// The router's picture of which worker caches which prompt blocks. Block keys are chained
// (each encodes its whole prefix, see prompt_block_keys), so a map from key to the set of workers
// holding it is equivalent to a radix tree over block-hash chains: a request's overlap with every
// worker is found in one walk over its keys, one lookup per key, that stops once no worker still
// matches: O(prefix length + workers), never O(workers x blocks). Fed only by KV events (stored /
// removed / cleared), or, in approximate mode, by the router's own decisions with a time-to-live.
#include <algorithm>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "core/units.h"
#include "models/kv_cache.h"

namespace servesim {

class KvIndexer {
 public:
  explicit KvIndexer(std::int32_t workers);

  // Keys are nonzero (chain keys are). `expires_ns` < 0: held until removed (event-fed);
  // otherwise forgotten at that time.
  void store(std::int32_t worker, std::uint64_t key, TimeNs expires_ns = -1);
  void remove(std::int32_t worker, std::uint64_t key);
  void clear(std::int32_t worker);
  // One worker's KV events of one medium in order (each as store, remove or clear; the lookups
  // overlapped). A kCleared event clears the worker whatever its medium. `by_rank`: the events
  // name attention-DP ranks, each indexed as worker + KvEvent::dp_rank.
  void apply(std::int32_t worker, std::span<const KvEvent> events, KvEvent::Medium medium = KvEvent::Medium::kGpu,
             bool by_rank = false);
  bool holds(std::int32_t worker, std::uint64_t key, TimeNs now) const;

  // overlap[w] = leading keys of `keys` that worker w holds at time `now` (overlaps_from, all
  // workers starting at the first key).
  void overlaps(std::span<const std::uint64_t> keys, TimeNs now, std::vector<std::int64_t>& overlap) const;
  // extra[w] = keys of `keys` from from[w] on, consecutive, that worker w holds here at `now`
  // (a lower tier continuing each worker's match in the tier above).
  void overlaps_from(std::span<const std::uint64_t> keys, TimeNs now, std::span<const std::int64_t> from,
                     std::vector<std::int64_t>& extra) const;

  std::int64_t entries() const { return pairs_; }  // (key, worker) pairs held

 private:
  // Open addressing with linear probing and backward-shift deletion over rows of
  // [key, worker bits...] in one flat array (one cache line per probe for up to 64 workers);
  // key 0 marks an empty row. Expiry times, per (row, worker), exist only once a TTL is used.
  std::uint64_t* row(size_t i) { return &table_[i * stride_]; }
  const std::uint64_t* row(size_t i) const { return &table_[i * stride_]; }
  size_t home(std::uint64_t key) const { return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_); }
  // where a worker's bit lies in a row: word (1 = the first after the key) and mask
  static std::pair<size_t, std::uint64_t> bit_of(std::int32_t worker) {
    return {1 + static_cast<size_t>(worker) / 64, std::uint64_t{1} << (worker % 64)};
  }
  bool no_worker(size_t i) const {
    return std::all_of(row(i) + 1, row(i) + stride_, [](std::uint64_t x) { return x == 0; });
  }
  size_t expiry_at(size_t i, std::int32_t worker) const {
    return i * static_cast<size_t>(workers_) + static_cast<size_t>(worker);
  }
  TimeNs& expiry(size_t i, std::int32_t worker) { return expires_[expiry_at(i, worker)]; }
  TimeNs expiry(size_t i, std::int32_t worker) const { return expires_[expiry_at(i, worker)]; }
  size_t find(std::uint64_t key) const;  // row index or npos
  size_t insert_row(std::uint64_t key);  // the key's row, added empty if absent
  void erase_row(size_t i);
  void resize(size_t rows);
  // the workers of row i that hold its key at `now`, ANDed into `mask`
  void live_workers(size_t i, TimeNs now, std::uint64_t* mask) const;

  std::int32_t workers_;
  size_t words_;   // 64-worker words per row
  size_t stride_;  // 1 + words_
  std::vector<std::uint64_t> table_;
  std::vector<TimeNs> expires_;  // rows x workers when TTLs are in use, else empty
  size_t rows_ = 0, mask_ = 0;
  int shift_ = 0;
  size_t keys_ = 0;         // rows in use
  std::int64_t pairs_ = 0;  // worker bits set
  mutable std::vector<std::uint64_t> active_, held_;
  mutable std::vector<std::pair<std::int64_t, std::int32_t>> joins_;  // overlaps_from: (start, worker)
  mutable std::vector<std::int64_t> from_zero_;  // overlaps: every worker's walk starts at key 0
};

}  // namespace servesim
