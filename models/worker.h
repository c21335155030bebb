#pragma once
// Worker: one inference engine replica. One timed event per engine iteration; the scheduler
// decides the batch, the timing model its duration.
#include <systemc>

#include <memory>

#include "core/observer.h"
#include "core/sim.h"
#include "models/engine_scheduler.h"
#include "models/timing/timing_model.h"

namespace servesim {

// Where a worker's KV-cache events go (the router's indexer subscribes, over a timed channel).
class KvEventSink : public virtual sc_core::sc_interface {
 public:
  virtual void publish(std::int32_t worker, std::vector<KvEvent>&& events) = 0;
};

class Worker : public sc_core::sc_module {
 public:
  SC_HAS_PROCESS(Worker);
  Worker(sc_core::sc_module_name name, std::int32_t id, std::int32_t pool,
         std::unique_ptr<EngineScheduler> scheduler, std::unique_ptr<TimingModel> timing,
         TimedChannel<Request*>& done, RunObserver& observer);

  // Optional: bind to receive KV events (block stored / removed, with chain keys).
  sc_core::sc_port<KvEventSink, 1, sc_core::SC_ZERO_OR_MORE_BOUND> kv_events{"kv_events"};

  TimedChannel<Request*>& input() { return input_; }
  std::int32_t id() const { return id_; }
  std::int32_t pool() const { return pool_; }
  EngineLoad load() const { return scheduler_->load(); }
  std::uint64_t iterations() const { return iterations_; }
  std::uint64_t kv_events_published() const { return kv_events_published_; }

 private:
  void step();

  std::int32_t id_, pool_;
  std::unique_ptr<EngineScheduler> scheduler_;
  std::unique_ptr<TimingModel> timing_;
  TimedChannel<Request*> input_;
  TimedChannel<Request*>& done_;
  RunObserver& observer_;
  sc_core::sc_event iteration_done_;
  bool busy_ = false;
  TimeNs iteration_end_ = 0, iteration_len_ = 0;
  BatchShape batch_;
  IterationResult result_;
  std::uint64_t iterations_ = 0;
  std::uint64_t kv_events_published_ = 0;
};

}  // namespace servesim
