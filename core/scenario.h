#pragma once
// The scenario: every knob of a run, as typed structs. Each struct's `visit` is the single
// declaration of its keys, defaults, units, ranges and one-line documentation.
// Cross-field rules live in validate() (scenario.cpp), the one place configuration is checked.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/topology_config.h"
#include "core/units.h"
#include "planner/load_predictor.h"

namespace servesim {

using config::at_least;
using config::between;
using config::one_of;
using config::positive;

// A token-length distribution (prompt or output lengths), in tokens.
struct LengthDistConfig {
  std::string dist = "fixed";  // fixed | uniform | normal | lognormal | exponential | empirical
  double value = 512;          // fixed
  double min = 1;              // uniform lower bound; lower clamp for all
  double max = 1'000'000;      // uniform upper bound; upper clamp for all
  double mean = 512;           // normal, lognormal
  double std = 0;              // normal, lognormal
  std::string path;            // empirical: a trace file to sample lengths from
  std::string format = "mooncake_jsonl";  // empirical: that file's trace format
  std::string field = "input";            // empirical: input | output

  template <class V>
  void visit(V& v) {
    v.field("dist", dist, "fixed | uniform | normal | lognormal | exponential | empirical",
            one_of({"fixed", "uniform", "normal", "lognormal", "exponential", "empirical"}));
    v.field("value", value, "tokens, for dist=fixed", at_least(0));
    v.field("min", min, "tokens; uniform lower bound and lower clamp", at_least(0));
    v.field("max", max, "tokens; uniform upper bound and upper clamp", at_least(1));
    v.field("mean", mean, "tokens, for normal/lognormal/exponential", at_least(0));
    v.field("std", std, "tokens, for normal/lognormal", at_least(0));
    v.field("path", path, "trace file, for dist=empirical");
    v.field("format", format, "trace format of that file, for dist=empirical");
    v.field("field", field, "input | output, for dist=empirical", one_of({"input", "output"}));
  }
};

inline LengthDistConfig fixed_length(double tokens) {
  LengthDistConfig d;
  d.value = tokens;
  return d;
}

// One point of a piecewise arrival-rate schedule.
struct RatePoint {
  Duration at;
  double rate = 0;  // requests per second
  template <class V>
  void visit(V& v) {
    v.field("at", at, "time from the start of the workload", at_least(0));
    v.field("rate", rate, "requests per second from this point", at_least(0));
  }
};

struct ArrivalConfig {
  std::string process = "poisson";  // poisson | gamma | constant
  double rate = 1.0;                // requests/s when no schedule is given
  double cv = 1.0;                  // gamma: coefficient of variation of inter-arrival times
  std::string schedule = "none";    // none | steps | ramps | diurnal
  std::vector<RatePoint> points;    // steps / ramps
  double amplitude = 0.5;           // diurnal: rate = rate * (1 + amplitude * sin(...))
  Duration period{86400.0};         // diurnal
  Duration phase{0.0};              // diurnal: time of the rising zero crossing

