#include "models/worker.h"

#include <algorithm>

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
    if (power_) {
      result_.energy_j = iteration_energy_j_;
      result_.idle_energy_j = idle_w() * ns_to_s(iteration_len_);
    }
    busy_ = false;
    ++iterations_;
    observer_.on_iteration(id_, iteration_len_, batch_, result_);
    check_progress();
    for (Request* r : result_.finished) done_.send(r, 0, static_cast<std::uint32_t>(id_));
    for (Request* r : result_.prefilled)
      fabric().send(FabricMsg{FabricMsg::Kind::kPrefilled, r, 0}, 0, static_cast<std::uint32_t>(id_));
  }
  input_.drain([&](WorkerMsg&& m) { accept(m, now); });
  if (!busy_ && !aborts_.empty()) apply_aborts(now);
  try_reservations(now);
  if (!busy_ && scheduler_->plan(now, batch_)) {
    // attention data parallelism: the ranks step together, as long as the slowest one's batch
    const std::span<const BatchShape> ranks = scheduler_->rank_batches();
    TimeNs priced = 0;
    if (ranks.empty()) priced = timing_->iteration_ns(batch_);
    for (const BatchShape& b : ranks)
      if (!b.empty()) priced = std::max(priced, timing_->iteration_ns(b));
    iteration_len_ = priced + scheduler_->planned_extra_ns();
    if (iteration_len_ <= 0)
      throw InvariantError(fmt::format("worker {}: timing model gave a non-positive iteration time", id_));
    iteration_end_ = now + iteration_len_;
    busy_ = true;
    if (power_) {
      iteration_energy_j_ = 0;  // each rank's GPUs busy the whole step (an idle rank runs an empty batch)
      if (ranks.empty()) iteration_energy_j_ = power_->busy_j(batch_, iteration_len_);
      for (const BatchShape& b : ranks) iteration_energy_j_ += power_->busy_j(b, iteration_len_);
      const std::int64_t tokens = batch_.computed_tokens();
      scheduler_->charge_energy(iteration_energy_j_ / static_cast<double>(std::max<std::int64_t>(1, tokens)));
    }
    if (fabric_) {
      scheduler_->completing_prefills(completing_);
      for (Request* r : completing_)
        fabric_->send(FabricMsg{FabricMsg::Kind::kPrefillStarting, r, 0, iteration_len_}, 0,
                      static_cast<std::uint32_t>(id_));
    }
    iteration_done_.notify(ns_time(iteration_len_));
  }
  send_fetches();
  publish_kv_events();
  if (on_idle_ && idle()) on_idle_(id_);
}

void Worker::send_fetches() {
  if (!storage_) return;
  scheduler_->take_fetches(fetches_);
  for (const EngineScheduler::StorageFetch& f : fetches_) {
    fetches_in_flight_[f.request] = ++fetch_serial_;
    storage_->send(StorageFetchMsg{id_, f.request, f.disk_blocks, f.remote_blocks, fetch_serial_}, 0,
                   static_cast<std::uint32_t>(id_));
  }
}

// Livelock: iterations that emit no token and finish no prompt while requests wait. A legitimate
// run of them only computes prompt chunks, at least one token an iteration, so it is shorter than
// the longest request this worker has seen; past that (plus a margin) the engine is spinning.
void Worker::check_progress() {
  if (result_.tokens_emitted > 0 || !result_.finished.empty() || !result_.prefilled.empty()) {
    barren_iterations_ = 0;
    return;
  }
  if (++barren_iterations_ <= kBarrenMargin + longest_request_tokens_) return;
  const EngineLoad l = scheduler_->load();
  throw InvariantError(fmt::format(
      "worker {} livelocked: {} iterations in a row emitted no token while {} requests wait and {} run; KV {} of {} "
      "blocks in use ({:.1f}%); held {}, incoming {}",
      id_, barren_iterations_, l.waiting, l.running, l.kv_blocks_used, l.kv_blocks_total,
      l.kv_blocks_total ? 100.0 * static_cast<double>(l.kv_blocks_used) / static_cast<double>(l.kv_blocks_total) : 0.0,
      l.held, l.incoming));
}

// KV events cost a record per block stored and evicted: kept only when something reads them.
void Worker::start_of_simulation() { scheduler_->record_kv_events(kv_events.size() > 0); }

