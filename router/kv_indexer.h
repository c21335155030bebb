#pragma once
// The router's picture of which worker caches which prompt blocks. Block keys are chained
// (each encodes its whole prefix, see prompt_block_keys), so this map from key to workers is
// equivalent to a radix tree over block-hash chains: a request's overlap with a worker is the
// number of its leading keys that worker holds, found in one walk over the keys, O(prefix
// length x worker words), not O(workers x blocks). Fed only by KV events (stored / removed /
// cleared), or, in approximate mode, by the router's own decisions with a time-to-live.
#include <cstdint>
#include <span>
#include <unordered_map>
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

  // overlap[w] = leading keys of `keys` that worker w holds at time `now`.
  void overlaps(std::span<const std::uint64_t> keys, TimeNs now, std::vector<std::int64_t>& overlap) const;

  std::int64_t entries() const { return entries_; }  // (key, worker) pairs held
  std::int64_t keys() const { return static_cast<std::int64_t>(map_.size()); }

 private:
  struct Holder {
    std::int32_t worker;
    TimeNs expires_ns;
  };
  std::int32_t workers_;
  std::unordered_map<std::uint64_t, std::vector<Holder>> map_;  // few holders per key
  std::int64_t entries_ = 0;
};

}  // namespace servesim
