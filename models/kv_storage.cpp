#include "models/kv_storage.h"

namespace servesim {

KvStorage::KvStorage(const KvStorageSpec& spec) {
  if (spec.remote_blocks > 0) remote_ = std::make_unique<KvHostTier>(spec.remote_blocks);
  if (spec.disk_blocks_per_node > 0)
    for (std::int32_t n = 0; n < spec.nodes; ++n) {
      disks_.push_back(std::make_unique<KvHostTier>(spec.disk_blocks_per_node));
      disks_.back()->send_evicted_to(remote_.get());
    }
}

KvHostTier* KvStorage::below_host(std::int32_t node) {
  if (!disks_.empty()) return disks_.at(static_cast<size_t>(node)).get();
  return remote_.get();
}

KvStorage::Hit KvStorage::peek(std::int32_t node, std::span<const std::uint64_t> keys) const {
  Hit hit;
  const KvHostTier* disk = disks_.empty() ? nullptr : disks_.at(static_cast<size_t>(node)).get();
  for (std::uint64_t k : keys) {
    if (disk && disk->holds(k)) ++hit.disk_blocks;
    else if (remote_ && remote_->holds(k)) ++hit.remote_blocks;
    else break;
  }
  return hit;
}

void KvStorage::on_write(const std::function<void()>& f) {
  for (auto& d : disks_) d->on_store(f);
  if (remote_) remote_->on_store(f);
}

void KvStorage::hold_until_written(const std::function<std::int64_t()>& now) {
  for (auto& d : disks_) d->hold_until_written(now);
  if (remote_) remote_->hold_until_written(now);
}

void KvStorage::touch(std::int32_t node, std::span<const std::uint64_t> keys) {
  KvHostTier* disk = disks_.empty() ? nullptr : disks_.at(static_cast<size_t>(node)).get();
  for (size_t i = 0; i < keys.size(); ++i) {
    const std::span<const std::uint64_t> one = keys.subspan(i, 1);
    if (disk && disk->match(one) == 1) continue;
    if (remote_) remote_->match(one);
  }
}

}  // namespace servesim
