#include "router/kv_indexer.h"

#include <algorithm>

namespace servesim {

KvIndexer::KvIndexer(std::int32_t workers) : workers_(workers) {}

void KvIndexer::store(std::int32_t worker, std::uint64_t key, TimeNs expires_ns) {
  auto& holders = map_[key];
  for (auto& h : holders)
    if (h.worker == worker) {
      h.expires_ns = expires_ns;  // refreshed
      return;
    }
  holders.push_back({worker, expires_ns});
  ++entries_;
}

void KvIndexer::remove(std::int32_t worker, std::uint64_t key) {
  auto it = map_.find(key);
  if (it == map_.end()) return;
  auto& h = it->second;
  auto pos = std::find_if(h.begin(), h.end(), [&](const Holder& x) { return x.worker == worker; });
  if (pos == h.end()) return;
  h.erase(pos);
  --entries_;
  if (h.empty()) map_.erase(it);
}

void KvIndexer::clear(std::int32_t worker) {
  for (auto it = map_.begin(); it != map_.end();) {
    auto& h = it->second;
    auto before = h.size();
    h.erase(std::remove_if(h.begin(), h.end(), [&](const Holder& x) { return x.worker == worker; }), h.end());
    entries_ -= static_cast<std::int64_t>(before - h.size());
    it = h.empty() ? map_.erase(it) : std::next(it);
  }
}

void KvIndexer::overlaps(std::span<const std::uint64_t> keys, TimeNs now, std::vector<std::int64_t>& overlap) const {
  overlap.assign(static_cast<size_t>(workers_), 0);
  // workers still matching every key so far; each drops out at its first missing key
  std::vector<std::int32_t> active, next;
  active.reserve(static_cast<size_t>(workers_));
  for (std::int32_t w = 0; w < workers_; ++w) active.push_back(w);
  for (size_t i = 0; i < keys.size() && !active.empty(); ++i) {
    auto it = map_.find(keys[i]);
    next.clear();
    if (it != map_.end())
      for (std::int32_t w : active)
        for (const auto& h : it->second)
          if (h.worker == w && (h.expires_ns < 0 || h.expires_ns > now)) {
            next.push_back(w);
            break;
          }
    for (std::int32_t w : active) overlap[static_cast<size_t>(w)] = static_cast<std::int64_t>(i);
    for (std::int32_t w : next) overlap[static_cast<size_t>(w)] = static_cast<std::int64_t>(i) + 1;
    active.swap(next);
  }
}

}  // namespace servesim
