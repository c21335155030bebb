#pragma once
// The scenario: every knob of a run, as typed structs, composed from the parts' own sections
// (traces/workload_config.h, models/pool_config.h, router/router_config.h,
// planner/planner_config.h, core/slo_config.h, fabric/topology_config.h) plus the cluster-level
// ones below. Each struct's `visit` is the single declaration of its keys, defaults, units,
// ranges and one-line documentation. Cross-field rules live in validate() (scenario.cpp), the
// one place configuration is checked. This layer sits between the parts and the cluster.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/slo_config.h"
#include "core/units.h"
#include "fabric/topology_config.h"
#include "models/kv_storage.h"
#include "models/pool_config.h"
#include "planner/planner_config.h"
#include "router/router_config.h"
#include "traces/trace_source.h"
#include "traces/workload_config.h"

namespace servesim {

using config::at_least;
using config::between;
using config::one_of;
using config::positive;

struct FailureEventConfig {
  Duration at{0.0};
  std::string pool;
  int count = 1;
  template <class V>
  void visit(V& v) {
    v.field("at", at, "when", at_least(0));
    v.field("pool", pool, "which pool loses workers");
    v.field("count", count, "how many of its serving workers die", at_least(1));
  }
};

struct FailureConfig {
  double rate_per_worker_hour = 0;
  std::vector<FailureEventConfig> schedule;
  std::string on_failure = "retry";
  template <class V>
  void visit(V& v) {
    v.field("rate_per_worker_hour", rate_per_worker_hour,
            "random failures: each serving worker dies at this Poisson rate", at_least(0));
    v.field("schedule", schedule, "failures at given times");
    v.field("on_failure", on_failure,
            "requests on a dead worker: retry (start over on another worker) | fail (counted, not retried)",
            one_of({"retry", "fail"}));
  }
};

struct KvTransferConfig {
  std::string overlap = "none";  // none | layerwise
  std::string blocks = "destination_missing";  // destination_missing | full_prompt
  template <class V>
  void visit(V& v) {
    v.field("blocks", blocks,
            "which prompt blocks cross the fabric: destination_missing (those the decode worker's prefix cache "
            "lacks; none on a full hit, as vLLM's NIXL connector with prefix caching) | full_prompt (every prompt "
            "block, whatever the decode worker holds)",
            one_of({"destination_missing", "full_prompt"}));
    v.field("overlap", overlap,
            "none: the KV moves after the prompt is computed | layerwise: each layer's KV streams out while the "
            "later layers compute (the decode worker reserves room when the prompt's last iteration starts)",
            one_of({"none", "layerwise"}));
  }
};

// One shared KV tier below the workers' host memory (kv_storage.disk or .remote).
struct KvStorageTierConfig {
  double gbytes = 0;                  // capacity (a disk's: per node); 0 = no such tier
  std::optional<double> gbyte_per_s;  // each direction's bandwidth (reads, writes); required with gbytes
  Duration latency{0.0};              // fixed time of each fetch and each write, beyond its bytes
  bool enabled() const { return gbytes > 0; }
  template <class V>
  void visit(V& v) {
    v.field("gbytes", gbytes, "capacity, GB (0 = no such tier); least recently used blocks leave first", at_least(0));
    v.field("gbyte_per_s", gbyte_per_s,
            "bandwidth, GB/s, each direction: reads shared max-min fairly by the fetches in flight, writes (what the "
            "tier above evicts into it) queued in order on a link of their own at the same rate, a block readable "
            "once its write has arrived (required when gbytes > 0: the drive's or network's sustained rate)",
            positive());
    v.field("latency", latency,
            "fixed time of each fetch beyond its bytes (a read's access time, a round trip), and of each write",
            at_least(0));
  }
};

// KV tiers shared by many workers below their host memory (KV block managers' G3 and G4): blocks
// a worker's host memory evicts go to its node's disk, and blocks a disk evicts (or, without
// disks, host memory evicts) go to remote storage. A prompt whose blocks continue there after
// its GPU and host hits waits while they are fetched into its worker's host memory, then loads
// them as host hits. Pools take part through their kv_offload (host memory).
struct KvStorageConfig {
  KvStorageTierConfig disk;    // G3: a local disk per node
  KvStorageTierConfig remote;  // G4: one store for the cluster
  int gpus_per_node = 8;
  bool enabled() const { return disk.enabled() || remote.enabled(); }
  template <class V>
  void visit(V& v) {
    v.field("disk", disk,
            "G3: a local disk (NVMe) per node, shared by the node's workers; it keeps what their host memory evicts");
    v.field("remote", remote,
            "G4: storage shared by the whole cluster (a remote KV store over the network); it keeps what the disks "
            "(or, without disks, the workers' host memory) evict");
    v.field("gpus_per_node", gpus_per_node,
            "GPUs per node, for which workers share a disk: workers fill nodes in pool and replica order, each on "
            "the node of its first GPU (aiconfigurator's h100_sxm, h200_sxm and b200_sxm systems: 8)",
            positive());
  }
};

struct SimulationConfig {
  std::optional<Duration> max_time;  // simulated-time cap
  Duration sample_interval{1.0};
  bool skip_scale_checks = false;  // accept sizes and event rates beyond docs/limits.md
  template <class V>
  void visit(V& v) {
    v.field("max_time", max_time, "stop the simulation at this simulated time (null = run to the end)",
            positive());
    v.field("sample_interval", sample_interval, "interval of /timeseries and /workers samples",
            config::greater_than(0));
    v.field("skip_scale_checks", skip_scale_checks,
            "accept a scenario beyond the sanity bounds on workers, GPUs, rows and events per simulated second "
            "(docs/limits.md), for a run known to need it");
  }
};

struct OutputConfig {
  Duration flush_interval{2.0};  // wall-clock time between HDF5 flushes
  bool requests = true;          // write /requests
  template <class V>
  void visit(V& v) {
    v.field("flush_interval", flush_interval,
            "wall-clock time between HDF5 flushes (a killed run keeps what was flushed)",
            positive());
    v.field("requests", requests, "write one /requests row per request");
  }
};

// The serving frontend's own processes (an API server's CPU: request parsing, chat template,
// tokenisation): each handles one request at a time, so a burst of arrivals reaches the engine
// spread out instead of all at once. Zero times (the default): requests are not held.
struct FrontendProcessingConfig {
  std::int32_t processes = 1;
  Duration per_request{0.0};
  Duration per_1k_input_tokens{0.0};
  template <class V>
  void visit(V& v) {
    v.field("processes", processes, "frontend processes handling requests side by side (vLLM's --api-server-count)",
            at_least(1));
    v.field("per_request", per_request, "a process's time per request, whatever its length", at_least(0));
    v.field("per_1k_input_tokens", per_1k_input_tokens, "a process's time per 1,000 prompt tokens (tokenisation)",
            at_least(0));
  }
};

// The serving frontend between clients and the router (HTTP, tokenisation, request
// pre-processing): a fixed latency every request spends before it is routed, counted in TTFT,
// after its turn on one of the frontend's processes.
struct FrontendConfig {
  Duration request_latency{0.0};
  FrontendProcessingConfig processing;
  template <class V>
  void visit(V& v) {
    v.field("request_latency", request_latency,
            "time from a request's arrival to the router (HTTP, tokenisation, pre-processing); part of TTFT",
            at_least(0));
    v.field("processing", processing,
            "requests queue in arrival order for the frontend's processes, each busy per_request + "
            "per_1k_input_tokens x prompt tokens / 1000 on one; the wait and that time count in TTFT, "
            "before request_latency");
  }
};

struct ScenarioConfig {
  std::string name = "scenario";
  std::uint64_t seed = 1;
  std::string description;
  SimulationConfig simulation;
  WorkloadConfig workload;
  FrontendConfig frontend;
  RouterConfig router;
  std::vector<PoolConfig> pools{PoolConfig{}};
  TopologyConfig topology;
  KvTransferConfig kv_transfer;
  KvStorageConfig kv_storage;
  PlannerConfig planner;
  FailureConfig failures;
  SloConfig slo;
  OutputConfig output;

