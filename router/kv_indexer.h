#pragma once
// The router's picture of which worker caches which prompt blocks. Block keys are chained
// (each encodes its whole prefix, see prompt_block_keys), so a set of (key, worker) pairs is
// equivalent to a radix tree over block-hash chains: a request's overlap with a worker is the
// number of its leading keys that worker holds, found in one walk over the keys that drops
// workers at their first miss: O(prefix length x workers still matching), never O(workers x
// blocks). Fed only by KV events (stored / removed / cleared), or, in approximate mode, by the
// router's own decisions with a time-to-live.
#include <cstdint>
#include <span>
#include <vector>

#include "core/units.h"

namespace servesim {

class KvIndexer {
 public:
  explicit KvIndexer(std::int32_t workers);

  // `expires_ns` < 0: held until removed (event-fed); otherwise forgotten at that time.
  void store(std::int32_t worker, std::uint64_t key, TimeNs expires_ns = -1);
  void remove(std::int32_t worker, std::uint64_t key);
  void clear(std::int32_t worker);
  bool holds(std::int32_t worker, std::uint64_t key, TimeNs now) const;

  // overlap[w] = leading keys of `keys` that worker w holds at time `now`.
  void overlaps(std::span<const std::uint64_t> keys, TimeNs now, std::vector<std::int64_t>& overlap) const;

  std::int64_t entries() const { return size_; }  // (key, worker) pairs held

 private:
  struct Slot {
    std::uint64_t key = 0;
    std::int32_t worker = -1;  // -1: empty
    TimeNs expires_ns = -1;
  };
  size_t home(std::uint64_t key, std::int32_t worker) const;
  size_t find(std::uint64_t key, std::int32_t worker) const;  // slot index or npos
  void erase_at(size_t i);
  void grow();

  std::int32_t workers_;
  std::vector<Slot> slots_;
  size_t mask_;
  std::int64_t size_ = 0;
  mutable std::vector<std::int32_t> active_, next_;
};

}  // namespace servesim