void Worker::publish_kv_events() {
  std::vector<KvEvent> events = scheduler_->take_kv_events();
  if (!events.empty()) {
    kv_events_published_ += events.size();
    if (kv_events.size() > 0) kv_events->publish(id_, std::move(events));
  }
}

bool Worker::idle() const {
  if (busy_ || !reservations_.empty()) return false;
  EngineLoad l = scheduler_->load();
  return l.waiting == 0 && l.running == 0 && l.held == 0 && l.incoming == 0;
}

std::vector<Request*> Worker::stop() {
  stopped_ = true;
  if (busy_) {
    iteration_done_.cancel();
    busy_ = false;
  }
  aborts_.clear();  // the requests go back with the rest; their clients' aborts are re-sent
  fetches_in_flight_.clear();  // their arrivals find nothing waiting
  std::vector<Request*> lost = scheduler_->reset();
  lost.insert(lost.end(), reservations_.begin(), reservations_.end());
  reservations_.clear();
  publish_kv_events();
  return lost;
}

void Worker::accept(const WorkerMsg& m, TimeNs now) {
  if (stopped_) {
    // a request routed just before the worker stopped goes back to be routed again; a KV
    // hand-off never reaches a stopped worker (it stops only when nothing routed to it is left)
    if (m.kind == WorkerMsg::Kind::kAbort) return;  // it left with the engine's state (stop())
    if (m.kind == WorkerMsg::Kind::kFetched) return;  // likewise
    const bool new_work = m.kind == WorkerMsg::Kind::kRun || m.kind == WorkerMsg::Kind::kPrefill;
    if (!on_bounce_ || !new_work)
      throw InvariantError(fmt::format("worker {} is stopped but was sent request {}", id_, m.request->id));
    on_bounce_(m.request);
    return;
  }
  if (m.kind == WorkerMsg::Kind::kRun || m.kind == WorkerMsg::Kind::kPrefill)
    longest_request_tokens_ = std::max<std::uint64_t>(
        longest_request_tokens_, std::uint64_t{m.request->input_tokens} + m.request->output_tokens);
  switch (m.kind) {
    case WorkerMsg::Kind::kRun: scheduler_->enqueue(m.request, now, EngineJob::kFull); break;
    case WorkerMsg::Kind::kPrefill: scheduler_->enqueue(m.request, now, EngineJob::kPrefillOnly); break;
    case WorkerMsg::Kind::kReserve:
      if (m.request->reserve_start_ns < 0) m.request->reserve_start_ns = now;
      reservations_.push_back(m.request);
      break;
    case WorkerMsg::Kind::kLand: scheduler_->land(m.request, now); break;
    case WorkerMsg::Kind::kRelease: scheduler_->release_prefilled(m.request); break;
    case WorkerMsg::Kind::kAbort: aborts_.push_back(m.request); break;
    case WorkerMsg::Kind::kFetched: {
      auto it = fetches_in_flight_.find(m.request);
      if (it == fetches_in_flight_.end() || it->second != m.fetch_serial) break;  // not the fetch it waits for
      fetches_in_flight_.erase(it);
      scheduler_->fetched(m.request, now);
      break;
    }
  }
}

// As vLLM does, an abort takes effect between iterations: the request leaves the engine, its
// blocks are freed, and it is reported done (aborted) with the tokens it had produced.
void Worker::apply_aborts(TimeNs now) {
  for (Request* r : aborts_) {
    if (r->status != RequestStatus::kInFlight || !scheduler_->abort(r)) continue;
    fetches_in_flight_.erase(r);
    r->status = RequestStatus::kAborted;
    r->finish_ns = now;
    done_.send(r, 0, static_cast<std::uint32_t>(id_));
  }
  aborts_.clear();
}

// Blocks free up only when an iteration ends, so retrying at each step is enough.
void Worker::try_reservations(TimeNs now) {
  while (!reservations_.empty()) {
    std::optional<std::int64_t> blocks = scheduler_->reserve(reservations_.front(), now);
    if (!blocks) return;
    fabric().send(FabricMsg{FabricMsg::Kind::kReserved, reservations_.front(), *blocks}, 0,
                  static_cast<std::uint32_t>(id_));
    reservations_.pop_front();
  }
}

TimedChannel<FabricMsg>& Worker::fabric() {
  if (!fabric_) throw InvariantError(fmt::format("worker {} has a disaggregated request but no KV fabric", id_));
  return *fabric_;
}

}  // namespace servesim
