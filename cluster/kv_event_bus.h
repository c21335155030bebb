#pragma once
// Carries workers' KV events to the router's indexer with the configured latency: workers'
// kv_events ports bind here.
#include <systemc>

#include "models/worker.h"
#include "router/router_module.h"

namespace servesim {

class KvEventBus : public sc_core::sc_module, public KvEventSink {
 public:
  KvEventBus(sc_core::sc_module_name name, TimedChannel<KvEventBatch>& to_router, TimeNs latency)
      : sc_core::sc_module(name), to_router_(to_router), latency_(latency) {}
  void publish(std::int32_t worker, std::vector<KvEvent>&& events) override {
    to_router_.send(KvEventBatch{worker, std::move(events)}, latency_, static_cast<std::uint32_t>(worker));
  }

 private:
  TimedChannel<KvEventBatch>& to_router_;
  TimeNs latency_;
};

// Workers bind one KV-event port: this passes their events to every sink that wants them (the
// router's bus, live mode's publisher).
class KvEventFanout : public sc_core::sc_module, public KvEventSink {
 public:
  KvEventFanout(sc_core::sc_module_name name, std::vector<KvEventSink*> sinks)
      : sc_core::sc_module(name), sinks_(std::move(sinks)) {}
  void publish(std::int32_t worker, std::vector<KvEvent>&& events) override {
    for (size_t i = 0; i + 1 < sinks_.size(); ++i) sinks_[i]->publish(worker, std::vector<KvEvent>(events));
    sinks_.back()->publish(worker, std::move(events));
  }

 private:
  std::vector<KvEventSink*> sinks_;
};

}  // namespace servesim
