#pragma once
// One HTTP request in flight: shared by the HTTP thread that answers it and the simulation thread
// that serves it. The simulation side writes progress under `mu` and notifies `cv`.
#include <condition_variable>
#include <cstdint>
#include <mutex>

#include "core/request.h"
#include "live/openai_api.h"

namespace servesim::live {

struct ClientRequest {
  std::uint64_t client_id = 0;
  ApiRequest api;
  ResponseHead head;
  double wall_arrival_s = 0;  // seconds since the live run started, when the server took it
  std::uint32_t prompt_tokens = 0;
  std::int32_t pinned_worker = -1;  // came through this worker's own endpoint

  std::mutex mu;
  std::condition_variable cv;
  // written by the simulation thread
  std::uint64_t request_id = 0;  // the simulated request's id (/requests)
  std::uint32_t tokens = 0;      // output tokens produced so far
  bool ended = false;
  RequestStatus status = RequestStatus::kInFlight;
  RejectReason reject_reason = RejectReason::kNone;  // why, when status is kRejected
  std::uint32_t cached_tokens = 0;
  double sim_arrival_s = -1, sim_first_token_s = -1, sim_finish_s = -1;
  // written by the HTTP thread
  double wall_first_token_s = -1, wall_last_token_s = -1, wall_finish_s = -1;  // when sent
};

}  // namespace servesim::live
