#pragma once
// Drives one engine scheduler without SystemC: arrivals, plan, wait the iteration, complete.
#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include "models/engine_scheduler.h"
#include "scenario/scenario.h"

namespace servesim::testing {

struct EngineRun {
  std::deque<Request> requests;  // stable addresses
  std::vector<BatchShape> batches;
  std::vector<TimeNs> durations;
  std::vector<IterationResult> results;
};

// `timing(batch)` gives each iteration's duration in ns. Requests are served in arrival order.
inline EngineRun run_engine(const PoolConfig& pool, std::int64_t kv_blocks, std::vector<Request> arrivals,
                            const std::function<TimeNs(const BatchShape&)>& timing) {
  EngineRun run;
  SchedulerContext ctx{pool, 0, kv_blocks};
  auto sched = SchedulerRegistry::instance().create(pool.engine.scheduler, ctx);
  for (auto& r : arrivals) run.requests.push_back(r);
  size_t next = 0;
  TimeNs now = 0;
  size_t done = 0;
  while (done < run.requests.size()) {
    while (next < run.requests.size() && run.requests[next].arrival_ns <= now) sched->enqueue(&run.requests[next++], now);
    BatchShape b;
    if (!sched->plan(now, b)) {
      if (next >= run.requests.size()) throw std::runtime_error("engine idle with requests unfinished");
      now = run.requests[next].arrival_ns;
      continue;
    }
    TimeNs d = timing(b);
    now += d;
    IterationResult res;
    sched->complete(now, res);
    done += res.finished.size();
    run.batches.push_back(b);
    run.durations.push_back(d);
    run.results.push_back(res);
  }
  EngineLoad l = sched->load();
  if (l.running || l.waiting || l.kv_blocks_used) throw std::runtime_error("engine holds work after the last request");
  return run;
}

inline Request make_request(std::uint64_t id, TimeNs arrival, std::uint32_t in, std::uint32_t out,
                            std::vector<std::uint64_t> hash_ids = {}, std::uint32_t hash_block = 16) {
  Request r;
  r.id = id;
  r.arrival_ns = arrival;
  r.input_tokens = in;
  r.output_tokens = out;
  r.hash_ids = std::move(hash_ids);
  r.hash_block_tokens = hash_block;
  return r;
}

}  // namespace servesim::testing
