#pragma once
// A pool of workers as a scenario declares it: model, GPU, parallelism, the engine's scheduler
// limits, its timing model, and the lifecycle of its workers.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/units.h"
#include "models/memory_ledger.h"

namespace servesim {

using config::at_least;
using config::between;
using config::one_of;
using config::positive;

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
  std::string system;     // a system of the performance database, e.g. h200_sxm (default: the pool GPU's)
  std::string database;   // aiconfigurator's systems/ folder (default: the repository's copy)
  std::string tables;     // instead of system: one system's table folder, e.g. data/aiconfigurator/h100_sxm
  std::string backend = "vllm";  // whose kernels: vllm | sglang | trtllm
  std::string backend_version;   // its version folder (default: the newest, in release order)
  std::string allreduce = "custom";  // custom (vLLM's custom all-reduce, NCCL above its range) | nccl
  std::string moe = "table";         // table (the backend's measured MoE layers) | gemm
  std::string moe_distribution = "power_law_1.01";  // the MoE table's token routing: balanced | power_law_1.01 | power_law_1.2
  int cuda_graph_max_tokens = 512;  // iterations up to this many tokens replay CUDA graphs
  std::string extrapolation = "extrapolate";  // error | clamp | extrapolate (log-log), counted
  double overhead_ms = 0.0;         // per iteration, beyond the kernels (scheduling, sampling)
  template <class V>
  void visit(V& v) {
    v.field("system", system,
            "system of the performance database whose tables price the pool (h100_sxm | h200_sxm | b200_sxm; "
            "default: the one of the pool's gpu)");
    v.field("database", database,
            "aiconfigurator's systems/ folder (<system>.yaml and data/<system>/...; default: the repository's "
            "data/aiconfigurator/systems, else an installed aiconfigurator's)");
    v.field("tables", tables,
            "instead of system: one folder of kernel tables (gemm/, attention/, comm/), e.g. "
            "data/aiconfigurator/h100_sxm; its sibling <folder>.yaml gives the memory constants");
    v.field("backend", backend, "whose kernels price the iterations: vllm | sglang | trtllm");
    v.field("backend_version", backend_version,
            "the backend's table version (default: the newest, in release order: 0.5.14 after 0.5.9)");
    v.field("allreduce", allreduce, "TP all-reduce kernels: custom (vLLM custom all-reduce, NCCL beyond its range) | nccl",
            one_of({"custom", "nccl"}));
    v.field("moe", moe,
            "MoE experts: table (the backend's measured MoE layers, moe/; GEMMs where a shape was not measured) | "
            "gemm (each expert's GEMMs from the GEMM table)",
            one_of({"table", "gemm"}));
    v.field("moe_distribution", moe_distribution, "the MoE table's routing of tokens to experts",
            one_of({"balanced", "power_law_1.01", "power_law_1.2"}));
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
  std::string memory_rule = "vllm_v1";      // how KV memory is derived (models/memory_ledger.h)
  double non_torch_gib = 0.3;               // per GPU, outside PyTorch's allocator
  double watermark = 0.01;                  // fraction of blocks kept free when admitting
  std::string policy = "fcfs";              // fcfs | priority
  std::string preemption = "lifo";          // lifo | fifo: which running request a recompute preemption picks
  std::string capacity_policy = "max_utilization";  // max_utilization | guaranteed_no_evict (TensorRT-LLM)
  std::string admission = "first_chunk";    // first_chunk | full_prompt: the blocks a new request must find free
  std::string dp_balance = "least_loaded";  // attention DP: which rank a new request joins
  bool enable_prefix_caching = true;
  bool enable_chunked_prefill = true;
  template <class V>
  void visit(V& v) {
    v.field("scheduler", scheduler, "engine scheduler (servesim --list)");
    v.field("max_num_seqs", max_num_seqs, "most sequences running at once", at_least(1));
    v.field("max_num_batched_tokens", max_num_batched_tokens, "token budget of one iteration",
            at_least(1));
    v.field("block_size", block_size,
            "tokens per KV-cache block (a hybrid linear-attention model's is raised until a block holds a layer's "
            "recurrent state, as vLLM does: docs/limits.md)",
            at_least(1));
    v.field("num_gpu_blocks", num_gpu_blocks,
            "KV-cache blocks per worker (null = derived from GPU memory, model and gpu_memory_utilization)",
            at_least(1));
    v.field("gpu_memory_utilization", gpu_memory_utilization,
            "fraction of GPU memory the engine may use: vllm_v1 of the total (weights + activations + KV cache), "
            "sglang_static of the total for weights + KV (mem_fraction_static), trtllm_free_fraction of what the "
            "weights and buffers leave (free_gpu_memory_fraction)",
            between(0.05, 1.0));
    v.field("memory_rule", memory_rule,
            "how the engine divides GPU memory into what it reserves and the KV cache (servesim timing prints the "
            "ledger): vllm_v1 | sglang_static | trtllm_free_fraction",
            one_of(memory_rule_names()));
    v.field("non_torch_gib", non_torch_gib,
            "GiB per GPU outside PyTorch's allocator that the rule reserves (library workspaces, communication "
            "buffers); 0.3 is the remainder of a measured vLLM run of Llama-3.1-8B on a 24 GB card (README: memory "
            "ledger)",
            at_least(0));
    v.field("watermark", watermark, "fraction of KV blocks kept free when admitting a new request",
            between(0, 0.5));
    v.field("policy", policy, "admission order: fcfs | priority (lower trace priority first)",
            one_of({"fcfs", "priority"}));
    v.field("preemption", preemption,
            "vllm: which running request is preempted (recompute) when a block runs out: lifo (the newest; under "
            "policy priority the least urgent, newest among equals: vLLM V1) | fifo (the oldest)",
            one_of({"lifo", "fifo"}));
    v.field("capacity_policy", capacity_policy,
            "vllm: admission against KV capacity: max_utilization (admit what fits now, preempt under pressure; "
            "vLLM, TensorRT-LLM MAX_UTILIZATION) | guaranteed_no_evict (admit only when the prompt and its whole "
            "output fit beside what the running requests may still need, so nothing is ever preempted; "
            "TensorRT-LLM's default GUARANTEED_NO_EVICT)",
            one_of({"max_utilization", "guaranteed_no_evict"}));
    v.field("admission", admission,
            "vllm, max_utilization: what a waiting request needs free to be admitted (above the watermark): "
            "first_chunk (the blocks of its first prefill chunk; later chunks may preempt) | full_prompt (the blocks "
            "of its whole remaining prompt, as releases that reserve the full prompt admit)",
            one_of({"first_chunk", "full_prompt"}));
    v.field("dp_balance", dp_balance,
            "with attention_dp > 1, the rank a new request joins: least_loaded (vLLM's data-parallel "
            "coordinator: the lowest 4 x waiting + running, the first on ties) | round_robin (SGLang's "
            "default load_balance_method) | prefix_aware (the rank whose prefix cache holds most of the "
            "prompt's leading blocks, ties by least_loaded's rule: cache-aware routing among ranks, as "
            "SGLang's router does with --dp-aware) | router (the cluster's router picks the rank as it picks "
            "workers, each rank a target of its policy with its own KV events and load, as Dynamo's KV router "
            "routes to a worker's dp_rank)",
            one_of({"least_loaded", "round_robin", "prefix_aware", "router"}));
    v.field("enable_prefix_caching", enable_prefix_caching,
            "reuse cached prompt blocks across requests (off for hybrid linear-attention models, as vLLM defaults "
            "it; asking for it there is an error)");
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

// LoRA adapters a pool serves (as vLLM's --enable-lora, --max-loras, --max-lora-rank,
// --lora-modules). A request names an adapter in its `model` field, as an OpenAI client does.
struct LoraAdapterConfig {
  std::string name;
  int rank = 0;   // 0 = the pool's max_lora_rank
  int count = 1;  // above 1: adapters name-0 ... name-(count-1), all alike
  template <class V>
  void visit(V& v) {
    v.field("name", name, "adapter name, as requests give it in `model` (with count > 1: the names' prefix)");
    v.field("rank", rank, "LoRA rank r (0 = max_lora_rank); prices its load, at most max_lora_rank", at_least(0));
    v.field("count", count, "how many adapters this entry declares: name-0 ... name-(count-1) when above 1",
            at_least(1));
  }
};

struct LoraConfig {
  std::vector<LoraAdapterConfig> adapters;  // none: LoRA off
  int max_loras = 1;                        // vLLM's default
  int max_lora_rank = 16;                   // vLLM's default
  Duration load_latency{0.0};
  double host_gbyte_per_s = 64;  // PCIe 5.0 x16 per direction (aiconfigurator's h100_sxm pcie_bw)
  bool enabled() const { return !adapters.empty(); }
  template <class V>
  void visit(V& v) {
    v.field("adapters", adapters, "the adapters this pool serves, e.g. [{name: sql, rank: 8}, {name: tenant, count: 50}]");
    v.field("max_loras", max_loras,
            "adapters resident in GPU memory at once (one batch mixes at most this many); each slot's weights "
            "at max_lora_rank come out of the KV cache",
            at_least(1));
    v.field("max_lora_rank", max_lora_rank, "the largest rank an adapter may have; sizes the GPU slots", at_least(1));
    v.field("load_latency", load_latency, "fixed time of one adapter load from host memory, beyond its copy",
            at_least(0));
    v.field("host_gbyte_per_s", host_gbyte_per_s,
            "host-to-GPU copy bandwidth for adapter loads (GB/s per GPU; PCIe 5.0 x16: 64)", positive());
  }
};

// KV offloading to a lower memory tier (as vLLM's CPU offloading connector and LMCache's host
// backend): blocks of the GPU's prefix cache are copied to the worker's host memory, as they are
// evicted or as they are computed; a prompt whose blocks are found there after its GPU hit loads
// them over PCIe instead of computing them.
struct KvOffloadConfig {
  double host_gbytes = 0;         // G2 per worker; 0 = no offloading
  double host_gbyte_per_s = 64;   // per GPU and direction: PCIe 5.0 x16 (aiconfigurator's h100_sxm pcie_bw)
  Duration host_latency{0.0};     // fixed cost of one load, beyond its bytes
  std::string write_back = "overlapped";  // overlapped | blocking: who pays for writing blocks to the host
  std::string store = "on_evict";         // on_evict | on_compute: when a block is copied to the host
  bool enabled() const { return host_gbytes > 0; }
  template <class V>
  void visit(V& v) {
    v.field("host_gbytes", host_gbytes,
            "host memory per worker for KV blocks copied from the GPU (see store), GB (0 = no offloading); least "
            "recently used blocks leave first",
            at_least(0));
    v.field("host_gbyte_per_s", host_gbyte_per_s,
            "PCIe bandwidth per GPU and direction (GB/s; PCIe 5.0 x16: 64): loading blocks back (the loads of one "
            "iteration share it) and, with write_back: blocking, writing blocks out",
            positive());
    v.field("host_latency", host_latency,
            "fixed time of each request's load from host memory (and, with write_back: blocking, of each "
            "iteration's write-back)",
            at_least(0));
    v.field("write_back", write_back,
            "the cost of writing blocks to host memory: overlapped (default: the copies run beside the "
            "compute, on PCIe's other direction, as the connectors' asynchronous stores do; free) or blocking (an "
            "iteration waits for the copies: host_latency plus each GPU's share at host_gbyte_per_s; with store: "
            "on_evict the iteration that evicts the blocks, with on_compute the one after the iteration that "
            "computed them; an upper bound)",
            one_of({"overlapped", "blocking"}));
    v.field("store", store,
            "when a block is copied to host memory: on_evict (default: as the GPU's prefix cache evicts it, so host "
            "memory holds what the GPU lost, each block written once it leaves) or on_compute (as its KV is "
            "computed, a write-through: every prompt block crosses PCIe once whether or not it is ever evicted, and "
            "host memory keeps its own least-recently-stored order, which GPU hits do not refresh; vLLM's "
            "OffloadingConnector stores each newly full block after the step that computed it)",
            one_of({"on_evict", "on_compute"}));
  }
};

// Speculative decoding (vLLM's --speculative-config, SGLang's --speculative-*): each decoding
// sequence verifies num_speculative_tokens draft tokens plus one per step and emits 1 to
// num_speculative_tokens + 1 of them.
struct SpeculativeConfig {
  std::string method = "none";  // none | draft_model | mtp | eagle | ngram
  int num_speculative_tokens = 0;
  std::string draft_model;               // method draft_model: a catalog model
  std::vector<double> acceptance_rates;  // per position: P(draft token i is accepted), non-increasing
  std::optional<double> mean_acceptance_length;  // instead of the rates: tokens per step, 1 to k + 1
  std::optional<Duration> draft_step;    // a draft forward pass's time, instead of pricing it
  bool enabled() const { return method != "none"; }
  template <class V>
  void visit(V& v) {
    v.field("method", method,
            "none | draft_model (a smaller catalog model proposes) | mtp (the model's multi-token-prediction "
            "layer, as DeepSeek-V3 nextn) | eagle (a one-layer head on the model's hidden states) | ngram "
            "(prompt lookup on the CPU: no GPU cost)",
            one_of({"none", "draft_model", "mtp", "eagle", "ngram"}));
    v.field("num_speculative_tokens", num_speculative_tokens,
            "draft tokens proposed per sequence and step (vLLM num_speculative_tokens, MTP nextn); each step "
            "verifies this many plus one", between(0, 16));
    v.field("draft_model", draft_model, "method draft_model: the draft model (catalog name), run on the same GPUs");
    v.field("acceptance_rates", acceptance_rates,
            "per draft position i = 1..k, the fraction of steps whose draft token i is accepted (vLLM's "
            "per-position acceptance rate; non-increasing, as a token is kept only if all before it are)");
    v.field("mean_acceptance_length", mean_acceptance_length,
            "instead of acceptance_rates: tokens emitted per step on average (1 to k + 1; vLLM's mean acceptance "
            "length), with a constant acceptance probability per position", at_least(1));
    v.field("draft_step", draft_step,
            "time of one draft forward pass (null = priced by the pool's timing model: draft_model from its "
            "catalog entry, mtp and eagle as one decoder layer of the model and its LM head)", at_least(0));
  }
};

// The GPU power curve (models/power.h), as fractions of the GPU's power limit (catalog tdp_w):
// defaults fitted by scripts/fit_power.py to splitwise-sim's measured A100 power.
struct PowerConfig {
  double busy_floor = 0.287;     // while an iteration runs, at zero utilisation
  double compute_slope = 1.53;   // per unit of tensor-core utilisation
  double memory_slope = 0.655;   // per unit of HBM bandwidth utilisation
  std::optional<double> idle_fraction;  // null = busy_floor
  double idle() const { return idle_fraction.value_or(busy_floor); }
  template <class V>
  void visit(V& v) {
    v.field("busy_floor", busy_floor,
            "fraction of the power limit a GPU draws during an iteration at zero utilisation (fitted: 0.287)",
            between(0, 1));
    v.field("compute_slope", compute_slope,
            "added per unit of tensor-core utilisation (the iteration's FLOPs over the GPU's peak; fitted: 1.53)",
            at_least(0));
    v.field("memory_slope", memory_slope,
            "added per unit of HBM utilisation (the bytes it reads over the bandwidth; fitted: 0.655)", at_least(0));
    v.field("idle_fraction", idle_fraction,
            "fraction of the power limit a held GPU draws with no iteration to run (null = busy_floor, an upper "
            "bound: the fit's data has no idle GPU)",
            between(0, 1));
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
  int attention_dp = 1;                // data-parallel attention ranks per worker, tp GPUs each
  std::string moe_dispatch = "bf16";   // attention DP: the dtype a MoE layer dispatches tokens in
  EngineConfig engine;
  TimingConfig timing;
  std::vector<std::vector<std::string>> devices;  // explicit placement: GPU names per replica
  LifecycleConfig lifecycle;
  LoraConfig lora;
  SpeculativeConfig speculative;
  PowerConfig power;
  KvOffloadConfig kv_offload;
  int gpus_per_worker() const { return tp * attention_dp; }
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
            "--quantization fp8) | fp8_block (block scales, as *-FP8 checkpoints) | nvfp4 (NVIDIA FP4, as "
            "*-NVFP4 checkpoints: GPUs with FP4 units, fp4_tflops in the catalog; the LM head stays bf16)",
            one_of({"auto", "bf16", "fp8", "fp8_block", "nvfp4"}));
    v.field("kv_cache_dtype", kv_cache_dtype, "KV cache entries: auto (the catalog model's) | bf16 | fp8",
            one_of({"auto", "bf16", "fp8"}));
    v.field("expert_parallel", expert_parallel,
            "MoE models: the experts are split over this many of the worker's tp GPUs (each expert then "
            "sharded over tp / expert_parallel); must divide tp and the expert count",
            at_least(1));
    v.field("attention_dp", attention_dp,
            "data-parallel attention: a worker holds this many ranks of tp GPUs each (attention_dp x tp GPUs), "
            "each rank with its own scheduler, waiting queue and KV cache, stepping in lockstep (an iteration "
            "lasts as long as its slowest rank); a MoE model's experts are shared by the ranks with expert "
            "parallelism (each rank's GPUs hold experts / attention_dp of them and serve every rank's tokens). "
            "engine.dp_balance picks a new request's rank; kv_offload's host memory is per rank (SGLang "
            "--enable-dp-attention --dp, vLLM --data-parallel-size)",
            at_least(1));
    v.field("moe_dispatch", moe_dispatch,
            "attention_dp > 1, MoE models: the dtype each MoE layer sends the ranks' tokens to their experts' GPUs "
            "in: bf16 | fp8 (DeepEP's FP8 dispatch, as SGLang's and vLLM's DeepEP back ends send it: one byte a "
            "value plus a float32 scale per 128 values); the combine brings bf16 back either way",
            one_of({"bf16", "fp8"}));
    v.field("engine", engine, "engine scheduler knobs");
    v.field("timing", timing, "iteration timing model");
    v.field("lifecycle", lifecycle, "worker start-up, draining and the planner's bounds");
    v.field("lora", lora, "LoRA adapters served on the pool's model (aggregated pools)");
    v.field("speculative", speculative,
            "speculative decoding (aggregated and decode pools; vllm and sglang schedulers)");
    v.field("power", power, "the GPUs' power curve, for energy (defaults fitted to measured power)");
    v.field("kv_offload", kv_offload,
            "KV blocks evicted from the GPU kept in host memory (vllm and sglang schedulers)");
    v.field("devices", devices,
            "topology.placement: explicit: the GPUs of each replica, e.g. [[n0/gpu0, n0/gpu1], [n1/gpu0, n1/gpu1]]");
  }
};

enum class WorkerRole : std::uint8_t { kAggregated, kPrefill, kDecode };
inline WorkerRole role_of(const PoolConfig& p) {
  return p.role == "prefill" ? WorkerRole::kPrefill : p.role == "decode" ? WorkerRole::kDecode : WorkerRole::kAggregated;
}

// Workers a pool may run at once: its replicas, or the planner's maximum when that is higher.
inline int worker_slots(const PoolConfig& p) { return std::max(p.replicas, p.lifecycle.max_replicas.value_or(p.replicas)); }
// The name of a pool's k-th worker slot (its SystemC module, metric labels, KV-event topic).
inline std::string worker_name(const PoolConfig& p, int k) { return p.name + "_" + std::to_string(k); }

// A pool's adapters one by one (count expanded), each with its rank.
struct LoraAdapter {
  std::string name;
  int rank = 0;
};
inline std::vector<LoraAdapter> lora_adapters(const PoolConfig& p) {
  std::vector<LoraAdapter> out;
  for (const auto& a : p.lora.adapters) {
    const int rank = a.rank > 0 ? a.rank : p.lora.max_lora_rank;
    if (a.count == 1) out.push_back({a.name, rank});
    else
      for (int i = 0; i < a.count; ++i) out.push_back({a.name + "-" + std::to_string(i), rank});
  }
  return out;
}

}  // namespace servesim
