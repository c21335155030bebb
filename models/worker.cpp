#include "models/worker.h"

namespace servesim {

Worker::Worker(sc_core::sc_module_name name, std::int32_t id, std::int32_t pool,
               std::unique_ptr<EngineScheduler> scheduler, std::unique_ptr<TimingModel> timing,
               TimedChannel<Request*>& done, RunObserver& observer)
    : sc_core::sc_module(name),
      id_(id),
      pool_(pool),
      scheduler_(std::move(scheduler)),
      timing_(std::move(timing)),
      input_("input"),
      done_(done),
      observer_(observer) {
  SC_METHOD(step);
  sensitive << input_.event() << iteration_done_;
  dont_initialize();
}

void Worker::step() {
  const TimeNs now = now_ns();
  if (busy_ && now >= iteration_end_) {
    scheduler_->complete(now, result_);
    busy_ = false;
    ++iterations_;
    observer_.on_iteration(id_, iteration_len_, batch_, result_);
    for (Request* r : result_.finished) done_.send(r, 0, static_cast<std::uint32_t>(id_));
  }
  input_.drain([&](Request* r) { scheduler_->enqueue(r, now); });
  if (!busy_ && scheduler_->plan(now, batch_)) {
    iteration_len_ = timing_->iteration_ns(batch_);
    if (iteration_len_ <= 0)
      throw InvariantError(fmt::format("worker {}: timing model gave a non-positive iteration time", id_));
    iteration_end_ = now + iteration_len_;
    busy_ = true;
    iteration_done_.notify(ns_time(iteration_len_));
  }
  std::vector<KvEvent> events = scheduler_->take_kv_events();
  if (!events.empty()) {
    kv_events_published_ += events.size();
    if (kv_events.size() > 0) kv_events->publish(id_, std::move(events));
  }
}

}  // namespace servesim
