#pragma once
// The KV tiers below a worker's host memory, shared by many workers (KV block managers' G3 and
// G4): a local disk per node, which the node's workers' host memories evict into, and remote
// storage shared by the whole cluster, which the disks (or, without disks, the host memories)
// evict into. Each is a least-recently-used set of chain keys (KvHostTier). A prompt whose blocks
// continue here after its GPU and host hits has them fetched into its worker's host memory first
// (staged through G2, over the tier's shared link: cluster/kv_storage_module.h), then loads them
// as host hits. Plain class: no SystemC.
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "models/kv_host_tier.h"

namespace servesim {

// The tiers in numbers (scenario kv_storage): capacities in blocks of the participating pools'
// block size; 0 = no such tier.
struct KvStorageSpec {
  std::int32_t nodes = 0;
  std::int64_t disk_blocks_per_node = 0;
  std::int64_t remote_blocks = 0;
};

class KvStorage {
 public:
  explicit KvStorage(const KvStorageSpec& spec);
  bool enabled() const { return !disks_.empty() || remote_ != nullptr; }
  std::int32_t nodes() const { return static_cast<std::int32_t>(disks_.size()); }

  // Where a worker on `node` sends the blocks its host memory evicts: its node's disk, else
  // remote storage, else nowhere (null).
  KvHostTier* below_host(std::int32_t node);

  struct Hit {
    std::int64_t disk_blocks = 0, remote_blocks = 0;
    std::int64_t blocks() const { return disk_blocks + remote_blocks; }
  };
  // How many of `keys`, from the first, are on `node`'s disk or in remote storage (a key on the
  // disk is read from there), without touching their order.
  Hit peek(std::int32_t node, std::span<const std::uint64_t> keys) const;
  // A fetch of those keys read them: each becomes the most recent where it was read.
  void touch(std::int32_t node, std::span<const std::uint64_t> keys);
  // A call after each block written into a tier (what the tiers above evicted into it; its
  // stored() counts them).
  void on_write(const std::function<void()>& f);
  // Reads wait for writes: a block written into a tier is found there only once its write has
  // arrived (KvHostTier::hold_until_written), by the clock `now`.
  void hold_until_written(const std::function<std::int64_t()>& now);
  // A node's disk (node >= 0) or remote storage (node < 0): see KvHostTier::writing and
  // written_through.
  KvHostTier& tier(std::int32_t node) { return node >= 0 ? *disks_.at(static_cast<size_t>(node)) : *remote_; }

 private:
  std::vector<std::unique_ptr<KvHostTier>> disks_;  // per node
  std::unique_ptr<KvHostTier> remote_;
};

}  // namespace servesim
