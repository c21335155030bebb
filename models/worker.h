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

class Worker : public sc_core::sc_module {
 public:
  SC_HAS_PROCESS(Worker);
  Worker(sc_core::sc_module_name name, std::int32_t id, std::int32_t pool,
         std::unique_ptr<EngineScheduler> scheduler, std::unique_ptr<TimingModel> timing,
         TimedChannel<Request*>& done, RunObserver& observer);

  TimedChannel<Request*>& input() { return input_; }
  std::int32_t id() const { return id_; }
  std::int32_t pool() const { return pool_; }
  EngineLoad load() const { return scheduler_->load(); }
  std::uint64_t iterations() const { return iterations_; }

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
};

}  // namespace servesim