  template <class V>
  void visit(V& v) {
    v.field("process", process, "inter-arrival process: poisson | gamma | constant",
            one_of({"poisson", "gamma", "constant"}));
    v.field("rate", rate, "requests per second (the base rate for diurnal)", at_least(0));
    v.field("cv", cv, "gamma: coefficient of variation of inter-arrival times (1 = Poisson)",
            positive());
    v.field("schedule", schedule, "rate over time: none | steps | ramps | diurnal",
            one_of({"none", "steps", "ramps", "diurnal"}));
    v.field("points", points, "steps/ramps: list of {at, rate}");
    v.field("amplitude", amplitude, "diurnal: relative swing of the rate, 0..1", between(0, 1));
    v.field("period", period, "diurnal: period", config::greater_than(0));
    v.field("phase", phase, "diurnal: time shift of the sine");
  }
};

struct PrefixGroupsConfig {
  int groups = 0;         // 0 = no shared prefixes
  int prefix_tokens = 0;  // tokens of the shared prefix prepended to every prompt of a group
  template <class V>
  void visit(V& v) {
    v.field("groups", groups, "number of shared-prefix groups (0 = off)", at_least(0));
    v.field("prefix_tokens", prefix_tokens, "tokens of each group's shared prefix", at_least(0));
  }
};

struct SessionsConfig {
  bool enabled = false;
  LengthDistConfig turns = fixed_length(1);  // turns per session
  Duration think_time{5.0};                             // mean gap between turns (exponential)
  Duration min_think_time{0.0};                         // added to every gap
  template <class V>
  void visit(V& v) {
    v.field("enabled", enabled, "multi-turn sessions: each turn re-sends the whole history");
    v.field("turns", turns, "turns per session (a length distribution)");
    v.field("think_time", think_time, "mean of the exponential part of the gap between a session's turns",
            at_least(0));
    v.field("min_think_time", min_think_time, "fixed part of every gap between turns (a user's reading time)",
            at_least(0));
  }
};

struct SyntheticConfig {
  ArrivalConfig arrival;
  LengthDistConfig input_length;
  LengthDistConfig output_length = fixed_length(128);
  Duration duration{60.0};  // how long to generate arrivals
  PrefixGroupsConfig prefix;
  SessionsConfig sessions;
  template <class V>
  void visit(V& v) {
    v.field("arrival", arrival, "arrival process and rate schedule");
    v.field("input_length", input_length, "prompt length distribution (tokens)");
    v.field("output_length", output_length, "output length distribution (tokens)");
    v.field("duration", duration, "length of the generated workload", positive());
    v.field("prefix", prefix, "shared-prefix groups");
    v.field("sessions", sessions, "multi-turn sessions");
  }
};

// Closed loop, as benchmark clients (AIPerf, genai-perf) run: a fixed number of requests in
// flight; each that ends starts the next after a think time. Trace timestamps are ignored.
struct ClosedLoopConfig {
  int concurrency = 0;  // 0 = open loop (arrivals at the trace's times)
  Duration think_time{0.0};
  Duration ramp{0.0};
  std::string ramp_phases = "even";
  Duration desync{0.0};
  template <class V>
  void visit(V& v) {
    v.field("concurrency", concurrency,
            "requests kept in flight (0 = open loop: arrivals at the trace's or generator's times)", at_least(0));
    v.field("think_time", think_time, "closed loop: from a request's end to the next one's start", at_least(0));
    v.field("ramp", ramp,
            "closed loop: the first `concurrency` requests start evenly spread over this span (0 = all at once). "
            "Real clients drift out of lockstep; a ramp of one request's duration starts in that steady state",
            at_least(0));
    v.field("ramp_phases", ramp_phases,
            "closed loop: start times over the ramp: even (evenly spaced) | random (uniform, from the seed)",
            one_of({"even", "random"}));
    v.field("desync", desync,
            "closed loop: the requests that follow the first `concurrency` to end each wait a further uniform "
            "random delay in [0, desync): a burst start (as benchmark clients do) that then drifts out of "
            "lockstep, as real clients do (0 = never)",
            at_least(0));
  }
};

struct WorkloadConfig {
  std::string source = "synthetic";  // a registered trace format or generator
  std::string path;                  // file sources
  std::string on_bad_line = "fail";  // fail | skip
  int hash_block_tokens = 512;       // tokens per hash id in the trace
  double rate_scale = 1.0;           // >1 compresses arrivals (more req/s)
  double time_scale = 1.0;           // multiplies every timestamp
  Duration start{0.0};               // trace-time window start
  std::optional<Duration> end;       // trace-time window end
  std::optional<std::int64_t> max_requests;
  Duration spread_equal_timestamps{0.0};  // spread rows sharing a timestamp over this span
  SyntheticConfig synthetic;
  ClosedLoopConfig closed_loop;

