#pragma once
// Rows of a measured end-to-end serving table (aiconfigurator's silicon_<system>.csv: TTFT and
// TPOT of a model, framework, precision and parallel layout at a fixed concurrency and
// isl/osl), and the servesim deployment each row describes.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace servesim {

struct SiliconRow {
  std::uint64_t line = 0;
  std::string id, backend, backend_version, model_path, system, precision, mode, gemm_quant_mode;
  int isl = 0, osl = 0, concurrency = 0;
  int tp = 0, pp = 1, attention_dp = 1, moe_ep = 1;  // aggregated
  int prefill_workers = 0, prefill_tp = 0, prefill_pp = 1, prefill_attention_dp = 1, prefill_moe_ep = 1;
  int decode_workers = 0, decode_tp = 0, decode_pp = 1, decode_attention_dp = 1, decode_moe_ep = 1;
  int moe_tp = 0, prefill_moe_tp = 0, decode_moe_tp = 0;  // 0: not given (moe_tp_size columns are optional)
  // the engines' batch limits the row was configured with (batch_size, prefill_/decode_batch_size); 0: not given
  int batch_size = 0, prefill_batch_size = 0, decode_batch_size = 0;
  double ttft_ms = 0, tpot_ms = 0;
};

// Reads every row; throws InputError naming the file, line and column of a malformed one.
std::vector<SiliconRow> read_silicon_csv(const std::string& path);

// --filter COLUMN=VALUE[|VALUE...]: a row passes when, for every filter, its column holds one
// of the values (`half` is odd|even by line number: a fixed split for fitting and testing).
// Throws ConfigError on a malformed filter or an unknown column.
struct SiliconFilter {
  std::string column;
  std::vector<std::string> values;
};
SiliconFilter parse_silicon_filter(const std::string& text);
bool passes(const SiliconRow& row, const std::vector<SiliconFilter>& filters);

// What check-silicon deploys for a row: a scenario as YAML, or why the row cannot be modelled.
struct SiliconDeployment {
  std::string catalog_model, precision;  // servesim names
  std::string gpu;                       // catalog GPU of the row's system
  std::string engine;                    // the engines.yaml entry used
  std::string client_start;              // burst | ramp | lockstep, as run
  int client_concurrency = 0;            // requests the client keeps in flight, as run
  int max_num_seqs = 0;                  // the (decode) engine's batch limit, as run
  int max_num_batched_tokens = 0;        // the engines' token budget per iteration, as run
  std::string kernel_backend;            // whose kernel tables price it (kernel timing)
  // their version: the nearest to the row's that can price it (table_versions_by_nearness)
  std::string kernel_version;
  std::string scenario_yaml;
  std::string unsupported;  // non-empty: the reason; scenario_yaml is then empty
  int gpus = 0;
  std::int64_t requests = 0;
};

struct SiliconRunSettings {
  std::string timing = "kernel";                  // kernel | roofline
  // Kernel timing: the row's system of the performance database at `kernel_database` (absolute),
  // or one folder of tables given as is (`kernel_tables`, absolute); priced with the kernels of
  // `kernel_backend`: row (each row's own backend) | vllm | sglang | trtllm.
  std::string kernel_database, kernel_tables;
  std::string kernel_backend = "row";
  std::string moe = "table", moe_distribution = "power_law_1.01";  // timing.kernel.moe and moe_distribution
  std::string efficiency = "default";             // roofline efficiency entry
  int rounds = 10;                                 // requests = concurrency x rounds
  // How the client starts: burst (all at once, as benchmark clients do, the successors of that
  // first wave then drifting to random phases) | ramp (starts at random phases: steady state only)
  // | lockstep (all at once, successors without jitter: the first wave's pattern repeats every round)
  // (unset: the framework's client_start in engines.yaml)
  std::optional<std::string> start;
  // burst: each successor's random delay is uniform in [0, desync_ms) instead of one request's
  // decode time (unset)
  std::optional<double> desync_ms;
  std::optional<double> overhead_ms;               // overrides the framework's iteration overhead
  std::optional<double> request_latency_ms;        // overrides the framework's request latency
  // The frontend's one process busy per request and per 1,000 prompt tokens (frontend.processing):
  // a burst of requests reaches the engine spread out (0: not held).
  double frontend_ms_per_request = 0, frontend_ms_per_1k_tokens = 0;
  // Each engine's max_num_seqs: the framework's default (engine), the row's batch_size columns
  // (row), or a number for every engine.
  std::string max_batch = "engine";
  // Each engine's token budget per iteration (unset: the framework's max_num_batched_tokens).
  std::optional<int> max_num_batched_tokens;
  // Requests the client keeps in flight beyond the row's concurrency: with --max-batch row, one
  // more than the engine admits waits for a slot, as a TensorRT-LLM row set's TTFT suggests.
  int extra_clients = 0;
  std::uint64_t seed = 1;
};

SiliconDeployment silicon_deployment(const SiliconRow& row, const SiliconRunSettings& settings);

}  // namespace servesim
