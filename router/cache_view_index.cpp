#include "router/cache_view_index.h"

#include <unordered_set>

#include <fmt/format.h>

#include "core/error.h"

namespace servesim {

CacheViewIndex::CacheViewIndex(std::vector<const KvCache*> caches)
    : caches_(std::move(caches)),
      delivered_keys_(caches_.size(), 0),
      detached_(caches_.size(), 0),
      table_(static_cast<std::int32_t>(caches_.size())) {
  for (const KvCache* c : caches_)
    if (!c) throw InvariantError("cache view index: a column without a cache");
}

void CacheViewIndex::delivered(std::int32_t column, std::span<const KvEvent> events) {
  const auto c = static_cast<size_t>(column);
  if (detached_[c]) {
    table_.apply(column, events);
    return;
  }
  std::int64_t held = delivered_keys_[c];
  for (const KvEvent& e : events) {
    if (e.medium != KvEvent::Medium::kGpu) continue;
    if (e.kind == KvEvent::Kind::kCleared)
      throw InvariantError(fmt::format("cache view index: column {} cleared without being detached first", column));
    held += e.kind == KvEvent::Kind::kStored ? 1 : -1;
  }
  delivered_keys_[c] = held;
}

void CacheViewIndex::undo_pending(std::int32_t column, std::span<const Batch> in_flight,
                                  std::unordered_map<std::uint64_t, bool>& held_before) const {
  held_before.clear();
  // the latest first, so each key ends with its earliest pending event's answer
  const auto undo = [&](std::span<const KvEvent> events) {
    for (size_t i = events.size(); i-- > 0;) {
      const KvEvent& e = events[i];
      if (e.medium != KvEvent::Medium::kGpu) continue;
      if (e.kind == KvEvent::Kind::kCleared)
        throw InvariantError(fmt::format("cache view index: column {} cleared without being detached first", column));
      held_before[e.key] = e.kind == KvEvent::Kind::kRemoved;
    }
  };
  undo(caches_[static_cast<size_t>(column)]->unpublished_events());
  for (size_t i = in_flight.size(); i-- > 0;)
    if (in_flight[i].column == column) undo(in_flight[i].events);
}

void CacheViewIndex::overlaps(std::span<const std::uint64_t> keys, std::span<const Batch> in_flight,
                              std::vector<std::int64_t>& overlap) const {
  overlap.assign(caches_.size(), 0);
  if (detached_count_ > 0) table_.overlaps(keys, -1, table_overlap_);
  pending_.assign(caches_.size(), 0);
  for (const Batch& b : in_flight) pending_[static_cast<size_t>(b.column)] |= !b.events.empty();
  for (size_t c = 0; c < caches_.size(); ++c) {
    const auto column = static_cast<std::int32_t>(c);
    if (detached_[c]) {
      overlap[c] = table_overlap_[c];
    } else if (!pending_[c] && caches_[c]->unpublished_events().empty()) {
      overlap[c] = caches_[c]->match_prefix(keys);
    } else {
      undo_pending(column, in_flight, held_before_);
      std::int64_t n = 0;
      for (std::uint64_t k : keys) {
        const auto it = held_before_.find(k);
        if (!(it != held_before_.end() ? it->second : caches_[c]->holds(k))) break;
        ++n;
      }
      overlap[c] = n;
    }
  }
}

void CacheViewIndex::detach(std::int32_t column, std::span<const Batch> in_flight) {
  const auto c = static_cast<size_t>(column);
  if (detached_[c]) return;
  std::vector<std::uint64_t> resident = caches_[c]->resident_keys();
  std::unordered_set<std::uint64_t> held(resident.begin(), resident.end());
  undo_pending(column, in_flight, held_before_);
  for (const auto& [key, was_held] : held_before_) {
    if (was_held) held.insert(key);
    else held.erase(key);
  }
  if (static_cast<std::int64_t>(held.size()) != delivered_keys_[c])
    throw InvariantError(fmt::format("cache view index: column {} holds {} keys by its cache but {} by its events",
                                     column, held.size(), delivered_keys_[c]));
  // in the cache's block order, so the table is the same whatever the hash set's order
  for (std::uint64_t k : resident)
    if (held.erase(k)) table_.store(column, k);
  for (const auto& [key, was_held] : held_before_)
    if (was_held && held.erase(key)) table_.store(column, key);
  delivered_keys_[c] = 0;
  detached_[c] = 1;
  ++detached_count_;
}

std::int64_t CacheViewIndex::entries() const {
  std::int64_t n = table_.entries();
  for (size_t c = 0; c < caches_.size(); ++c)
    if (!detached_[c]) n += delivered_keys_[c];
  return n;
}

}  // namespace servesim
