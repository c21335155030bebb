#include "models/kv_cache.h"

#include <algorithm>
#include <bit>
#include <stdexcept>
#include <utility>

#include "core/error.h"
#include "core/rng.h"

namespace servesim {

void BlockKeyMap::reset(size_t min_slots) {
  const size_t slots = std::bit_ceil(std::max<size_t>(min_slots, 2));
  if (slots > (size_t{1} << 32)) throw std::length_error("KV cache key map: over 2^32 slots");
  slots_.assign(slots, 0);
  mask_ = slots - 1;
  shift_ = 32 - std::countr_zero(slots);
  used_ = 0;
}

KvCache::KvCache(std::int64_t num_blocks, std::int32_t block_size) : num_blocks_(num_blocks), block_size_(block_size) {}

std::int64_t KvCache::match_prefix(std::span<const std::uint64_t> keys, std::vector<BlockId>* blocks) const {
  if (blocks) blocks->clear();
  std::int64_t n = 0;
  for (std::uint64_t k : keys) {
    const BlockId id = by_key_.find(k, key_of());
    if (id < 0) break;
    if (blocks) blocks->push_back(id);
    ++n;
  }
  return n;
}

std::int64_t KvCache::evictable(std::span<const BlockId> blocks) const {
  std::int64_t e = 0;
  for (BlockId id : blocks) e += blocks_[static_cast<size_t>(id)].refs == 0;
  return e;
}

KvCache::BlockId KvCache::acquire(BlockId id) {
  Block& b = blocks_[static_cast<size_t>(id)];
  if (!b.keyed()) throw InvariantError("KV cache: acquire of a block that holds no cached prefix");
  if (b.refs == 0) lru_remove(id);
  ++b.refs;
  return id;
}

KvCache::BlockId KvCache::allocate() {
  BlockId id;
  if (!free_.empty()) {
    id = free_.back();
    free_.pop_back();
  } else if (never_used() > 0) {
    id = static_cast<BlockId>(blocks_.size());
    blocks_.emplace_back();
  } else if (lru_size_ > 0) {
    id = lru_pop_front();
    Block& b = blocks_[static_cast<size_t>(id)];
    if (recording_) events_.push_back({.kind = KvEvent::Kind::kRemoved, .key = b.key});
    if (evicted_) evicted_->store(b.key);
    b.key = 0;  // its map entry is stale from now on
    --keyed_;
  } else {
    return -1;
  }
  blocks_[static_cast<size_t>(id)].refs = 1;
  return id;
}

namespace {
// Hash-table lookups of a run of blocks are independent: each starts this many steps ahead, so
// their memory latencies overlap instead of adding up (the tables outgrow the CPU's caches).
constexpr size_t kLookAhead = 8;
}  // namespace

void KvCache::allocate(std::int64_t n, std::vector<BlockId>& out) {
  for (std::int64_t i = 0; i < n; ++i) {
    if (free_.empty() && never_used() == 0 && lru_head_ + kLookAhead < lru_.size())
      __builtin_prefetch(&blocks_[static_cast<size_t>(lru_[lru_head_ + kLookAhead])]);  // evictions ahead
    out.push_back(allocate());
  }
}

void KvCache::register_chain(std::span<const BlockId> blocks, std::span<const std::uint64_t> keys, std::uint64_t parent,
                             std::int16_t lora) {
  for (size_t i = 0; i < blocks.size(); ++i) {
    if (i + kLookAhead < keys.size()) by_key_.prefetch(keys[i + kLookAhead]);
    register_full(blocks[i], keys[i], parent, lora);
    parent = keys[i];
  }
}

void KvCache::register_full(BlockId id, std::uint64_t key, std::uint64_t parent, std::int16_t lora) {
  Block& b = blocks_[static_cast<size_t>(id)];
  if (b.keyed()) return;
  if (by_key_.full()) rebuild_key_map();
  if (!by_key_.try_insert(key, id, key_of())) return;  // a twin computed concurrently keeps the key
  b.key = key;
  ++keyed_;
  if (recording_) events_.push_back({.kind = KvEvent::Kind::kStored, .lora = lora, .key = key, .parent = parent});
  if (computed_) computed_->store_new(key);
}

void KvCache::rebuild_key_map() {
  // Slots for the blocks in use and three times the keyed ones: the next rebuild is at least a
  // sixth of the table's worth of registrations away, so the sequential scans cost O(1) each.
  by_key_.reset(std::max({size_t{1024}, blocks_.size(), 3 * static_cast<size_t>(keyed_)}));
  for (size_t i = 0; i < blocks_.size(); ++i)
    if (blocks_[i].keyed()) by_key_.insert_new(blocks_[i].key, static_cast<BlockId>(i));
}

std::vector<std::uint64_t> KvCache::resident_keys() const {
  std::vector<std::uint64_t> keys;
  for (const Block& b : blocks_)
    if (b.keyed()) keys.push_back(b.key);
  return keys;
}

void KvCache::release(BlockId id) {
  Block& b = blocks_[static_cast<size_t>(id)];
  if (b.refs <= 0) throw InvariantError("KV cache: release of a free block");
  if (--b.refs > 0) return;
  if (b.keyed()) lru_push_back(id);
  else free_.push_back(id);
}

void KvCache::release_backwards(std::span<const BlockId> blocks) {
  for (size_t i = blocks.size(); i-- > 0;) {
    if (i >= kLookAhead) __builtin_prefetch(&blocks_[static_cast<size_t>(blocks[i - kLookAhead])]);
    release(blocks[i]);
  }
}

void KvCache::lru_push_back(BlockId id) {
  blocks_[static_cast<size_t>(id)].lru_pos = static_cast<std::int32_t>(lru_.size());
  lru_.push_back(id);
  ++lru_size_;
  // blocks taken back and released again leave stale entries: keep them under twice the live ones
  if (lru_.size() - lru_head_ > 2 * static_cast<size_t>(lru_size_) + 1024) lru_compact();
}

void KvCache::lru_remove(BlockId id) {
  blocks_[static_cast<size_t>(id)].lru_pos = -1;
  --lru_size_;
}

KvCache::BlockId KvCache::lru_pop_front() {
  while (lru_head_ < lru_.size() && !lru_live(lru_head_)) ++lru_head_;
  if (lru_head_ == lru_.size()) return -1;
  const BlockId id = lru_[lru_head_++];
  lru_remove(id);
  if (lru_head_ >= 4096 && 2 * lru_head_ >= lru_.size()) lru_compact();
  return id;
}

void KvCache::lru_compact() {
  // every stale entry goes, so the live ones can be renumbered from 0 without one passing for
  // another: indices stay below twice the live entries plus the slack (int32 suffices)
  size_t kept = 0;
  for (size_t i = lru_head_; i < lru_.size(); ++i) {
    if (!lru_live(i)) continue;
    const BlockId id = lru_[i];
    blocks_[static_cast<size_t>(id)].lru_pos = static_cast<std::int32_t>(kept);
    lru_[kept++] = id;
  }
  lru_.resize(kept);
  lru_head_ = 0;
}

const std::vector<std::uint64_t>& prompt_keys(const Request& r, std::int32_t block_size) {
  if (r.block_keys_size != block_size) {
    r.block_keys = prompt_block_keys(r.hash_ids, r.hash_block_tokens, r.input_tokens, block_size, r.lora);
    r.block_keys_size = block_size;
  }
  return r.block_keys;
}

std::vector<std::uint64_t> prompt_block_keys(std::span<const std::uint64_t> hash_ids, std::uint32_t hash_block_tokens,
                                             std::uint32_t input_tokens, std::int32_t block_size, std::int32_t lora) {
  std::vector<std::uint64_t> keys;
  if (hash_ids.empty() || block_size <= 0) return keys;
  const std::uint64_t covered = std::min<std::uint64_t>(input_tokens, static_cast<std::uint64_t>(hash_ids.size()) * hash_block_tokens);
  const std::uint64_t full = covered / static_cast<std::uint64_t>(block_size);
  keys.reserve(full);
  std::uint64_t chain = 0x9E3779B97F4A7C15ull;
  // an adapter's KV differs from the base model's for the same tokens (vLLM hashes the LoRA
  // name into every block's key)
  if (lora >= 0) chain = splitmix64(chain ^ splitmix64(static_cast<std::uint64_t>(lora) + 0x10AAull));
  size_t chained = 0;  // trace ids folded into `chain`
  for (std::uint64_t j = 0; j < full; ++j) {
    // the trace block holding this engine block's last token: the prefix it depends on
    const size_t t = static_cast<size_t>(((j + 1) * static_cast<std::uint64_t>(block_size) - 1) / hash_block_tokens);
    while (chained <= t) chain = splitmix64(chain ^ splitmix64(hash_ids[chained++] + 1));
    std::uint64_t key = splitmix64(chain ^ splitmix64(j + 0x51ED27ull));
    keys.push_back(key == 0 ? 1 : key);
  }
  return keys;
}

}  // namespace servesim
