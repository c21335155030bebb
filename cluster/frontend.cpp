#include "cluster/frontend.h"

#include <algorithm>
#include <cmath>

namespace servesim {

Frontend::Frontend(sc_core::sc_module_name name, TimedChannel<TraceRequest>& arrivals,
                   TimedChannel<Request*>& to_router, TimedChannel<Request*>& done,
                   TimedChannel<RouteRelease>& done_to_router, RunObserver& observer,
                   std::uint32_t hash_block_tokens, const std::vector<std::string>& served_models,
                   TimeNs request_latency_ns, const std::vector<std::pair<std::string, std::int16_t>>& adapters,
                   const FrontendProcessing& processing)
    : sc_core::sc_module(name),
      arrivals_(arrivals),
      to_router_(to_router),
      done_(done),
      done_to_router_(done_to_router),
      observer_(observer),
      hash_block_tokens_(hash_block_tokens),
      request_latency_ns_(request_latency_ns),
      processing_(processing),
      process_free_at_(static_cast<size_t>(std::max(1, processing.processes)), 0) {
  for (size_t i = 0; i < served_models.size(); ++i)
    model_index_.emplace(served_models[i], Served{static_cast<std::int16_t>(i), -1});
  // as an OpenAI client (and vLLM) has it: `model` names an adapter to use it on its base model
  for (size_t a = 0; a < adapters.size(); ++a)
    model_index_.emplace(adapters[a].first, Served{adapters[a].second, static_cast<std::int16_t>(a)});
  SC_METHOD(on_arrivals);
  sensitive << arrivals_.event();
  dont_initialize();
  SC_METHOD(on_done);
  sensitive << done_.event();
  dont_initialize();
}

void Frontend::account(TimeNs now) {
  area_ns_ += static_cast<double>(in_system_) * static_cast<double>(now - area_at_);
  area_at_ = now;
}

double Frontend::in_system_area_ns() const {
  return area_ns_ + static_cast<double>(in_system_) * static_cast<double>(now_ns() - area_at_);
}

Request* Frontend::allocate() {
  if (!free_.empty()) {
    Request* r = free_.back();
    free_.pop_back();
    *r = Request{};
    return r;
  }
  return &slots_.emplace_back();
}

void Frontend::release(Request* r) {
  r->hash_ids = {};  // give the memory back now, not when the slot is reused
  r->wait_for = {};
  r->block_keys = {};
  free_.push_back(r);
}

TimeNs Frontend::processed_at(TimeNs now, std::uint32_t input_tokens) {
  const TimeNs busy_ns =
      processing_.per_request_ns +
      static_cast<TimeNs>(std::llround(static_cast<double>(processing_.per_1k_input_tokens_ns) *
                                       static_cast<double>(input_tokens) / 1000.0));
  if (busy_ns == 0) return now;
  // arrival order, each to the process free first (the lowest index among equals)
  auto process = std::min_element(process_free_at_.begin(), process_free_at_.end());
  *process = std::max(now, *process) + busy_ns;
  return *process;
}

void Frontend::on_arrivals() {
  const TimeNs now = now_ns();
  account(now);
  arrivals_.drain([&](TraceRequest&& t) {
    Request* r = allocate();
    r->id = next_id_++;
    r->arrival_ns = now;
    r->input_tokens = t.input_tokens;
    r->output_tokens = t.output_tokens;
    r->hash_block_tokens = t.hash_block_tokens ? t.hash_block_tokens : hash_block_tokens_;
    r->hash_ids = std::move(t.hash_ids);
    r->session_id = t.session_id;
    r->priority = t.priority;
    r->slo_class = t.slo_class;
    r->client_id = t.client_id;
    r->pinned_worker = t.pinned_worker;
    r->trace_id = t.trace_id;
    r->wait_for = std::move(t.wait_for);
    r->deps_done_ns = t.deps_done_ns;
    r->think_ns = s_to_ns(t.delay_s);
    r->tool_wait_ns = s_to_ns(t.tool_wait_s);
    ++arrived_;
    if (!t.model.empty()) {
      auto m = model_index_.find(t.model);
      if (m == model_index_.end()) {
        reject(r, RejectReason::kUnknownModel);
        return;
      }
      r->model = m->second.model;
      r->lora = m->second.lora;
    }
    if (t.client_id) by_client_.emplace(t.client_id, r);
    ++in_system_;
    observer_.on_arrival(*r);
    to_router_.send(r, processed_at(now, r->input_tokens) - now + request_latency_ns_, 0);
  });
}

// Ends a request that no worker will serve, at its arrival: recorded and counted, never routed.
void Frontend::reject(Request* r, RejectReason why) {
  r->status = RequestStatus::kRejected;
  r->reject_reason = why;
  r->finish_ns = r->arrival_ns;
  ++rejected_;
  observer_.on_arrival(*r);
  observer_.on_request_done(*r);
  if (ended_ && (every_end_ || r->trace_id)) ended_->send(r->trace_id, 0, 0);
  release(r);
}

void Frontend::on_done() {
  const TimeNs now = now_ns();
  account(now);
  done_.drain([&](Request* r) {
    if (r->status == RequestStatus::kRejected) {  // admission control turned it away: it was never routed
      ++rejected_;
      --in_system_;
      observer_.on_request_done(*r);
      if (r->client_id) by_client_.erase(r->client_id);
      if (ended_ && (every_end_ || r->trace_id)) ended_->send(r->trace_id, 0, 0);
      release(r);
      return;
    }
    if (r->status == RequestStatus::kFailed) {  // its worker stopped and it is not retried
      ++failed_;
    } else if (r->status == RequestStatus::kAborted) {  // its client went away
      ++aborted_;
    } else if (r->status != RequestStatus::kCompleted) {
      throw InvariantError(fmt::format("request {} reported done with status {}", r->id,
                                       static_cast<int>(r->status)));
    } else if (r->tokens_emitted != r->output_tokens) {
      throw InvariantError(fmt::format("request {} finished with {} of {} output tokens", r->id,
                                       r->tokens_emitted, r->output_tokens));
    } else {
      ++completed_;
    }
    --in_system_;
    observer_.on_request_done(*r);
    if (r->client_id) by_client_.erase(r->client_id);
    done_to_router_.send(
        RouteRelease{r->worker, static_cast<std::int64_t>(r->input_tokens) + r->output_tokens, false, r->dp_rank}, 0, 0);
    if (ended_ && (every_end_ || r->trace_id)) ended_->send(r->trace_id, 0, 0);
    release(r);
  });
}

void Frontend::abandon_in_flight() {
  for (Request& r : slots_) {  // freed slots hold finished requests; the rest are live
    if (r.status == RequestStatus::kInFlight) {
      r.status = RequestStatus::kUnfinished;
      observer_.on_request_done(r);
    }
  }
}

}  // namespace servesim