  template <class V>
  void visit(V& v) {
    v.field("name", name, "scenario name");
    v.field("description", description, "free text");
    v.field("seed", seed, "seed of every random stream in the run");
    v.field("simulation", simulation, "simulation control");
    v.field("workload", workload, "where requests come from");
    v.field("frontend", frontend, "the serving frontend in front of the router");
    v.field("router", router, "request routing");
    v.field("pools", pools, "worker pools");
    v.field("topology", topology, "GPU nodes and network for KV transfers (used when a pool is disaggregated)");
    v.field("kv_transfer", kv_transfer, "how prefill workers hand KV to decode workers");
    v.field("kv_storage", kv_storage, "KV tiers below the workers' host memory, shared by many workers (G3 disk, G4 remote)");
    v.field("planner", planner, "autoscaling planner");
    v.field("failures", failures, "worker failures");
    v.field("slo", slo, "service-level objectives (goodput)");
    v.field("output", output, "HDF5 output");
  }
};

// Whether any pool serves in the disaggregated roles (prefill and decode).
// Workers a pool may ever run (SystemC modules are built once, before the run).
inline PlannerScope planner_scope(const ScenarioConfig& s) { return {s.planner, s.pools, s.slo, s.seed}; }

inline bool is_disaggregated(const ScenarioConfig& s) {
  for (const auto& p : s.pools)
    if (role_of(p) != WorkerRole::kAggregated && worker_slots(p) > 0) return true;
  return false;
}

// kv_storage laid out on the scenario's workers (numbered as the cluster numbers them: pools in
// order, each pool's slots): the tiers' capacities in blocks, each worker's node (-1 for a worker
// without host memory, which takes no part) and the bytes of one block.
struct KvStorageLayout {
  KvStorageSpec spec;
  std::vector<std::int32_t> worker_node;
  double block_bytes = 0;
  std::int32_t block_tokens = 0;  // the block size those bytes hold
  bool enabled() const { return spec.disk_blocks_per_node > 0 || spec.remote_blocks > 0; }
};
KvStorageLayout kv_storage_layout(const ScenarioConfig& s);

// The models the cluster serves, in pool order (pools that may run workers only): a request names
// one of them, or gets the first.
inline std::vector<std::string> served_models(const ScenarioConfig& s) {
  std::vector<std::string> models;
  for (const auto& p : s.pools)
    if (worker_slots(p) > 0 && std::find(models.begin(), models.end(), p.model) == models.end())
      models.push_back(p.model);
  return models;
}

// The LoRA adapters the cluster serves, in pool order (a name once, however many pools serve it):
// a request naming one is served by its base model's pools that hold it (Request::lora indexes
// this list).
struct ServedAdapter {
  std::string name;
  std::int16_t model = 0;  // its base model, an index into served_models()
  int rank = 0;
};
inline std::vector<ServedAdapter> served_adapters(const ScenarioConfig& s) {
  const std::vector<std::string> models = served_models(s);
  std::vector<ServedAdapter> out;
  for (const auto& p : s.pools) {
    if (worker_slots(p) == 0) continue;
    const auto m = static_cast<std::int16_t>(std::find(models.begin(), models.end(), p.model) - models.begin());
    for (const auto& a : lora_adapters(p))
      if (std::none_of(out.begin(), out.end(), [&](const ServedAdapter& x) { return x.name == a.name; }))
        out.push_back({a.name, m, a.rank});
  }
  return out;
}

// What a trace source needs to know of the scenario.
inline TraceContext trace_context(const ScenarioConfig& s, const std::string& base_dir) {
  TraceContext ctx{s.workload, base_dir, s.seed, s.slo.class_names()};
  ctx.models = served_models(s);
  for (const ServedAdapter& a : served_adapters(s))
    ctx.lora_adapters.emplace_back(a.name, ctx.models.at(static_cast<size_t>(a.model)));
  return ctx;
}

// The checks one pool passes on its own (its model, GPU, engine, timing and memory), as
// validation makes them for each of a scenario's pools at key `base` (pools.N); `servesim timing`
// makes them for the pool its options describe. Throws ConfigError through `map`.
void validate_pool(const PoolConfig& p, const std::string& base, const config::SourceMap& map,
                   const std::string& base_dir);

// A validated scenario with the document it came from (for /meta and error locations).
struct WorkerPlacement;  // scenario/placement.h

struct LoadedScenario {
  ScenarioConfig config;
  std::string source_name;  // file path or "<string>"
  std::string base_dir;     // relative trace paths resolve against this
  std::string effective_yaml;
  // The topology and each worker's GPUs, built and checked once by validation.
  std::shared_ptr<const WorkerPlacement> placement;
  // What validation found legal but probably unintended (e.g. a pool no request will reach).
  std::vector<std::string> warnings;
};

// Loads, applies --set overrides, reads, and validates. Throws ConfigError.
LoadedScenario load_scenario_file(const std::string& path, const std::vector<std::string>& overrides,
                                  std::optional<std::uint64_t> seed_override = std::nullopt);
LoadedScenario load_scenario_string(const std::string& yaml, const std::string& name,
                                    const std::vector<std::string>& overrides = {},
                                    const std::string& base_dir = ".");

}  // namespace servesim