  template <class V>
  void visit(V& v) {
    v.field("source", source, "trace format or generator (servesim --list)");
    v.field("path", path, "trace file for file formats (relative to the scenario file)");
    v.field("on_bad_line", on_bad_line, "malformed trace line: fail | skip (and count)",
            one_of({"fail", "skip"}));
    v.field("hash_block_tokens", hash_block_tokens, "tokens covered by each hash id", at_least(1));
    v.field("rate_scale", rate_scale, "multiplies the arrival rate (divides timestamps)", positive());
    v.field("time_scale", time_scale, "multiplies timestamps", positive());
    v.field("start", start, "skip trace rows before this trace time", at_least(0));
    v.field("end", end, "skip trace rows from this trace time on (null = no end)", at_least(0));
    v.field("max_requests", max_requests, "stop after this many requests (null = all)", at_least(1));
    v.field("spread_equal_timestamps", spread_equal_timestamps,
            "spread rows that share a timestamp evenly over this span (quantised traces)",
            at_least(0));
    v.field("synthetic", synthetic, "generator settings, for source=synthetic");
    v.field("closed_loop", closed_loop, "a fixed concurrency instead of timed arrivals (benchmark clients)");
  }
};

// Fitted-coefficient iteration time, in ms:
//   t = constant + per_prefill_token * P + per_prefill_token_context * sum(chunk * context)
//     + per_decode_seq * D + per_decode_context_token * sum(decode context)
struct PolynomialTimingConfig {
  double constant_ms = 5.0;
  double per_prefill_token_ms = 0.0;
  double per_prefill_attention_ms = 0.0;  // per token x context token (quadratic attention)
  double per_decode_seq_ms = 0.0;
  double per_decode_context_token_ms = 0.0;
  template <class V>
  void visit(V& v) {
    v.field("constant_ms", constant_ms, "ms per iteration", at_least(0));
    v.field("per_prefill_token_ms", per_prefill_token_ms, "ms per prefill token", at_least(0));
    v.field("per_prefill_attention_ms", per_prefill_attention_ms,
            "ms per (prefill token x context token)", at_least(0));
    v.field("per_decode_seq_ms", per_decode_seq_ms, "ms per decoding sequence", at_least(0));
    v.field("per_decode_context_token_ms", per_decode_context_token_ms,
            "ms per context token read by decode", at_least(0));
  }
};

struct RooflineTimingConfig {
  std::string efficiency = "default";  // catalog entry name, or a FILE.yaml calibrate wrote
  template <class V>
  void visit(V& v) {
    v.field("efficiency", efficiency,
            "efficiency factors: an entry name (models/catalog/efficiency*.yaml, then the folders of "
            "SERVESIM_CATALOG_PATH), or a FILE.yaml written by servesim calibrate -o (relative to the scenario)");
  }
};

struct TableTimingConfig {
  std::string path;            // CSV: phase,batch,tokens,latency_ms
  bool extrapolate = false;    // outside the grid: error (false) or clamp-and-count (true)
  template <class V>
  void visit(V& v) {
    v.field("path", path, "CSV of measured latencies: phase (prefill|decode), batch, tokens, latency_ms");
    v.field("extrapolate", extrapolate,
            "outside the measured grid: false = error, true = use the nearest grid edge and count it");
  }
};

// Per-kernel tables measured on a GPU (aiconfigurator's layout), composed into iterations.
struct KernelTimingConfig {
  std::string tables;               // aiconfigurator system folder, e.g. data/aiconfigurator/h100_sxm
  std::string framework = "vllm";   // which framework's kernels under it
  std::string allreduce = "custom";  // custom (vLLM's custom all-reduce, NCCL above its range) | nccl
  int cuda_graph_max_tokens = 512;  // iterations up to this many tokens replay CUDA graphs
  std::string extrapolation = "extrapolate";  // error | clamp | extrapolate (log-log), counted
  double overhead_ms = 0.0;         // per iteration, beyond the kernels (scheduling, sampling)
  template <class V>
  void visit(V& v) {
    v.field("tables", tables,
            "folder of measured kernel tables (gemm/, attention/, comm/), e.g. "
            "data/aiconfigurator/h100_sxm; its sibling <folder>.yaml gives the memory constants");
    v.field("framework", framework, "kernel set under the folder (vllm)");
    v.field("allreduce", allreduce, "TP all-reduce kernels: custom (vLLM custom all-reduce, NCCL beyond its range) | nccl",
            one_of({"custom", "nccl"}));
    v.field("cuda_graph_max_tokens", cuda_graph_max_tokens,
            "iterations with at most this many tokens replay CUDA graphs (graph-mode all-reduce)", at_least(0));
    v.field("extrapolation", extrapolation,
            "a lookup outside a table: error | clamp (to the edge) | extrapolate (the edge's log-log slope); "
            "counted and logged", one_of({"error", "clamp", "extrapolate"}));
    v.field("overhead_ms", overhead_ms, "per-iteration framework time beyond the kernels", at_least(0));
  }
};

struct TimingConfig {
  std::string model = "roofline";  // registered timing model
  PolynomialTimingConfig polynomial;
  RooflineTimingConfig roofline;
  TableTimingConfig table;
  KernelTimingConfig kernel;
  template <class V>
  void visit(V& v) {
    v.field("model", model, "iteration timing model (servesim --list)");
    v.field("polynomial", polynomial, "coefficients, for model=polynomial");
    v.field("roofline", roofline, "settings, for model=roofline (GPU and model from the pool)");
    v.field("table", table, "settings, for model=table");
    v.field("kernel", kernel, "settings, for model=kernel (GPU, model, tp and precision from the pool)");
  }
};

struct EngineConfig {
  std::string scheduler = "vllm";  // registered engine scheduler
  int max_num_seqs = 256;
  int max_num_batched_tokens = 8192;
  int block_size = 16;                      // tokens per KV block
  std::optional<std::int64_t> num_gpu_blocks;  // KV blocks per worker; null = from GPU memory
  double gpu_memory_utilization = 0.9;
  double watermark = 0.01;                  // fraction of blocks kept free when admitting
  std::string policy = "fcfs";              // fcfs | priority
  bool enable_prefix_caching = true;
  bool enable_chunked_prefill = true;
  template <class V>
  void visit(V& v) {
    v.field("scheduler", scheduler, "engine scheduler (servesim --list)");
    v.field("max_num_seqs", max_num_seqs, "most sequences running at once", at_least(1));
    v.field("max_num_batched_tokens", max_num_batched_tokens, "token budget of one iteration",
            at_least(1));
    v.field("block_size", block_size, "tokens per KV-cache block", at_least(1));
    v.field("num_gpu_blocks", num_gpu_blocks,
            "KV-cache blocks per worker (null = derived from GPU memory, model and gpu_memory_utilization)",
            at_least(1));
    v.field("gpu_memory_utilization", gpu_memory_utilization,
            "fraction of GPU memory the engine may use (weights + activations + KV cache)", between(0.05, 1.0));
    v.field("watermark", watermark, "fraction of KV blocks kept free when admitting a new request",
            between(0, 0.5));
    v.field("policy", policy, "admission order: fcfs | priority (lower trace priority first)",
            one_of({"fcfs", "priority"}));
    v.field("enable_prefix_caching", enable_prefix_caching, "reuse cached prompt blocks across requests");
    v.field("enable_chunked_prefill", enable_chunked_prefill,
            "split long prompts over iterations (decodes first, then prefill chunks up to the token budget)");
  }
};

// A random duration: fixed, uniform [min, max], or lognormal with the given mean and std.
struct DurationDistConfig {
  std::string dist = "fixed";
  Duration value{60.0};
  Duration min{0.0}, max{0.0};
  Duration mean{60.0}, std{0.0};
  template <class V>
  void visit(V& v) {
    v.field("dist", dist, "fixed | uniform | lognormal", one_of({"fixed", "uniform", "lognormal"}));
    v.field("value", value, "fixed: the duration", at_least(0));
    v.field("min", min, "uniform: lower bound", at_least(0));
    v.field("max", max, "uniform: upper bound", at_least(0));
    v.field("mean", mean, "lognormal: mean", at_least(0));
    v.field("std", std, "lognormal: standard deviation", at_least(0));
  }
};

struct StartupPhaseConfig : DurationDistConfig {
  std::string name;
  template <class V>
  void visit(V& v) {
    v.field("name", name, "phase name (scheduling, image_pull, weight_load, warmup, ...)");
    DurationDistConfig::visit(v);
  }
};

// Time from a worker's start to its registration with the router: one distribution, or the
// sum of phases when `phases` is given.
struct StartupConfig : DurationDistConfig {
  std::vector<StartupPhaseConfig> phases;
  StartupConfig() { value = Duration{0.0}; }
  template <class V>
  void visit(V& v) {
    DurationDistConfig::visit(v);
    v.field("phases", phases, "a sum of phases, each a distribution (replaces the fields above when given)");
  }
};

struct LifecycleConfig {
  int min_replicas = 0;
  std::optional<int> max_replicas;  // null = replicas
  StartupConfig startup;
  std::optional<Duration> drain_timeout;  // null = wait for the last request
  std::string on_drain_timeout = "migrate";
  template <class V>
  void visit(V& v) {
    v.field("min_replicas", min_replicas, "the planner keeps at least this many", at_least(0));
    v.field("max_replicas", max_replicas, "the planner runs at most this many (null = replicas)", at_least(0));
    v.field("startup", startup, "latency from start to ready (GPUs count from the start)");
    v.field("drain_timeout", drain_timeout,
            "a draining worker stops after this even with requests left (null = when its last request ends)",
            at_least(0));
    v.field("on_drain_timeout", on_drain_timeout,
            "what happens to the requests left at the drain timeout: migrate (start over elsewhere) | abort",
            one_of({"migrate", "abort"}));
  }
};

struct PoolConfig {
  std::string name = "workers";
  std::string role = "aggregated";
  int replicas = 1;
  int tp = 1;  // GPUs per replica
  std::string model = "llama-3.1-8b";  // catalog model
  std::string gpu = "h100_sxm";        // catalog GPU
  std::string precision = "auto";      // GEMM/weight format; auto = the catalog model's
  std::string kv_cache_dtype = "auto";  // auto = the catalog model's (bf16 unless it says otherwise)
  int expert_parallel = 1;             // MoE: experts split over this many of the tp GPUs
  EngineConfig engine;
  TimingConfig timing;
  std::vector<std::vector<std::string>> devices;  // explicit placement: GPU names per replica
  LifecycleConfig lifecycle;
  template <class V>
  void visit(V& v) {
    v.field("name", name, "pool name, used in results");
    v.field("role", role,
            "aggregated (prefill and decode on one worker) | prefill (computes prompts, sends their KV to a decode "
            "worker) | decode (receives KV and generates; may prefill short prompts itself)",
            one_of({"aggregated", "prefill", "decode"}));
    v.field("replicas", replicas, "workers serving at the start (0: none)", at_least(0));
    v.field("tp", tp, "tensor-parallel degree: GPUs per worker", at_least(1));
    v.field("model", model, "model from the catalog (servesim --list)");
    v.field("gpu", gpu, "GPU from the catalog (servesim --list)");
    v.field("precision", precision,
            "weights and GEMMs: auto (the catalog model's) | bf16 | fp8 (per-tensor scales, as vLLM "
            "--quantization fp8) | fp8_block (block scales, as *-FP8 checkpoints)",
            one_of({"auto", "bf16", "fp8", "fp8_block"}));
    v.field("kv_cache_dtype", kv_cache_dtype, "KV cache entries: auto (the catalog model's) | bf16 | fp8",
            one_of({"auto", "bf16", "fp8"}));
    v.field("expert_parallel", expert_parallel,
            "MoE models: the experts are split over this many of the worker's tp GPUs (each expert then "
            "sharded over tp / expert_parallel); must divide tp and the expert count",
            at_least(1));
    v.field("engine", engine, "engine scheduler knobs");
    v.field("timing", timing, "iteration timing model");
    v.field("lifecycle", lifecycle, "worker start-up, draining and the planner's bounds");
    v.field("devices", devices,
            "topology.placement: explicit: the GPUs of each replica, e.g. [[n0/gpu0, n0/gpu1], [n1/gpu0, n1/gpu1]]");
  }
};

enum class WorkerRole : std::uint8_t { kAggregated, kPrefill, kDecode };
inline WorkerRole role_of(const PoolConfig& p) {
  return p.role == "prefill" ? WorkerRole::kPrefill : p.role == "decode" ? WorkerRole::kDecode : WorkerRole::kAggregated;
}

struct RouterConfig {
  std::string policy = "round_robin";
  double overlap_score_weight = 1.0;
  double router_temperature = 0.0;
  std::string indexer = "events";  // events | approximate
  Duration kv_event_latency{0.0};
  Duration approx_ttl{120.0};
  std::string load_source = "router";  // router | reports
  Duration load_report_interval{1.0};
  Duration load_report_latency{0.0};
  int max_local_prefill_length = 0;
  std::optional<int> max_prefill_queue;
  template <class V>
  void visit(V& v) {
    v.field("policy", policy, "routing policy (servesim --list)");
    v.field("overlap_score_weight", overlap_score_weight,
            "kv_aware: weight of the blocks to prefill against the worker's active blocks", at_least(0));
    v.field("router_temperature", router_temperature,
            "kv_aware: 0 picks the cheapest worker; > 0 samples a softmax over normalised costs", at_least(0));
    v.field("indexer", indexer,
            "what feeds the prefix indexer: events (workers' KV events) | approximate (own decisions, with a TTL)",
            one_of({"events", "approximate"}));
    v.field("kv_event_latency", kv_event_latency, "delay of KV events from a worker to the router", at_least(0));
    v.field("approx_ttl", approx_ttl, "approximate indexer: how long a routed prefix is assumed cached",
            config::greater_than(0));
    v.field("load_source", load_source,
            "worker load the router sees: router (its own bookkeeping) | reports (periodic worker reports)",
            one_of({"router", "reports"}));
    v.field("load_report_interval", load_report_interval, "reports: interval of worker load reports",
            config::greater_than(0));
    v.field("load_report_latency", load_report_latency, "reports: delay of a load report", at_least(0));
    v.field("max_local_prefill_length", max_local_prefill_length,
            "disaggregated: a decode worker prefills a prompt itself when its uncached part is shorter than this "
            "(tokens; 0 = always remote)",
            at_least(0));
    v.field("max_prefill_queue", max_prefill_queue,
            "disaggregated: prefill locally on the decode worker while more than this many requests wait for or "
            "run prefill on the prefill pools (null = no limit)",
            at_least(0));
  }
};

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

struct ScriptedStepConfig {
  Duration at{0.0};
  std::string pool;
  int replicas = 0;
  template <class V>
  void visit(V& v) {
    v.field("at", at, "from this time", at_least(0));
    v.field("pool", pool, "pool name");
    v.field("replicas", replicas, "target replicas", at_least(0));
  }
};

struct LoadPolicyConfig {
  double queue_up = 4;     // waiting requests per serving worker
  double queue_down = 0.5;
  double kv_up = 0.85;
  double kv_down = 0.4;
  int step = 1;
  Duration cooldown{120.0};
  template <class V>
  void visit(V& v) {
    v.field("queue_up", queue_up, "scale up when waiting requests per serving worker exceed this", at_least(0));
    v.field("queue_down", queue_down, "scale down only when they are below this", at_least(0));
    v.field("kv_up", kv_up, "or when KV usage exceeds this", between(0, 1));
    v.field("kv_down", kv_down, "scale down only when KV usage is below this", between(0, 1));
    v.field("step", step, "workers added or removed per decision", at_least(1));
    v.field("cooldown", cooldown, "no new decision in a pool for this long after one", at_least(0));
  }
};

struct SlaPolicyConfig {
  bool correction = true;
  double min_correction = 1.0, max_correction = 4.0;
  double max_utilisation = 0.9;
  template <class V>
  void visit(V& v) {
    v.field("max_utilisation", max_utilisation,
            "plan workers no busier than this, whatever the queueing model allows (headroom)", between(0.05, 1));
    v.field("correction", correction,
            "scale the latency targets by observed / expected latency (the model's error, queueing)");
    v.field("min_correction", min_correction, "lower clamp of the correction factor", positive());
    v.field("max_correction", max_correction, "upper clamp of the correction factor", positive());
  }
};

struct PlannerConfig {
  std::string policy = "static";
  Duration adjustment_interval{60.0};
  Duration scrape_delay{0.0};
  std::optional<int> gpu_budget;
  Duration scale_down_window{0.0};
  PredictorConfig predictor;
  std::vector<ScriptedStepConfig> scripted;
  LoadPolicyConfig load;
  SlaPolicyConfig sla;
  template <class V>
  void visit(V& v) {
    v.field("policy", policy, "autoscaling policy (servesim --list)");
    v.field("adjustment_interval", adjustment_interval, "time between planner decisions", config::greater_than(0));
    v.field("scrape_delay", scrape_delay, "age of the metrics the planner sees (a scraper's lag)", at_least(0));
    v.field("gpu_budget", gpu_budget,
            "GPUs the workers may hold at once, starting and draining included (null = no limit)", at_least(1));
    v.field("scale_down_window", scale_down_window,
            "scale down only to the highest target proposed within this window (as Kubernetes' HPA "
            "stabilisation; 0 = follow every proposal)",
            at_least(0));
    v.field("predictor", predictor, "how the next interval's request rate, ISL and OSL are predicted");
    v.field("scripted", scripted, "scripted: replica targets from given times");
    v.field("load", load, "load: thresholds on queue depth and KV usage");
    v.field("sla", sla, "sla: replicas from the capacity that meets the slo targets");
  }
};

struct KvTransferConfig {
  std::string overlap = "none";  // none | layerwise
  template <class V>
  void visit(V& v) {
    v.field("overlap", overlap,
            "none: the KV moves after the prompt is computed | layerwise: each layer's KV streams out while the "
            "later layers compute (the decode worker reserves room when the prompt's last iteration starts)",
            one_of({"none", "layerwise"}));
  }
};

struct SloConfig {
  Duration ttft{2.0};
  Duration itl{0.1};
  template <class V>
  void visit(V& v) {
    v.field("ttft", ttft, "time-to-first-token target for goodput", positive());
    v.field("itl", itl, "mean inter-token latency target for goodput", positive());
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

// The serving frontend between clients and the router (HTTP, tokenisation, request
// pre-processing): a fixed latency every request spends before it is routed, counted in TTFT.
struct FrontendConfig {
  Duration request_latency{0.0};
  template <class V>
  void visit(V& v) {
    v.field("request_latency", request_latency,
            "time from a request's arrival to the router (HTTP, tokenisation, pre-processing); part of TTFT",
            at_least(0));
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
    v.field("planner", planner, "autoscaling planner");
    v.field("failures", failures, "worker failures");
    v.field("slo", slo, "service-level objectives (goodput)");
    v.field("output", output, "HDF5 output");
  }
};

// Whether any pool serves in the disaggregated roles (prefill and decode).
// Workers a pool may ever run (SystemC modules are built once, before the run).
inline int worker_slots(const PoolConfig& p) { return std::max(p.replicas, p.lifecycle.max_replicas.value_or(p.replicas)); }

inline bool is_disaggregated(const ScenarioConfig& s) {
  for (const auto& p : s.pools)
    if (role_of(p) != WorkerRole::kAggregated && worker_slots(p) > 0) return true;
  return false;
}

// A validated scenario with the document it came from (for /meta and error locations).
struct WorkerPlacement;  // cluster/placement.h

struct LoadedScenario {
  ScenarioConfig config;
  std::string source_name;  // file path or "<string>"
  std::string base_dir;     // relative trace paths resolve against this
  std::string effective_yaml;
  // The topology and each worker's GPUs, built and checked once by validation.
  std::shared_ptr<const WorkerPlacement> placement;
};

// Loads, applies --set overrides, reads, and validates. Throws ConfigError.
LoadedScenario load_scenario_file(const std::string& path, const std::vector<std::string>& overrides,
                                  std::optional<std::uint64_t> seed_override = std::nullopt);
LoadedScenario load_scenario_string(const std::string& yaml, const std::string& name,
                                    const std::vector<std::string>& overrides = {},
                                    const std::string& base_dir = ".");

}  // namespace servesim
