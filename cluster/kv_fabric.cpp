#include "cluster/kv_fabric.h"

#include <algorithm>

#include "cluster/link_sampling.h"
#include "models/catalog.h"

namespace servesim {

namespace {
// Sender id on shared channels (the router and frontend send as 0): same-time messages from
// different modules are then ordered by module, not by process scheduling.
constexpr std::uint32_t kSender = 1;
}  // namespace

KvFabric::KvFabric(sc_core::sc_module_name name, const KvTransferConfig& cfg, const Topology& topology,
                   std::vector<const PoolConfig*> worker_pools,
                   std::vector<std::vector<int>> worker_gpus, std::vector<TimedChannel<WorkerMsg>*> workers,
                   TimedChannel<RouteRelease>& router, RunObserver& observer)
    : sc_core::sc_module(name),
      layerwise_(cfg.overlap == "layerwise"),
      full_prompt_(cfg.blocks == "full_prompt"),
      topology_(topology),
      pools_(std::move(worker_pools)),
      gpus_(std::move(worker_gpus)),
      workers_(std::move(workers)),
      router_(router),
      observer_(observer),
      fabric_(topology.fabric_links()),
      sampled_bytes_(topology.fabric_links().size(), 0.0) {
  for (size_t l = 0; l < topology.fabric_links().size(); ++l)
    links_.push_back({topology.link_info()[l].name, topology.link_info()[l].kind, topology.fabric_links()[l].bytes_per_s,
                      topology.fabric_links()[l].latency_ns});
  SC_METHOD(on_input);
  sensitive << input_.event();
  dont_initialize();
  SC_METHOD(on_drain);
  sensitive << wake_;
  dont_initialize();
  SC_METHOD(on_landed);
  sensitive << landed_.event();
  dont_initialize();
  SC_METHOD(on_delayed_start);
  sensitive << delayed_start_.event();
  dont_initialize();
}

const KvFabric::PairRoute& KvFabric::pair_route(std::int32_t from, std::int32_t to) {
  auto [it, fresh] = routes_.try_emplace({from, to});
  PairRoute& pr = it->second;
  if (!fresh) return pr;
  const PoolConfig& send = *pools_[static_cast<size_t>(from)];
  const PoolConfig& recv = *pools_[static_cast<size_t>(to)];
  const auto& src = gpus_[static_cast<size_t>(from)];
  const auto& dst = gpus_[static_cast<size_t>(to)];
  std::vector<KvShard> shards = kv_shards(Catalog::builtin().deployed_model(send), send.tp, recv.tp);
  // one shortest-path search per sending rank
  std::map<int, std::vector<std::vector<std::int32_t>>> from_rank;
  for (const KvShard& s : shards) {
    auto& paths = from_rank[s.sender_rank];
    if (paths.empty()) paths = topology_.routes_from(src[static_cast<size_t>(s.sender_rank)], dst);
    pr.flows.push_back({paths[static_cast<size_t>(s.receiver_rank)], s.bytes_per_token});
    pr.hops = std::max(pr.hops, static_cast<std::int32_t>(pr.flows.back().path.size()));
  }
  pr.id = static_cast<std::int32_t>(routes_.size() - 1);
  std::string text = topology_.vertex_name(src.front());
  for (auto l : pr.flows.front().path) {
    const std::string& link = topology_.link_info()[static_cast<size_t>(l)].name;
    text += "->" + link.substr(link.find("->") + 2);
  }
  observer_.on_fabric_path(pr.id, fmt::format("{} ({} flows)", text, pr.flows.size()));
  return pr;
}

std::int64_t KvFabric::open_transfer(Request* r) {
  auto [it, fresh] = slot_of_.try_emplace(r, 0);
  if (!fresh) return it->second;
  if (!free_slots_.empty()) {
    it->second = free_slots_.back();
    free_slots_.pop_back();
  } else {
    it->second = static_cast<std::int64_t>(transfers_.size());
    transfers_.emplace_back();
  }
  Transfer& t = transfers_[static_cast<size_t>(it->second)];
  t = Transfer{};
  t.request = r;
  workers_.at(static_cast<size_t>(r->worker))->send(WorkerMsg{WorkerMsg::Kind::kReserve, r}, 0, kSender);
  return it->second;
}

void KvFabric::on_input() {
  const TimeNs now = now_ns();
  input_.drain([&](FabricMsg&& m) {
    Request* r = m.request;
    switch (m.kind) {
      case FabricMsg::Kind::kPrefillStarting: {
        if (!layerwise_) break;
        Transfer& t = transfers_[static_cast<size_t>(open_transfer(r))];
        const int layers = Catalog::builtin().model(pools_[static_cast<size_t>(r->prefill_worker)]->model).layers;
        t.stream_ns = m.duration_ns;
        t.stream_from = now + m.duration_ns / layers;
        break;
      }
      case FabricMsg::Kind::kPrefilled: {
        router_.send(RouteRelease{r->prefill_worker, r->input_tokens, true, r->prefill_dp_rank}, 0, kSender);
        Transfer& t = transfers_[static_cast<size_t>(open_transfer(r))];
        t.prefilled = true;
        if (t.started)  // the last layer is done: the flows may go as fast as the links allow
          for (Fabric::FlowId f : t.flows) fabric_.set_cap(now, f, std::numeric_limits<double>::infinity());
        break;
      }
      case FabricMsg::Kind::kReserved: {
        r->reserved_ns = now;
        const std::int64_t slot = slot_of_.at(r);
        Transfer& t = transfers_[static_cast<size_t>(slot)];
        if (full_prompt_) {  // the decode worker's block size: the blocks its KV lands in
          const std::int64_t bs = pools_[static_cast<size_t>(r->worker)]->engine.block_size;
          t.blocks = (static_cast<std::int64_t>(r->input_tokens) + bs - 1) / bs;
        } else {
          t.blocks = m.blocks;
        }
        if (!t.prefilled && t.stream_from > now) delayed_start_.send(slot, t.stream_from - now, 0);
        else start_flows(slot, now);
        break;
      }
    }
  });
  rearm(now);
}

void KvFabric::on_delayed_start() {
  const TimeNs now = now_ns();
  delayed_start_.drain([&](std::int64_t slot) { start_flows(slot, now); });
  rearm(now);
}

void KvFabric::start_flows(std::int64_t slot, TimeNs now) {
  Transfer& t = transfers_[static_cast<size_t>(slot)];
  Request* r = t.request;
  const PairRoute& pr = pair_route(r->prefill_worker, r->worker);
  const double tokens = static_cast<double>(t.blocks) * pools_[static_cast<size_t>(r->worker)]->engine.block_size;
  t.started = true;
  t.record = TransferRecord{r->id, r->prefill_worker, r->worker, t.blocks, 0, static_cast<std::int32_t>(pr.flows.size()),
                            pr.hops, pr.id, now, -1};
  r->transfer_start_ns = now;
  ++active_;
  if (t.blocks > 0)
    for (const FlowSpec& f : pr.flows) {
      const double bytes = tokens * f.bytes_per_token;
      // still computing: the KV cannot leave faster than the iteration produces it
      const double cap = t.prefilled ? std::numeric_limits<double>::infinity() : bytes / ns_to_s(t.stream_ns);
      const Fabric::FlowId id = fabric_.start(now, bytes, f.path, cap);
      flow_slot_[id] = slot;
      t.flows.push_back(id);
      t.record.bytes += bytes;
      ++t.flows_left;
    }
  r->transfer_bytes = t.record.bytes;
  if (t.flows_left == 0) finish_transfer(slot, now);  // every block was already cached there
}

void KvFabric::on_drain() {
  const TimeNs now = now_ns();
  for (const Fabric::Drained& d : fabric_.drain_until(now)) {
    auto it = flow_slot_.find(d.id);
    landed_.send(it->second, d.latency_ns, 0);
    auto& flows = transfers_[static_cast<size_t>(it->second)].flows;
    flows.erase(std::find(flows.begin(), flows.end(), d.id));
    flow_slot_.erase(it);
  }
  rearm(now);
}

void KvFabric::on_landed() {
  const TimeNs now = now_ns();
  landed_.drain([&](std::int64_t slot) {
    if (--transfers_[static_cast<size_t>(slot)].flows_left == 0) finish_transfer(slot, now);
  });
}

void KvFabric::finish_transfer(std::int64_t slot, TimeNs now) {
  Transfer& t = transfers_[static_cast<size_t>(slot)];
  Request* r = t.request;
  r->transfer_end_ns = now;
  t.record.end_ns = now;
  workers_.at(static_cast<size_t>(r->worker))->send(WorkerMsg{WorkerMsg::Kind::kLand, r}, 0, kSender);
  workers_.at(static_cast<size_t>(r->prefill_worker))->send(WorkerMsg{WorkerMsg::Kind::kRelease, r}, 0, kSender);
  observer_.on_transfer(t.record);
  ++transfers_done_;
  bytes_done_ += t.record.bytes;
  --active_;
  slot_of_.erase(r);
  t.request = nullptr;
  free_slots_.push_back(slot);
}

void KvFabric::rearm(TimeNs now) {
  const TimeNs next = fabric_.next_drain();
  wake_.cancel();
  if (next != Fabric::kNever) wake_.notify(ns_time(std::max<TimeNs>(0, next - now)));
}

void KvFabric::sample_links(TimeNs now, std::vector<LinkSample>& out, std::int32_t first_link) {
  sample_fabric_links(fabric_, now, sampled_bytes_, first_link, out);
}

}  // namespace servesim
