#pragma once
// The KV fabric as a SystemC module. A prefilled request asks its decode worker to reserve room
// (the request waits there if there is none); the reservation says how many blocks must move;
// those blocks' bytes are split into rank-to-rank flows by the TP layouts (kv_layout.h), each
// routed over the topology; flows share links max-min fairly (Fabric); when the last byte of
// the last flow arrives, the decode worker is told the KV landed and the prefill worker frees it.
// With overlap: layerwise, reservation starts when the prompt's last iteration starts; the flows
// start once the first layer's KV exists, capped at the rate the iteration produces KV, and the
// cap is lifted when the prompt is done (the last layer's KV is then the only part left).
#include <systemc>

#include <map>
#include <memory>
#include <unordered_map>
#include <vector>

#include "cluster/kv_layout.h"
#include "core/messages.h"
#include "core/observer.h"
#include "core/sim.h"
#include "fabric/fabric.h"
#include "fabric/topology.h"
#include "scenario/scenario.h"

namespace servesim {

struct KvFabricStats {
  std::uint64_t transfers = 0;
  double bytes = 0;
  std::int32_t active = 0;
};

class KvFabric : public sc_core::sc_module {
 public:
  SC_HAS_PROCESS(KvFabric);
  // worker_pools[w]: worker w's pool; worker_gpus[w]: its GPUs (topology vertices) by TP rank.
  KvFabric(sc_core::sc_module_name name, const KvTransferConfig& cfg, const Topology& topology,
           std::vector<const PoolConfig*> worker_pools,
           std::vector<std::vector<int>> worker_gpus, std::vector<TimedChannel<WorkerMsg>*> workers,
           TimedChannel<RouteRelease>& router, RunObserver& observer);

  TimedChannel<FabricMsg>& input() { return input_; }
  KvFabricStats stats() const { return {transfers_done_, bytes_done_, active_}; }
  // Its links, numbered as sample_links() numbers them (the cluster reports them to the observer).
  const std::vector<FabricLinkDesc>& links() const { return links_; }
  // Bytes per link since the previous call (links that carried none are left out), appended to
  // `out` with `first_link` added to each link's number.
  void sample_links(TimeNs now, std::vector<LinkSample>& out, std::int32_t first_link = 0);

 private:
  struct FlowSpec {
    std::vector<std::int32_t> path;
    double bytes_per_token;
  };
  struct PairRoute {
    std::vector<FlowSpec> flows;
    std::int32_t id = -1;  // path index reported to the observer
    std::int32_t hops = 0;
  };
  struct Transfer {
    Request* request = nullptr;
    std::int64_t blocks = 0;
    std::int32_t flows_left = 0;
    bool prefilled = false;  // the prompt is computed: no production cap any more
    bool started = false;
    TimeNs stream_from = -1;  // layerwise: when the first layer's KV exists
    TimeNs stream_ns = 0;     // layerwise: the iteration producing the KV
    std::vector<Fabric::FlowId> flows;
    TransferRecord record;
  };

  void on_input();
  void on_drain();
  void on_landed();
  void on_delayed_start();
  std::int64_t open_transfer(Request* r);
  void start_flows(std::int64_t slot, TimeNs now);
  void finish_transfer(std::int64_t slot, TimeNs now);
  void rearm(TimeNs now);
  const PairRoute& pair_route(std::int32_t from, std::int32_t to);

  bool layerwise_;
  bool full_prompt_;  // kv_transfer.blocks: every prompt block moves, cached at the decode worker or not
  const Topology& topology_;
  std::vector<const PoolConfig*> pools_;
  std::vector<std::vector<int>> gpus_;
  std::vector<TimedChannel<WorkerMsg>*> workers_;
  TimedChannel<RouteRelease>& router_;
  RunObserver& observer_;
  Fabric fabric_;
  TimedChannel<FabricMsg> input_{"input"};
  TimedChannel<std::int64_t> landed_{"landed"};  // transfer slots whose flow's last byte arrived
  TimedChannel<std::int64_t> delayed_start_{"delayed_start"};  // layerwise: slots to start later
  sc_core::sc_event wake_;
  std::map<std::pair<std::int32_t, std::int32_t>, PairRoute> routes_;
  std::vector<Transfer> transfers_;
  std::vector<std::int64_t> free_slots_;
  std::unordered_map<Fabric::FlowId, std::int64_t> flow_slot_;
  std::unordered_map<Request*, std::int64_t> slot_of_;  // open transfers
  std::vector<double> sampled_bytes_;
  std::vector<FabricLinkDesc> links_;
  std::uint64_t transfers_done_ = 0;
  double bytes_done_ = 0;
  std::int32_t active_ = 0;
};

}  // namespace servesim
