#pragma once
// A paged KV cache with hash-chained prefix caching (as vLLM's block pool):
// blocks of block_size tokens; a full prompt block is registered under its chain key so later
// requests with the same prefix reuse it; reference counts for shared blocks; blocks nobody
// uses but that hold a cached prefix stay resident and are evicted least-recently-used first.
// Plain class: no SystemC. Every change of what is cached is reported as a KvEvent.
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "core/request.h"
#include "models/kv_event.h"
#include "models/kv_host_tier.h"

namespace servesim {

// Key -> block map for the prefix cache: open addressing with linear probing, insert only.
// A slot is 8 bytes, the key's 32-bit hash fingerprint and the block; the key itself lives in
// the block, so a lookup confirms a fingerprint match with `key_of(block)`, the load the caller
// makes next anyway. That confirmation is also how entries die: a block evicted (key 0) or
// holding another key no longer confirms its old entries, so an eviction touches no slot, and
// the stale entries go when the owner rebuilds the map (reset() + insert_new() of the live
// keys) once it is half full. Half the bytes of a key-and-value slot and no deletion walk: the
// map of a large cache outgrows the CPU's caches, and each probe is a memory stall.
// Keys are never 0; values are block ids (>= 0), each holding one key at a time.
class BlockKeyMap {
 public:
  explicit BlockKeyMap(size_t min_slots = 1024) { reset(min_slots); }
  template <class KeyOf>  // KeyOf: std::uint64_t(std::int32_t value), the value's current key
  std::int32_t find(std::uint64_t key, const KeyOf& key_of) const {  // -1 if absent
    const std::uint64_t fp = fingerprint(key);
    for (size_t i = home(fp);; i = (i + 1) & mask_) {
      const std::uint64_t s = slots_[i];
      if (s == 0) return -1;
      if ((s >> 32) == fp && key_of(value_of(s)) == key) return value_of(s);
    }
  }
  // Adds key -> value unless another value holds the key (false, no change). `value` must not
  // hold a key yet (key_of(value) == 0). Needs a free slot: the owner rebuilds when full().
  template <class KeyOf>
  bool try_insert(std::uint64_t key, std::int32_t value, const KeyOf& key_of) {
    const std::uint64_t entry = entry_of(key, value);
    size_t i = home(entry >> 32), same = kNone;
    for (; slots_[i] != 0; i = (i + 1) & mask_) {
      if ((slots_[i] >> 32) != (entry >> 32)) continue;
      if (key_of(value_of(slots_[i])) == key) return false;
      if (slots_[i] == entry) same = i;  // this very pair, left stale by an eviction: live again
    }
    if (same == kNone) insert_new_at(i, entry);
    return true;
  }
  // Adds a key known to be absent (a rebuild).
  void insert_new(std::uint64_t key, std::int32_t value) {
    const std::uint64_t entry = entry_of(key, value);
    size_t i = home(entry >> 32);
    while (slots_[i] != 0) i = (i + 1) & mask_;
    insert_new_at(i, entry);
  }
  // Empties the map, with at least `min_slots` slots (rounded up to a power of two).
  void reset(size_t min_slots);
  // At the load limit (1/2, counting stale entries): rebuild before the next try_insert.
  bool full() const { return (used_ + 1) * 2 > slots_.size(); }
  size_t slots() const { return slots_.size(); }
  // Starts loading the key's slot, so a lookup a few steps later does not wait on memory.
  void prefetch(std::uint64_t key) const { __builtin_prefetch(&slots_[home(fingerprint(key))]); }

 private:
  static constexpr size_t kNone = ~size_t{0};
  // Fibonacci hashing: the high bits of key x golden ratio, so keys with regular low bits
  // (sequential trace hash ids) do not pile up into long probe runs. The slot is the top bits of
  // the fingerprint.
  static std::uint64_t fingerprint(std::uint64_t key) { return (key * 0x9E3779B97F4A7C15ULL) >> 32; }
  static std::uint64_t entry_of(std::uint64_t key, std::int32_t value) {
    return fingerprint(key) << 32 | (static_cast<std::uint32_t>(value) + 1);
  }
  size_t home(std::uint64_t fp) const { return static_cast<size_t>(fp >> shift_); }
  static std::int32_t value_of(std::uint64_t slot) { return static_cast<std::int32_t>(static_cast<std::uint32_t>(slot) - 1); }
  void insert_new_at(size_t i, std::uint64_t entry) {
    slots_[i] = entry;
    ++used_;
  }
  std::vector<std::uint64_t> slots_;  // fingerprint << 32 | (value + 1); 0 = empty
  size_t mask_ = 0;
  int shift_ = 0;     // 32 - log2(slots)
  size_t used_ = 0;  // slots holding an entry, live or stale
};

class KvCache {
 public:
  using BlockId = std::int32_t;
  KvCache(std::int64_t num_blocks, std::int32_t block_size);

  std::int64_t num_blocks() const { return num_blocks_; }
  std::int32_t block_size() const { return block_size_; }
  // Blocks that can be handed out now (free + never used + evictable cached).
  std::int64_t free_blocks() const {
    return static_cast<std::int64_t>(free_.size()) + never_used() + lru_size_;
  }
  std::int64_t used_blocks() const { return num_blocks() - free_blocks(); }
  std::int64_t cached_blocks() const { return keyed_; }

