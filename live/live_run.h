#pragma once
// `servesim live`: the scenario's cluster, paced to the wall clock (simulated time = speedup x
// wall time since start), behind the OpenAI-compatible endpoint, with /metrics and KV events.
// Runs until SIGINT/SIGTERM (or `duration_s`), then ends open requests, writes the HDF5 file
// (the schema of `run`, plus /live) and returns the exit code.
#include <string>

#include "live/kv_publisher.h"
#include "live/live_server.h"
#include "scenario/scenario.h"

namespace servesim::live {

struct LiveOptions {
  ServerOptions server;
  double speedup = 1;
  std::string output_path;  // "" = no HDF5 file
  KvPublisherOptions kv;
  bool replay_workload = false;  // also play the scenario's workload, as background traffic
  double duration_s = 0;         // stop after this many wall seconds (0: at SIGINT/SIGTERM)
  double lag_warn_s = 0.25;      // warn when an event is published this late (wall seconds)
  std::string ready_file;        // written with the port once the endpoint listens (for scripts)
  int per_worker_ports = 0;      // > 0: worker i also serves its own endpoint on this port + i
};

int run_live(const LoadedScenario& scenario, const LiveOptions& options);

}  // namespace servesim::live
