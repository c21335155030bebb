#include "cluster/kv_storage_module.h"

#include <algorithm>

#include <fmt/format.h>

#include "cluster/link_sampling.h"

namespace servesim {

namespace {
constexpr std::uint32_t kSender = 2;  // beside the KV fabric's 1: same-time messages ordered by module

// Reads: a disk per node (named disk.node<N>), then remote storage; then the same for writes,
// each direction a link of its own at the tier's rate (disk.node<N>.write, remote.write).
std::vector<FabricLinkDesc> storage_links(const KvStorageConfig& cfg, const KvStorageLayout& layout) {
  std::vector<FabricLinkDesc> links;
  auto link = [](std::string name, std::string kind, const KvStorageTierConfig& t) {
    return FabricLinkDesc{std::move(name), std::move(kind), t.gbyte_per_s.value_or(1) * 1e9, t.latency.ns()};
  };
  for (const char* suffix : {"", ".write"}) {
    const std::string kind = *suffix ? "_write" : "";
    if (layout.spec.disk_blocks_per_node > 0)
      for (std::int32_t n = 0; n < layout.spec.nodes; ++n)
        links.push_back(link(fmt::format("disk.node{}{}", n, suffix), "disk" + kind, cfg.disk));
    if (layout.spec.remote_blocks > 0)
      links.push_back(link(fmt::format("remote{}", suffix), "remote" + kind, cfg.remote));
  }
  return links;
}

std::vector<FabricLink> fabric_links(const std::vector<FabricLinkDesc>& descs) {
  std::vector<FabricLink> links;
  for (const FabricLinkDesc& d : descs) links.push_back({d.bytes_per_s, d.latency_ns});
  return links;
}
}  // namespace

KvStorageModule::KvStorageModule(sc_core::sc_module_name name, const KvStorageConfig& cfg,
                                 const KvStorageLayout& layout, std::unique_ptr<KvStorage> tiers,
                                 std::vector<TimedChannel<WorkerMsg>*> workers)
    : sc_core::sc_module(name),
      layout_(layout),
      tiers_(std::move(tiers)),
      workers_(std::move(workers)),
      disks_(layout.spec.disk_blocks_per_node > 0),
      links_(storage_links(cfg, layout)),
      fabric_(fabric_links(links_)),
      sampled_bytes_(links_.size(), 0.0) {
  if (layout.spec.remote_blocks > 0) remote_link_ = disks_ ? layout.spec.nodes : 0;
  first_write_link_ = static_cast<std::int32_t>(links_.size() / 2);
  // the write links in the read links' order: each node's disk, then remote storage
  for (std::int32_t q = 0; q < first_write_link_; ++q) write_queues_.push_back({first_write_link_ + q});
  tiers_->hold_until_written([] { return now_ns(); });
  tiers_->on_write([this] { writes_.notify(sc_core::SC_ZERO_TIME); });
  SC_METHOD(on_writes);
  sensitive << writes_;
  dont_initialize();
  SC_METHOD(on_written);
  sensitive << written_.event();
  dont_initialize();
  SC_METHOD(on_input);
  sensitive << input_.event();
  dont_initialize();
  SC_METHOD(on_drain);
  sensitive << wake_;
  dont_initialize();
  SC_METHOD(on_arrived);
  sensitive << arrived_.event();
  dont_initialize();
}

void KvStorageModule::on_input() {
  const TimeNs now = now_ns();
  input_.drain([&](StorageFetchMsg&& m) {
    std::int64_t slot;
    if (!free_slots_.empty()) {
      slot = free_slots_.back();
      free_slots_.pop_back();
    } else {
      slot = static_cast<std::int64_t>(fetches_.size());
      fetches_.emplace_back();
    }
    Fetch& f = fetches_[static_cast<size_t>(slot)];
    f = Fetch{m, 0};
    auto start = [&](std::int64_t blocks, std::int32_t link) {
      if (blocks <= 0) return;
      flow_slot_.emplace_back(fabric_.start(now, static_cast<double>(blocks) * layout_.block_bytes, {link}), slot);
      ++f.flows_left;
    };
    start(m.disk_blocks, disks_ ? node_of(m.worker) : -1);
    start(m.remote_blocks, remote_link_);
    ++stats_.active;
  });
  rearm(now);
}

std::int32_t KvStorageModule::queue_node(size_t queue) const {
  return disks_ && queue < static_cast<size_t>(layout_.spec.nodes) ? static_cast<std::int32_t>(queue) : -1;
}

void KvStorageModule::start_write(size_t queue, TimeNs now) {
  WriteQueue& q = write_queues_[queue];
  KvHostTier& tier = tiers_->tier(queue_node(queue));
  const std::uint64_t written = tier.stored();
  if (q.on_link || written == q.issued) return;
  const double bytes = static_cast<double>(written - q.issued) * layout_.block_bytes;
  const std::uint64_t first = q.issued + 1;
  q.issued = written;
  q.on_link = fabric_.start(now, bytes, {q.link});
  ++stats_.writes;
  // alone on its link, the batch moves at the link's rate: its blocks arrive one after another
  const FabricLinkDesc& link = links_[static_cast<size_t>(q.link)];
  const double ns_per_block = layout_.block_bytes / link.bytes_per_s * 1e9;
  tier.writing(first, written, now + link.latency_ns + std::llround(ns_per_block), ns_per_block);
}

// What the tiers above evicted into the tiers since the last call: a batch per write link that
// is free (the others take it when their batch in flight drains).
void KvStorageModule::on_writes() {
  const TimeNs now = now_ns();
  for (size_t q = 0; q < write_queues_.size(); ++q) start_write(q, now);
  rearm(now);
}

void KvStorageModule::on_drain() {
  const TimeNs now = now_ns();
  for (const Fabric::Drained& d : fabric_.drain_until(now)) {
    if (auto q = std::find_if(write_queues_.begin(), write_queues_.end(), [&](const auto& w) { return w.on_link == d.id; });
        q != write_queues_.end()) {
      const auto queue = static_cast<std::int32_t>(q - write_queues_.begin());
      written_.send(WriteDone{queue, q->issued}, d.latency_ns, kSender);
      q->on_link.reset();
      --stats_.writes;
      start_write(static_cast<size_t>(queue), now);  // the link is free: the next batch
      continue;
    }
    auto it = std::find_if(flow_slot_.begin(), flow_slot_.end(), [&](const auto& fs) { return fs.first == d.id; });
    arrived_.send(it->second, d.latency_ns, kSender);
    flow_slot_.erase(it);
  }
  rearm(now);
}

void KvStorageModule::on_written() {
  written_.drain([&](const WriteDone& done) {
    tiers_->tier(queue_node(static_cast<size_t>(done.queue))).written_through(done.through);
  });
}

void KvStorageModule::on_arrived() {
  arrived_.drain([&](std::int64_t slot) {
    Fetch& f = fetches_[static_cast<size_t>(slot)];
    if (--f.flows_left > 0) return;
    stats_.disk_bytes += static_cast<double>(f.msg.disk_blocks) * layout_.block_bytes;
    stats_.remote_bytes += static_cast<double>(f.msg.remote_blocks) * layout_.block_bytes;
    ++stats_.fetches;
    --stats_.active;
    workers_.at(static_cast<size_t>(f.msg.worker))
        ->send(WorkerMsg{WorkerMsg::Kind::kFetched, f.msg.request, f.msg.fetch_serial}, 0, kSender);
    free_slots_.push_back(slot);
  });
}

void KvStorageModule::sample_links(TimeNs now, std::vector<LinkSample>& out, std::int32_t first_link) {
  sample_fabric_links(fabric_, now, sampled_bytes_, first_link, out);
}

void KvStorageModule::rearm(TimeNs now) {
  const TimeNs next = fabric_.next_drain();
  wake_.cancel();
  if (next != Fabric::kNever) wake_.notify(ns_time(std::max<TimeNs>(0, next - now)));
}

}  // namespace servesim