  // How many leading keys are resident (in use or evictable); their blocks go to `blocks` when
  // given (one lookup per key, so admitting the prefix need not look the keys up again).
  std::int64_t match_prefix(std::span<const std::uint64_t> keys, std::vector<BlockId>* blocks = nullptr) const;
  bool holds(std::uint64_t key) const { return by_key_.find(key, key_of()) >= 0; }
  // Of these resident blocks, how many sit unused in the evictable LRU list.
  std::int64_t evictable(std::span<const BlockId> blocks) const;
  // Takes a reference on a resident block (one match_prefix found).
  BlockId acquire(BlockId block);
  // A fresh block (evicting the least recently used cached one if needed); -1 if none is free.
  BlockId allocate();
  // n fresh blocks appended to `out`, as n calls of allocate() (the caller checked they fit).
  void allocate(std::int64_t n, std::vector<BlockId>& out);
  // Registers a now-full block under its chain key (no-op if another block holds that key).
  void register_full(BlockId block, std::uint64_t key, std::uint64_t parent = 0, std::int16_t lora = -1);
  // register_full of blocks[i] under keys[i] in order, the chain continuing from `parent`.
  void register_chain(std::span<const BlockId> blocks, std::span<const std::uint64_t> keys, std::uint64_t parent,
                      std::int16_t lora = -1);
  // Drops one reference; the last one frees the block (cached blocks stay resident).
  void release(BlockId block);
  // release() of each block, last to first: a sequence's tail becomes evictable before its
  // (possibly shared) prefix.
  void release_backwards(std::span<const BlockId> blocks);

  // The chain keys of every resident block (in use or evictable), in block order.
  std::vector<std::uint64_t> resident_keys() const;
  // KV offloading: blocks copied to a lower tier, and when. kOnEvict: an evicted block is written
  // back before it is reused, so the lower tier holds it from then on. kOnCompute: a block is
  // copied as it is registered (its KV just computed; a write-through), so an eviction copies
  // nothing. Nowhere (null) by default.
  enum class Offload : std::uint8_t { kOnEvict, kOnCompute };
  void offload_to(KvHostTier* tier, Offload when) {
    evicted_ = when == Offload::kOnEvict ? tier : nullptr;
    computed_ = when == Offload::kOnCompute ? tier : nullptr;
  }
  // Whether changes are reported as events (on by default; off where nobody reads them).
  void record_events(bool on) { recording_ = on; }
  // The events take_events() would return now.
  std::span<const KvEvent> unpublished_events() const { return events_; }
  // Events since the last call, in order.
  std::vector<KvEvent> take_events() {
    if (events_.empty()) return {};  // most iterations: no allocation
    std::vector<KvEvent> next;
    next.reserve(events_.size());  // room for a batch like this one, without growing step by step
    return std::exchange(events_, std::move(next));
  }

 private:
  // 16 bytes, four to a cache line: a run with many workers is bound by these loads.
  struct Block {
    std::uint64_t key = 0;  // its chain key; 0 while it holds no cached prefix (keys are never 0)
    std::int32_t refs = 0;
    std::int32_t lru_pos = -1;  // its entry's index in lru_ while evictable
    bool keyed() const { return key != 0; }
  };
  // The evictable blocks in the order they were last released (least recent first): an array
  // with lazy removal, where a block taken back by a prefix hit leaves its entry behind, stale
  // (its index no longer the block's lru_pos), skipped when the head gets there. Unlike a linked
  // list, the next victims lie side by side, so their memory loads can start early.
  void lru_push_back(BlockId b);
  void lru_remove(BlockId b);
  BlockId lru_pop_front();  // the least recently released evictable block; -1 if none
  bool lru_live(size_t i) const { return blocks_[static_cast<size_t>(lru_[i])].lru_pos == static_cast<std::int32_t>(i); }
  void lru_compact();  // drops stale entries and the consumed head

  // Blocks are created on first use, in id order, so memory and start-up follow what a run uses.
  std::int64_t never_used() const { return num_blocks_ - static_cast<std::int64_t>(blocks_.size()); }

  std::int64_t num_blocks_;
  std::int32_t block_size_;
  std::vector<Block> blocks_;  // the blocks used so far
  std::vector<BlockId> free_;  // released blocks that hold no cached prefix, taken last in first out
  BlockKeyMap by_key_;
  std::int64_t keyed_ = 0;  // blocks holding a key
  void rebuild_key_map();   // drops stale entries (see BlockKeyMap), sized for the blocks in use
  // The map's view of a block's key (made per call: a stored pointer would not survive a move).
  struct KeyOf {
    const Block* blocks;
    std::uint64_t operator()(BlockId id) const { return blocks[static_cast<size_t>(id)].key; }
  };
  KeyOf key_of() const { return {blocks_.data()}; }
  std::vector<BlockId> lru_;
  size_t lru_head_ = 0;        // entries before it are consumed
  std::int64_t lru_size_ = 0;  // live entries
  std::vector<KvEvent> events_;
  KvHostTier* evicted_ = nullptr;   // kOnEvict's tier
  KvHostTier* computed_ = nullptr;  // kOnCompute's tier
  bool recording_ = true;
};

// Engine-block chain keys of a prompt from a trace's hash ids: engine block j (block_size
// tokens) lies in trace block floor(j * block_size / hash_block_tokens); its key chains every
// trace id up to that one with its offset inside it, so equal keys mean equal prefixes.
// Only blocks fully inside the prompt and inside the hash-covered tokens get a key. A LoRA
// adapter (Request::lora >= 0) starts its own chains: no block is shared with another adapter's
// or the base model's.
std::vector<std::uint64_t> prompt_block_keys(std::span<const std::uint64_t> hash_ids,
                                             std::uint32_t hash_block_tokens, std::uint32_t input_tokens,
                                             std::int32_t block_size, std::int32_t lora = -1);
// A request's prompt_block_keys at `block_size`, kept on the request (Request::block_keys) so
// that the router and the worker compute them once.
const std::vector<std::uint64_t>& prompt_keys(const Request& r, std::int32_t block_size);

}  // namespace servesim
