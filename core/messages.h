#pragma once
// Messages between the cluster's modules (carried by TimedChannel).
#include <cstdint>
#include <vector>

#include "core/request.h"

namespace servesim {

// To a worker.
struct WorkerMsg {
  enum class Kind : std::uint8_t {
    kRun,      // serve the whole request (aggregated, or a decode worker prefilling locally)
    kPrefill,  // compute the prompt only and hold its KV for a transfer
    kReserve,  // make room for the request's KV, then tell the fabric how many blocks to send
    kLand,     // the KV has arrived: continue with decode
    kRelease,  // the KV has left: free the blocks held for it
    kAbort,    // the client went away: drop the request at the next iteration boundary, if it is here
    kFetched,  // kv_storage: the prompt blocks fetched for it are in host memory
  };
  Kind kind = Kind::kRun;
  Request* request = nullptr;
  // kFetched: which fetch arrived (the worker numbers them), so that one its engine no longer
  // waits for (the worker stopped and restarted since, the request left) serves nothing
  std::uint64_t fetch_serial = 0;
};

// To kv_storage's fetcher, from a worker: read these blocks of the request's prompt into its host
// memory (the keys are the worker's business; the fetcher moves bytes).
struct StorageFetchMsg {
  std::int32_t worker = 0;
  Request* request = nullptr;
  std::int64_t disk_blocks = 0, remote_blocks = 0;
  std::uint64_t fetch_serial = 0;  // WorkerMsg::fetch_serial
};

// To the KV fabric, from workers.
struct FabricMsg {
  enum class Kind : std::uint8_t {
    kPrefilled,  // from the prefill worker: the prompt's KV is ready
    kReserved,   // from the decode worker: room is reserved; `blocks` must be sent
    kPrefillStarting,  // from the prefill worker: the iteration completing the prompt starts, lasting `duration_ns`
  };
  Kind kind = Kind::kPrefilled;
  Request* request = nullptr;
  std::int64_t blocks = 0;
  TimeNs duration_ns = 0;
};

// To the router: a request no longer occupies a worker (its own load bookkeeping).
struct RouteRelease {
  std::int32_t worker = -1;
  std::int64_t tokens = 0;
  bool prefill_only = false;  // a prefill worker's share ended; the request itself goes on
  std::int32_t dp_rank = -1;  // its attention-DP rank there (Request::dp_rank or prefill_dp_rank)
};

// Planner -> lifecycle: bring a pool to `target` serving workers (ready + starting), draining the
// listed workers first when it scales down. Lands `actuation delay` after the decision.
struct ScaleCommand {
  std::int32_t pool = 0;
  std::int32_t target = 0;
  std::vector<std::int32_t> drain;  // worker ids (whole-cluster numbering)
};

// Lifecycle -> router: a worker's state as service discovery publishes it, a discovery delay
// after it changed (the router keeps its old view until then).
enum class WorkerStateKind : std::uint8_t {
  kReady,        // takes requests
  kDraining,     // finishes what it holds, takes no new ones
  kStopped,      // gone (drained out, start cancelled)
  kFailed,       // died
  kUnreachable,  // the router's own finding: a request bounced off it (connection refused)
};

struct WorkerStateMsg {
  std::int32_t worker = -1;
  WorkerStateKind state = WorkerStateKind::kReady;
};

}  // namespace servesim
