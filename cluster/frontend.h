#pragma once
// Frontend: turns trace rows into requests, owns them for their lifetime, forwards them to
// the router, and reports each finished request to the observer exactly once.
#include <systemc>

#include <deque>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/observer.h"
#include "core/sim.h"
#include "router/router_module.h"
#include "traces/trace_source.h"

namespace servesim {

// The frontend's processes (FrontendProcessingConfig): each takes one request at a time for
// per_request_ns + per_1k_input_tokens_ns x prompt tokens / 1000.
struct FrontendProcessing {
  std::int32_t processes = 1;
  TimeNs per_request_ns = 0;
  TimeNs per_1k_input_tokens_ns = 0;
};

class Frontend : public sc_core::sc_module {
 public:
  SC_HAS_PROCESS(Frontend);
  Frontend(sc_core::sc_module_name name, TimedChannel<TraceRequest>& arrivals,
           TimedChannel<Request*>& to_router, TimedChannel<Request*>& done,
           TimedChannel<RouteRelease>& done_to_router, RunObserver& observer, std::uint32_t hash_block_tokens,
           const std::vector<std::string>& served_models, TimeNs request_latency_ns = 0,
           const std::vector<std::pair<std::string, std::int16_t>>& adapters = {},
           const FrontendProcessing& processing = {});

  std::int64_t in_system() const { return in_system_; }
  double in_system_area_ns() const;  // integral of in_system up to now
  std::uint64_t arrived() const { return arrived_; }
  std::uint64_t completed() const { return completed_; }
  std::uint64_t failed() const { return failed_; }
  std::uint64_t aborted() const { return aborted_; }
  std::uint64_t rejected() const { return rejected_; }
  // Live mode: the request in flight that came from this HTTP request (nullptr once it ended).
  Request* find_client_request(std::uint64_t client_id) const {
    auto it = by_client_.find(client_id);
    return it == by_client_.end() ? nullptr : it->second;
  }
  // The trace player: told the trace id of each request that ends and that a row may wait for
  // (nonzero id), or of every request (`every`: closed loops count them all).
  void notify_ended(TimedChannel<std::uint64_t>& ended, bool every) {
    ended_ = &ended;
    every_end_ = every;
  }
  // Marks every request still in flight unfinished and reports it (end of a capped run).
  void abandon_in_flight();

 private:
  void on_arrivals();
  void on_done();
  void reject(Request* r, RejectReason why);
  void account(TimeNs now);
  Request* allocate();
  void release(Request* r);
  // When the request arriving now leaves the frontend's processes (now when they take no time).
  TimeNs processed_at(TimeNs now, std::uint32_t input_tokens);

  TimedChannel<TraceRequest>& arrivals_;
  TimedChannel<Request*>& to_router_;
  TimedChannel<Request*>& done_;
  TimedChannel<RouteRelease>& done_to_router_;
  TimedChannel<std::uint64_t>* ended_ = nullptr;
  bool every_end_ = false;
  RunObserver& observer_;
  std::uint32_t hash_block_tokens_;
  struct Served {
    std::int16_t model;
    std::int16_t lora;
  };
  std::unordered_map<std::string, Served> model_index_;  // served model or adapter -> Request::model, ::lora
  TimeNs request_latency_ns_;
  FrontendProcessing processing_;
  std::vector<TimeNs> process_free_at_;  // when each process finishes the requests it was given

  std::deque<Request> slots_;  // stable addresses; freed slots are reused, so this is
                               // bounded by the peak number of requests in flight
  std::vector<Request*> free_;
  std::unordered_map<std::uint64_t, Request*> by_client_;  // live requests in flight (empty for traces)
  std::uint64_t next_id_ = 0, arrived_ = 0, completed_ = 0, failed_ = 0, aborted_ = 0, rejected_ = 0;
  std::int64_t in_system_ = 0;
  double area_ns_ = 0;
  TimeNs area_at_ = 0;
};

}  // namespace servesim
