#include "models/kv_host_tier.h"

#include <bit>

#include "core/linear_probing.h"

namespace servesim {

KvHostTier::KvHostTier(std::int64_t capacity_blocks) : capacity_(capacity_blocks) {
  if (capacity_ > 0) resize(1024);
}

size_t KvHostTier::find(std::uint64_t key) const {
  if (table_.empty()) return kNone;
  for (size_t i = home(key);; i = (i + 1) & mask_) {
    if (table_[i].key == key) return i;
    if (table_[i].key == 0) return kNone;
  }
}

bool KvHostTier::readable(size_t slot) const {
  const std::uint64_t write = table_[slot].write;
  if (!hold_ || write <= written_) return true;
  for (const Batch& b : batches_)  // one or two: the batch on its link, its predecessor's tail
    if (write >= b.first && write <= b.through)
      return now_() >= b.first_ns + std::llround(static_cast<double>(write - b.first) * b.ns_per_block);
  return false;  // not yet on its way
}

void KvHostTier::written_through(std::uint64_t writes) {
  written_ = std::max(written_, writes);
  while (!batches_.empty() && batches_.front().through <= written_) batches_.pop_front();
}

void KvHostTier::touch(size_t slot) {
  table_[slot].entry = log_.size();
  log_.push_back(table_[slot].key);
}

void KvHostTier::erase_slot(size_t i) {
  // backward shift: later slots of the probe run move into the hole, so no run is ever broken
  for (size_t j = (i + 1) & mask_; table_[j].key != 0; j = (j + 1) & mask_)
    if (backward_shift_moves(i, j, home(table_[j].key))) {
      table_[i] = table_[j];
      i = j;
    }
  table_[i] = Slot{};
  --size_;
}

size_t KvHostTier::free_slot_for(std::uint64_t key) const {
  size_t i = home(key);
  while (table_[i].key != 0) i = (i + 1) & mask_;
  return i;
}

size_t KvHostTier::insert(std::uint64_t key) {
  if ((size_ + 1) * 2 > table_.size()) resize(table_.size() * 2);
  const size_t i = free_slot_for(key);
  table_[i].key = key;
  table_[i].write = 0;
  ++size_;
  touch(i);
  return i;
}

void KvHostTier::compact_log_if_stale() {
  if (log_.size() - head_ > 2 * size_ + 1024) compact_log();
}

void KvHostTier::evict_oldest() {
  for (;; ++head_) {
    const size_t slot = find(log_[head_]);
    if (slot != kNone && table_[slot].entry == head_) {
      if (recording_)
        events_.push_back({.kind = KvEvent::Kind::kRemoved, .medium = KvEvent::Medium::kCpu, .key = log_[head_]});
      if (evicted_to_) evicted_to_->store(log_[head_]);
      erase_slot(slot);
      ++head_;
      return;
    }
  }
}

void KvHostTier::store(std::uint64_t key) {
  const size_t slot = put(key);
  if (slot == kNone) return;
  table_[slot].write = ++stored_;
  if (on_store_) on_store_();
}

void KvHostTier::fill(std::uint64_t key) { put(key); }

size_t KvHostTier::put(std::uint64_t key) {
  if (capacity_ <= 0) return kNone;
  size_t added = kNone;
  if (const size_t slot = find(key); slot != kNone) {
    touch(slot);
  } else {
    if (static_cast<std::int64_t>(size_) >= capacity_) evict_oldest();
    added = insert(key);
    if (recording_) events_.push_back({.kind = KvEvent::Kind::kStored, .medium = KvEvent::Medium::kCpu, .key = key});
  }
  compact_log_if_stale();  // moves log entries, not slots
  return added;
}

void KvHostTier::store_new(std::uint64_t key) {
  if (capacity_ <= 0 || find(key) != kNone) return;
  store(key);
}

std::int64_t KvHostTier::match(std::span<const std::uint64_t> keys) {
  std::int64_t n = 0;
  for (std::uint64_t k : keys) {
    const size_t slot = find(k);
    if (slot == kNone || !readable(slot)) break;
    touch(slot);
    ++n;
  }
  compact_log_if_stale();
  return n;
}

std::int64_t KvHostTier::peek(std::span<const std::uint64_t> keys) const {
  std::int64_t n = 0;
  for (std::uint64_t k : keys) {
    if (!holds(k)) break;
    ++n;
  }
  return n;
}

void KvHostTier::clear() {
  table_.clear();
  size_ = 0;
  log_.clear();
  head_ = 0;
  events_.clear();  // the owner reports the clear itself
  if (capacity_ > 0) resize(1024);
}

void KvHostTier::resize(size_t slots) {
  std::vector<Slot> old;
  old.swap(table_);
  table_.assign(slots, Slot{});
  mask_ = slots - 1;
  shift_ = 64 - std::countr_zero(slots);
  for (const Slot& s : old)
    if (s.key != 0) table_[free_slot_for(s.key)] = s;
}

// Drops the stale entries and the consumed head, keeping the live ones in order.
void KvHostTier::compact_log() {
  size_t out = 0;
  for (size_t i = head_; i < log_.size(); ++i) {
    const size_t slot = find(log_[i]);
    if (slot == kNone || table_[slot].entry != i) continue;
    table_[slot].entry = out;
    log_[out++] = log_[i];
  }
  log_.resize(out);
  head_ = 0;
}

}  // namespace servesim
