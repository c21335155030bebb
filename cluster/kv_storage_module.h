#pragma once
// kv_storage's fetcher: reads the blocks a worker's waiting request needs from its node's disk
// and from remote storage into the worker's host memory. One link per node disk and one for
// remote storage, each shared max-min fairly by the fetches in flight (Fabric); a fetch reads its
// disk blocks and its remote blocks at once, and when the last byte of both has arrived (each
// link's latency after it drained) the worker is told (WorkerMsg kFetched). Writes into the tiers
// (what host memory and the disks evict) queue on each tier's write link, the other direction at
// the same rate, one batch at a time in the order they were evicted (its bytes and utilisation
// in /links): a written block takes its room in the tier at once but is found there only once
// its batch has reached it (the link drained and its latency passed), so a tier whose writes lag
// serves fewer hits.
#include <systemc>

#include <memory>
#include <optional>
#include <vector>

#include "core/messages.h"
#include "core/observer.h"
#include "core/sim.h"
#include "fabric/fabric.h"
#include "models/kv_storage.h"
#include "scenario/scenario.h"

namespace servesim {

struct KvStorageStats {
  std::uint64_t fetches = 0;  // completed
  double disk_bytes = 0, remote_bytes = 0;  // read, by completed fetches
  std::int32_t active = 0;    // in flight
  std::int32_t writes = 0;    // write batches on their links
};

class KvStorageModule : public sc_core::sc_module {
 public:
  SC_HAS_PROCESS(KvStorageModule);
  // `tiers`: the shared tiers, built before the workers (their host memory evicts into them).
  KvStorageModule(sc_core::sc_module_name name, const KvStorageConfig& cfg, const KvStorageLayout& layout,
                  std::unique_ptr<KvStorage> tiers, std::vector<TimedChannel<WorkerMsg>*> workers);

  TimedChannel<StorageFetchMsg>& input() { return input_; }
  KvStorage& tiers() { return *tiers_; }
  std::int32_t node_of(std::int32_t worker) const { return layout_.worker_node.at(static_cast<size_t>(worker)); }
  KvStorageStats stats() const { return stats_; }
  // Its links (a disk per node, then remote storage; the same again for writes), numbered as
  // sample_links() numbers them.
  const std::vector<FabricLinkDesc>& links() const { return links_; }
  // Bytes per link since the previous call, appended to `out` numbered from `first_link`.
  void sample_links(TimeNs now, std::vector<LinkSample>& out, std::int32_t first_link);

 private:
  struct Fetch {
    StorageFetchMsg msg;
    std::int32_t flows_left = 0;
  };
  // One tier's writes: a node's disk (index = node), then remote storage.
  struct WriteQueue {
    std::int32_t link = 0;
    std::uint64_t issued = 0;  // the tier's writes (stored() count) handed to the link so far
    std::optional<Fabric::FlowId> on_link = std::nullopt;  // its batch on the link (the writes through `issued`)
  };
  struct WriteDone {
    std::int32_t queue = 0;
    std::uint64_t through = 0;  // the tier's writes completed with it
  };
  void on_input();
  void on_writes();
  void on_drain();
  void on_arrived();
  void on_written();
  void start_write(size_t queue, TimeNs now);  // the writes not yet issued, as one batch, if the link is free
  std::int32_t queue_node(size_t queue) const;  // its tier: a node's disk, or -1 for remote storage
  void rearm(TimeNs now);

  KvStorageLayout layout_;
  std::unique_ptr<KvStorage> tiers_;
  std::vector<TimedChannel<WorkerMsg>*> workers_;
  std::int32_t remote_link_ = -1;  // link index; disks are links 0 .. nodes - 1 when present
  std::int32_t first_write_link_ = 0;  // the write links follow the read links in the same order
  std::vector<WriteQueue> write_queues_;
  TimedChannel<WriteDone> written_{"written"};  // batches whose last byte reached their tier
  sc_core::sc_event writes_;
  bool disks_ = false;
  std::vector<FabricLinkDesc> links_;  // before fabric_, which is built from them
  Fabric fabric_;
  TimedChannel<StorageFetchMsg> input_{"input"};
  TimedChannel<std::int64_t> arrived_{"arrived"};  // fetch slots one of whose flows' last byte arrived
  sc_core::sc_event wake_;
  std::vector<Fetch> fetches_;
  std::vector<std::int64_t> free_slots_;
  std::vector<std::pair<Fabric::FlowId, std::int64_t>> flow_slot_;  // flows in flight and their fetch
  KvStorageStats stats_;
  std::vector<double> sampled_bytes_;
};

}  // namespace servesim
