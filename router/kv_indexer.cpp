#include "router/kv_indexer.h"

#include <algorithm>
#include <bit>

#include "core/error.h"
#include "core/linear_probing.h"

namespace servesim {

namespace {
constexpr size_t kNpos = static_cast<size_t>(-1);
constexpr size_t kInitialRows = 1024;
constexpr size_t kLookAhead = 8;  // lookups started ahead, so their memory latencies overlap
}  // namespace

KvIndexer::KvIndexer(std::int32_t workers)
    : workers_(workers), words_(static_cast<size_t>(std::max(workers, 1) + 63) / 64), stride_(1 + words_) {
  resize(kInitialRows);
}

void KvIndexer::resize(size_t rows) {
  std::vector<std::uint64_t> old;
  old.swap(table_);
  std::vector<TimeNs> old_expires;
  old_expires.swap(expires_);
  const size_t old_rows = rows_;
  rows_ = rows;
  mask_ = rows - 1;
  shift_ = 64 - std::countr_zero(rows);
  table_.assign(rows * stride_, 0);
  if (!old_expires.empty()) expires_.assign(rows * static_cast<size_t>(workers_), -1);
  keys_ = 0;
  for (size_t i = 0; i < old_rows; ++i) {
    const std::uint64_t* r = &old[i * stride_];
    if (r[0] == 0) continue;
    const size_t j = insert_row(r[0]);
    std::copy(r + 1, r + stride_, row(j) + 1);
    if (!old_expires.empty())
      std::copy_n(&old_expires[i * static_cast<size_t>(workers_)], workers_, &expires_[j * static_cast<size_t>(workers_)]);
  }
}

size_t KvIndexer::find(std::uint64_t key) const {
  for (size_t i = home(key);; i = (i + 1) & mask_) {
    const std::uint64_t k = table_[i * stride_];
    if (k == key) return i;
    if (k == 0) return kNpos;
  }
}

size_t KvIndexer::insert_row(std::uint64_t key) {
  size_t i = home(key);
  for (;; i = (i + 1) & mask_) {
    const std::uint64_t k = table_[i * stride_];
    if (k == key) return i;
    if (k == 0) break;
  }
  table_[i * stride_] = key;
  ++keys_;
  return i;
}

void KvIndexer::erase_row(size_t i) {
  const auto w = static_cast<size_t>(workers_);
  // backward shift: later rows of the probe run move into the hole, so no run is ever broken
  for (size_t j = (i + 1) & mask_; table_[j * stride_] != 0; j = (j + 1) & mask_) {
    if (backward_shift_moves(i, j, home(table_[j * stride_]))) {
      std::copy_n(row(j), stride_, row(i));
      if (!expires_.empty()) std::copy_n(&expires_[j * w], w, &expires_[i * w]);
      i = j;
    }
  }
  std::fill_n(row(i), stride_, 0);
  if (!expires_.empty()) std::fill_n(&expires_[i * w], w, -1);
  --keys_;
}

void KvIndexer::store(std::int32_t worker, std::uint64_t key, TimeNs expires_ns) {
  if (key == 0) throw InvariantError("KV indexer: block key 0 is reserved");
  if ((keys_ + 1) * 2 > rows_) resize(rows_ * 2);  // load factor <= 1/2
  if (expires_ns >= 0 && expires_.empty()) expires_.assign(rows_ * static_cast<size_t>(workers_), -1);
  const size_t i = insert_row(key);
  const auto [word, bit] = bit_of(worker);
  if (!(row(i)[word] & bit)) ++pairs_;
  row(i)[word] |= bit;
  if (!expires_.empty()) expiry(i, worker) = expires_ns;
}

void KvIndexer::remove(std::int32_t worker, std::uint64_t key) {
  const size_t i = find(key);
  if (i == kNpos) return;
  const auto [word, bit] = bit_of(worker);
  if (!(row(i)[word] & bit)) return;
  row(i)[word] &= ~bit;
  --pairs_;
  if (no_worker(i)) erase_row(i);
}

void KvIndexer::clear(std::int32_t worker) {
  const auto [word, bit] = bit_of(worker);
  for (size_t i = 0; i < rows_; ++i) {
    std::uint64_t* r = row(i);
    if (r[0] == 0 || !(r[word] & bit)) continue;
    r[word] &= ~bit;
    --pairs_;
    if (no_worker(i)) r[0] = 0;  // dropped below
  }
  resize(rows_);  // rehash: rows emptied above broke probe runs
}

void KvIndexer::apply(std::int32_t worker, std::span<const KvEvent> events, KvEvent::Medium medium, bool by_rank) {
  for (size_t i = 0; i < events.size(); ++i) {
    if (i + kLookAhead < events.size()) __builtin_prefetch(row(home(events[i + kLookAhead].key)));
    const KvEvent& e = events[i];
    if (e.medium != medium && e.kind != KvEvent::Kind::kCleared) continue;
    const std::int32_t column = worker + (by_rank && e.dp_rank > 0 ? e.dp_rank : 0);
    switch (e.kind) {
      case KvEvent::Kind::kStored: store(column, e.key); break;
      case KvEvent::Kind::kRemoved: remove(column, e.key); break;
      case KvEvent::Kind::kCleared: clear(column); break;
    }
  }
}

bool KvIndexer::holds(std::int32_t worker, std::uint64_t key, TimeNs now) const {
  const size_t i = find(key);
  const auto [word, bit] = bit_of(worker);
  if (i == kNpos || !(row(i)[word] & bit)) return false;
  if (expires_.empty()) return true;
  const TimeNs e = expiry(i, worker);
  return e < 0 || e > now;
}

void KvIndexer::live_workers(size_t i, TimeNs now, std::uint64_t* mask) const {
  const std::uint64_t* r = row(i);
  for (size_t k = 0; k < words_; ++k) {
    std::uint64_t m = mask[k] & r[1 + k];
    if (!expires_.empty())
      for (std::uint64_t bits = m; bits; bits &= bits - 1) {
        const int b = std::countr_zero(bits);
        const TimeNs e = expiry(i, static_cast<std::int32_t>(64 * k) + b);
        if (e >= 0 && e <= now) m &= ~(std::uint64_t{1} << b);
      }
    mask[k] = m;
  }
}

void KvIndexer::overlaps(std::span<const std::uint64_t> keys, TimeNs now, std::vector<std::int64_t>& overlap) const {
  from_zero_.assign(static_cast<size_t>(workers_), 0);
  overlaps_from(keys, now, from_zero_, overlap);
}

void KvIndexer::overlaps_from(std::span<const std::uint64_t> keys, TimeNs now, std::span<const std::int64_t> from,
                              std::vector<std::int64_t>& extra) const {
  extra.assign(static_cast<size_t>(workers_), 0);
  joins_.clear();
  for (std::int32_t w = 0; w < workers_; ++w)
    if (from[static_cast<size_t>(w)] < static_cast<std::int64_t>(keys.size()))
      joins_.emplace_back(from[static_cast<size_t>(w)], w);
  std::sort(joins_.begin(), joins_.end());
  active_.assign(words_, 0);
  size_t next_join = 0;
  bool any = false;  // some worker in active_
  // walk the keys from the first worker's start; a worker joins at its own start and leaves at
  // its first key not held here
  for (auto i = joins_.empty() ? static_cast<std::int64_t>(keys.size()) : joins_.front().first;
       i < static_cast<std::int64_t>(keys.size()); ++i) {
    for (; next_join < joins_.size() && joins_[next_join].first == i; ++next_join) {
      const auto [word, bit] = bit_of(joins_[next_join].second);
      active_[word - 1] |= bit;
      any = true;
    }
    if (!any) {
      if (next_join == joins_.size()) break;
      i = joins_[next_join].first - 1;  // skip to the next start
      continue;
    }
    // the walk usually goes on: start the next rows' loads now
    if (static_cast<size_t>(i) + kLookAhead < keys.size())
      __builtin_prefetch(row(home(keys[static_cast<size_t>(i) + kLookAhead])));
    held_ = active_;
    const size_t r = find(keys[static_cast<size_t>(i)]);
    if (r == kNpos) std::fill(held_.begin(), held_.end(), 0);
    else live_workers(r, now, held_.data());
    any = false;
    for (size_t k = 0; k < words_; ++k) {
      for (std::uint64_t dropped = active_[k] & ~held_[k]; dropped; dropped &= dropped - 1) {
        const size_t w = 64 * k + static_cast<size_t>(std::countr_zero(dropped));
        extra[w] = i - from[w];
      }
      any |= held_[k] != 0;
    }
    active_.swap(held_);
  }
  for (size_t k = 0; k < words_; ++k)
    for (std::uint64_t bits = active_[k]; bits; bits &= bits - 1) {
      const size_t w = 64 * k + static_cast<size_t>(std::countr_zero(bits));
      extra[w] = static_cast<std::int64_t>(keys.size()) - from[w];
    }
}

}  // namespace servesim
