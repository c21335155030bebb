#pragma once
// A routing policy picks one worker for a request from the ready workers, as the router
// sees them (an attention-DP worker whose ranks the router picks counts once per rank, each with
// its own load and prefix overlap). Plain class: unit-testable without SystemC.
#include <cstdint>
#include <span>

#include "core/registry.h"
#include "core/request.h"
#include "router/router_config.h"

namespace servesim {

struct WorkerView {
  std::int32_t worker_id = 0;
  std::int32_t active_seqs = 0;     // requests in flight there, as the router sees them
  std::int64_t active_tokens = 0;   // their prompt + output tokens (router bookkeeping)
  std::int64_t active_blocks = 0;   // KV blocks they occupy, as the router sees them
  std::int64_t overlap_blocks = 0;  // the request's leading blocks the router believes are cached there
  std::int64_t host_overlap_blocks = 0;  // the blocks after those it believes are in the worker's host memory
  std::int64_t storage_overlap_blocks = 0;  // the blocks after both that its node's disk or remote storage holds
  std::int32_t dp_rank = -1;  // one attention-DP rank of the worker (engine.dp_balance router), else -1
};

class RouterPolicy {
 public:
  virtual ~RouterPolicy() = default;
  // Index into `workers` (never empty). `request_blocks`: the request's prompt blocks.
  virtual size_t choose(const Request& request, std::int64_t request_blocks, std::span<const WorkerView> workers) = 0;
  // Whether choose() reads overlap_blocks (the router skips the indexer lookup otherwise).
  virtual bool uses_overlap() const { return false; }
};

struct RouterContext {
  const RouterConfig& config;
  std::uint64_t seed;
};

using RouterRegistry = Registry<"router policy", RouterPolicy, const RouterContext&>;

}  // namespace servesim
