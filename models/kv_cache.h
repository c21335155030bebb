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

namespace servesim {

struct KvEvent {
  enum class Kind : std::uint8_t { kStored, kRemoved, kCleared };
  Kind kind;
  std::uint64_t key;  // the block's chain key (0 for kCleared)
  std::uint64_t parent = 0;  // kStored: the chain key of the block before it (0 for a prompt's first)
};

// Key -> block map for the prefix cache: open addressing with linear probing and backward-shift
// deletion, doubling as it fills (a cache that holds few keys stays small and quick to reach).
// A slot is 8 bytes, the key's 32-bit hash fingerprint and the block: the key itself lives in
// the block, so a lookup confirms a fingerprint match with `key_of(block)` (one load the caller
// makes next anyway). Half the bytes of a key-and-value slot: the map of a large cache outgrows
// the CPU's caches, and its probes are memory stalls. Keys are never 0; values are >= 0 and
// unique (block ids).
class BlockKeyMap {
 public:
  BlockKeyMap();
  template <class KeyOf>  // KeyOf: std::uint64_t(std::int32_t value)
  std::int32_t find(std::uint64_t key, const KeyOf& key_of) const {  // -1 if absent
    const std::uint64_t fp = fingerprint(key);
    for (size_t i = home(fp);; i = (i + 1) & mask_) {
      const std::uint64_t s = slots_[i];
      if (s == 0) return -1;
      if ((s >> 32) == fp && key_of(value_of(s)) == key) return value_of(s);
    }
  }
  // false (and no change) if the key is present
  template <class KeyOf>
  bool try_insert(std::uint64_t key, std::int32_t value, const KeyOf& key_of) {
    if (static_cast<size_t>(size_ + 1) * 2 > slots_.size()) resize(2 * slots_.size());  // load factor <= 1/2
    const std::uint64_t fp = fingerprint(key);
    size_t i = home(fp);
    for (; slots_[i] != 0; i = (i + 1) & mask_)
      if ((slots_[i] >> 32) == fp && key_of(value_of(slots_[i])) == key) return false;
    slots_[i] = fp << 32 | (static_cast<std::uint32_t>(value) + 1);
    ++size_;
    return true;
  }
  void erase(std::uint64_t key, std::int32_t value);  // the pair must be present
  // Starts loading the key's slot, so a lookup a few steps later does not wait on memory.
  void prefetch(std::uint64_t key) const { __builtin_prefetch(&slots_[home(fingerprint(key))]); }
  std::int64_t size() const { return size_; }

 private:
  // Fibonacci hashing: the high bits of key x golden ratio, so keys with regular low bits
  // (sequential trace hash ids) do not pile up into long probe runs. The slot is the top bits of
  // the fingerprint, so entries move on a resize or a deletion without their keys.
  static std::uint64_t fingerprint(std::uint64_t key) { return (key * 0x9E3779B97F4A7C15ULL) >> 32; }
  size_t home(std::uint64_t fp) const { return static_cast<size_t>(fp >> shift_); }
  static std::int32_t value_of(std::uint64_t slot) { return static_cast<std::int32_t>(static_cast<std::uint32_t>(slot) - 1); }
  void resize(size_t slots);
  std::vector<std::uint64_t> slots_;  // fingerprint << 32 | (value + 1); 0 = empty
  size_t mask_;
  int shift_;  // 32 - log2(slots)
  std::int64_t size_ = 0;
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
  std::int64_t cached_blocks() const { return by_key_.size(); }

  // How many leading keys are resident (in use or evictable); their blocks go to `blocks` when
  // given (one lookup per key, so admitting the prefix need not look the keys up again).
  std::int64_t match_prefix(std::span<const std::uint64_t> keys, std::vector<BlockId>* blocks = nullptr) const;
  // Of these resident blocks, how many sit unused in the evictable LRU list.
  std::int64_t evictable(std::span<const BlockId> blocks) const;
  // Takes a reference on a resident block (one match_prefix found).
  BlockId acquire(BlockId block);
  // A fresh block (evicting the least recently used cached one if needed); -1 if none is free.
  BlockId allocate();
  // n fresh blocks appended to `out`, as n calls of allocate() (the caller checked they fit).
  void allocate(std::int64_t n, std::vector<BlockId>& out);
  // Registers a now-full block under its chain key (no-op if another block holds that key).
  void register_full(BlockId block, std::uint64_t key, std::uint64_t parent = 0);
  // register_full of blocks[i] under keys[i] in order, the chain continuing from `parent`.
  void register_chain(std::span<const BlockId> blocks, std::span<const std::uint64_t> keys, std::uint64_t parent);
  // Drops one reference; the last one frees the block (cached blocks stay resident).
  void release(BlockId block);
  // release() of each block, last to first: a sequence's tail becomes evictable before its
  // (possibly shared) prefix.
  void release_backwards(std::span<const BlockId> blocks);

  // The chain keys of every resident block (in use or evictable), in block order.
  std::vector<std::uint64_t> resident_keys() const;
  // Whether changes are reported as events (on by default; off where nobody reads them).
  void record_events(bool on) { recording_ = on; }
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
  bool recording_ = true;
};

// Engine-block chain keys of a prompt from a trace's hash ids: engine block j (block_size
// tokens) lies in trace block floor(j * block_size / hash_block_tokens); its key chains every
// trace id up to that one with its offset inside it, so equal keys mean equal prefixes.
// Only blocks fully inside the prompt and inside the hash-covered tokens get a key.
std::vector<std::uint64_t> prompt_block_keys(std::span<const std::uint64_t> hash_ids,
                                             std::uint32_t hash_block_tokens, std::uint32_t input_tokens,
                                             std::int32_t block_size);

}  // namespace servesim
