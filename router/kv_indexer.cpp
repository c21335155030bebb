#include "router/kv_indexer.h"

#include "core/rng.h"

namespace servesim {

namespace {
constexpr size_t kNpos = static_cast<size_t>(-1);
}

KvIndexer::KvIndexer(std::int32_t workers) : workers_(workers), slots_(1024), mask_(1023) {}

size_t KvIndexer::home(std::uint64_t key, std::int32_t worker) const {
  return static_cast<size_t>(splitmix64(key ^ (static_cast<std::uint64_t>(worker) + 1) * 0x9E3779B97F4A7C15ull)) & mask_;
}

size_t KvIndexer::find(std::uint64_t key, std::int32_t worker) const {
  for (size_t i = home(key, worker);; i = (i + 1) & mask_) {
    const Slot& s = slots_[i];
    if (s.worker < 0) return kNpos;
    if (s.key == key && s.worker == worker) return i;
  }
}

void KvIndexer::grow() {
  std::vector<Slot> old;
  old.swap(slots_);
  slots_.assign(old.size() * 2, Slot{});
  mask_ = slots_.size() - 1;
  size_ = 0;
  for (const Slot& s : old)
    if (s.worker >= 0) store(s.worker, s.key, s.expires_ns);
}

void KvIndexer::store(std::int32_t worker, std::uint64_t key, TimeNs expires_ns) {
  if (size_t i = find(key, worker); i != kNpos) {
    slots_[i].expires_ns = expires_ns;  // refreshed
    return;
  }
  if (static_cast<size_t>(size_ + 1) * 2 > slots_.size()) grow();
  size_t i = home(key, worker);
  while (slots_[i].worker >= 0) i = (i + 1) & mask_;
  slots_[i] = Slot{key, worker, expires_ns};
  ++size_;
}

void KvIndexer::erase_at(size_t i) {
  // backward-shift deletion keeps every probe run unbroken
  for (size_t j = (i + 1) & mask_; slots_[j].worker >= 0; j = (j + 1) & mask_) {
    size_t h = home(slots_[j].key, slots_[j].worker);
    bool movable = i <= j ? (h <= i || h > j) : (h <= i && h > j);
    if (movable) {
      slots_[i] = slots_[j];
      i = j;
    }
  }
  slots_[i] = Slot{};
  --size_;
}

void KvIndexer::remove(std::int32_t worker, std::uint64_t key) {
  if (size_t i = find(key, worker); i != kNpos) erase_at(i);
}

void KvIndexer::clear(std::int32_t worker) {
  std::vector<Slot> keep;
  for (const Slot& s : slots_)
    if (s.worker >= 0 && s.worker != worker) keep.push_back(s);
  std::fill(slots_.begin(), slots_.end(), Slot{});
  size_ = 0;
  for (const Slot& s : keep) store(s.worker, s.key, s.expires_ns);
}

bool KvIndexer::holds(std::int32_t worker, std::uint64_t key, TimeNs now) const {
  size_t i = find(key, worker);
  return i != kNpos && (slots_[i].expires_ns < 0 || slots_[i].expires_ns > now);
}

void KvIndexer::overlaps(std::span<const std::uint64_t> keys, TimeNs now, std::vector<std::int64_t>& overlap) const {
  overlap.assign(static_cast<size_t>(workers_), 0);
  active_.clear();
  for (std::int32_t w = 0; w < workers_; ++w) active_.push_back(w);
  for (size_t i = 0; i < keys.size() && !active_.empty(); ++i) {
    next_.clear();
    for (std::int32_t w : active_) {
      if (holds(w, keys[i], now)) {
        next_.push_back(w);
        overlap[static_cast<size_t>(w)] = static_cast<std::int64_t>(i) + 1;
      }
    }
    active_.swap(next_);
  }
}

}  // namespace servesim
