#pragma once
// A lower tier of KV memory (G2: a worker's host memory): the chain keys of blocks evicted from
// the GPU's prefix cache (written back over PCIe before the GPU block is reused), kept
// least-recently-used within a capacity in blocks. A prompt whose next blocks are here after its
// GPU hit loads them back (onboarding) instead of computing them. The shared tiers below
// (kv_storage.h: a node's disk, remote storage) are the same structure. Plain class: no SystemC.
//
// Every block a busy GPU cache evicts passes through here, so the structure is flat: the LRU
// order is an append-only log with lazy removal (a key touched again is appended; its old entry
// goes stale), and an open-addressing table maps each key to its live log entry.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <deque>
#include <functional>
#include <span>
#include <utility>
#include <vector>

#include "models/kv_event.h"

namespace servesim {

// A worker's host tier in numbers: its capacity in blocks (a block holds every TP rank's share,
// as the host keeps the whole worker's KV), the bytes of one block and what each GPU loads of it,
// and a load's cost: the latency plus a GPU's share over its own PCIe link (the ranks load in
// parallel). All zero: no offloading.
struct KvOffloadCosts {
  std::int64_t host_blocks = 0;
  double block_bytes = 0, gpu_block_bytes = 0;
  std::int64_t latency_ns = 0;
  double ns_per_block = 0;
  // One copy of `blocks` blocks over the link (a load, or a blocking write-back): the latency plus
  // each GPU's share of them.
  std::int64_t copy_ns(std::int64_t blocks) const {
    return latency_ns + std::llround(static_cast<double>(blocks) * ns_per_block);
  }
  // Writing blocks to host memory costs an iteration as much as a load of as many blocks (the same
  // link, the other direction): the one that evicts them, or, stored as computed, the one after
  // the one that computed them. Else the copies are overlapped with compute.
  bool blocking_write_back = false;
  // Blocks are copied to host memory as they are computed (a write-through), not as they are
  // evicted from the GPU.
  bool store_on_compute = false;
};

class KvHostTier {
 public:
  explicit KvHostTier(std::int64_t capacity_blocks);
  std::int64_t capacity_blocks() const { return capacity_; }
  std::int64_t size() const { return static_cast<std::int64_t>(size_); }

  // A block evicted from the GPU: stored here (a copy, counted by stored()), or, already here,
  // made the most recent. The least recently used key makes room.
  void store(std::uint64_t key);
  // A block just computed (a write-through): stored here unless already here, where it is left
  // in its place: a write-through does not refresh what it holds (a GPU cache hit never reaches
  // this tier, and a block computed again is not copied again).
  void store_new(std::uint64_t key);
  // A block fetched here from a tier below (kv_storage): held as the most recent, like a stored
  // one, but not counted by stored() (it is no write-back from the GPU).
  void fill(std::uint64_t key);
  // How many of `keys`, from the first, are here (each made the most recent).
  std::int64_t match(std::span<const std::uint64_t> keys);
  // Whether `key` is here and readable (a block whose write is still on its way is not).
  bool holds(std::uint64_t key) const {
    const size_t slot = find(key);
    return slot != kNone && readable(slot);
  }
  // How many would match, without touching the order (admission looks before it commits).
  std::int64_t peek(std::span<const std::uint64_t> keys) const;
  std::uint64_t stored() const { return stored_; }  // blocks copied here so far
  void clear();
  // Changes reported as KvEvents of medium kCpu (a key stored here, one evicted), when on (off by
  // default): the router's view of the tier. A clear() is the owner's kCleared.
  void record_events(bool on) { recording_ = on; }
  std::vector<KvEvent> take_events() { return std::exchange(events_, {}); }
  // Where the keys this tier evicts go (a lower tier: a node's disk, remote storage), or
  // nowhere (null, the default).
  void send_evicted_to(KvHostTier* lower) { evicted_to_ = lower; }
  // Called after each store() that copied a block here (the owner prices the writes).
  void on_store(std::function<void()> f) { on_store_ = std::move(f); }
  // Reads wait for writes (a shared tier below host memory, whose owner times its writes): a
  // stored block is here, taking room and aging, but not found by holds(), match() or peek()
  // until its write has arrived, by the time `now` gives. Off by default (host memory's
  // write-back is timed by the engine).
  void hold_until_written(std::function<std::int64_t()> now) {
    hold_ = true;
    now_ = std::move(now);
  }
  // A batch of writes on its way, the `first`-th through the `through`-th block stored
  // (stored()'s count, from 1), one after another: the first arrives at first_ns, each next
  // ns_per_block later. Batches are announced in order.
  void writing(std::uint64_t first, std::uint64_t through, std::int64_t first_ns, double ns_per_block) {
    batches_.push_back({first, through, first_ns, ns_per_block});
  }
  // The first `writes` blocks stored have arrived (their batches are done with).
  void written_through(std::uint64_t writes);

 private:
  struct Slot {
    std::uint64_t key = 0;  // 0: empty (chain keys are never 0)
    std::uint64_t entry = 0;  // its live entry in log_
    std::uint64_t write = 0;  // stored()'s count once its write was issued (0: readable at once)
  };
  bool readable(size_t slot) const;
  size_t home(std::uint64_t key) const { return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_); }
  size_t find(std::uint64_t key) const;  // its slot, or kNone
  void touch(size_t slot);               // makes the slot's key the most recent
  void erase_slot(size_t slot);
  size_t free_slot_for(std::uint64_t key) const;  // the empty slot ending the key's probe run
  size_t insert(std::uint64_t key);  // its slot
  void evict_oldest();
  size_t put(std::uint64_t key);  // store() without the count: the new key's slot, or kNone if it was here
  void resize(size_t slots);
  void compact_log();
  void compact_log_if_stale();  // once stale entries outnumber live ones twice over
  static constexpr size_t kNone = ~size_t{0};

  std::int64_t capacity_;
  std::vector<Slot> table_;
  size_t mask_ = 0;
  int shift_ = 0;
  size_t size_ = 0;
  std::vector<std::uint64_t> log_;  // keys, least recent first from head_; stale where the table points elsewhere
  size_t head_ = 0;
  std::uint64_t stored_ = 0;
  bool recording_ = false;
  std::vector<KvEvent> events_;
  KvHostTier* evicted_to_ = nullptr;
  std::function<void()> on_store_;
  // hold_until_written: the clock, the writes arrived, and the batches on their way
  struct Batch {
    std::uint64_t first, through;
    std::int64_t first_ns;
    double ns_per_block;
  };
  bool hold_ = false;
  std::function<std::int64_t()> now_;
  std::uint64_t written_ = 0;
  std::deque<Batch> batches_;
};

}  // namespace servesim
