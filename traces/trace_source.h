#pragma once
// TraceSource: streams requests in non-decreasing arrival order, one at a time, in memory
// that does not grow with the trace's length.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/registry.h"
#include "traces/workload_config.h"

namespace servesim {

// The ranges every trace format enforces (docs/limits.md); a row outside them is a bad line.
inline constexpr std::int64_t kMaxTokens = 100'000'000;  // input or output tokens of one request
// Arrival times after the workload's scaling: simulated time is int64 nanoseconds (292 years).
inline constexpr double kMaxTraceTimeS = 6e9;
inline constexpr std::int64_t kMinPriority = -1'000'000'000, kMaxPriority = 1'000'000'000;

struct TraceRequest {
  double arrival_s = 0;  // seconds from the start of the run (after scaling knobs)
  std::uint32_t input_tokens = 0;
  std::uint32_t output_tokens = 0;
  std::vector<std::uint64_t> hash_ids;  // prefix-block ids, each covering hash_block_tokens
  std::uint64_t session_id = 0;         // 0 = not part of a session
  std::int32_t priority = 0;            // lower is served first under engine.policy: priority
  std::string model;                    // the model it asks for ("" = the first pool's)
  std::int8_t slo_class = -1;           // index into slo.classes (-1: the default targets)
  std::uint64_t client_id = 0;          // live mode: the HTTP request it came from (0 = a trace row)
  std::uint32_t hash_block_tokens = 0;  // tokens per hash id when not the workload's (live prompts)
  std::int32_t pinned_worker = -1;      // live mode: the worker whose own endpoint took it

  // Request graphs (closed-loop sessions, agent calls). A row with `wait_for` starts when every
  // row it names has ended (completed or failed), plus `delay_s` and `tool_wait_s`; its
  // `arrival_s` is then only the trace time it was read at (for windows, never a start time).
  std::uint64_t trace_id = 0;           // nonzero: other rows may wait for this one (unique per trace)
  std::vector<std::uint64_t> wait_for;  // trace ids of earlier rows
  double delay_s = 0;                   // think time after the dependencies end
  double tool_wait_s = 0;               // tool-call time after the dependencies end (recorded apart)
  TimeNs deps_done_ns = -1;             // set by the player: when the last dependency ended
  bool depends() const { return !wait_for.empty(); }
};

struct TraceStats {
  std::uint64_t rows_read = 0;       // rows parsed into requests
  std::uint64_t rows_skipped = 0;    // malformed rows skipped (on_bad_line: skip)
  std::uint64_t rows_filtered = 0;   // well-formed rows outside the time window
};

class TraceSource {
 public:
  virtual ~TraceSource() = default;
  // The next request, or nullopt when the trace is exhausted. Throws InputError on a
  // malformed row when the scenario says on_bad_line: fail.
  virtual std::optional<TraceRequest> next() = 0;
  virtual TraceStats stats() const = 0;
  // Session and request-name entries a graph-aware reader holds now (its memory beyond the rows in
  // flight); 0 for sources without any.
  virtual std::uint64_t graph_entries_held() const { return 0; }
};

struct TraceContext {
  const WorkloadConfig& workload;
  std::string base_dir;  // relative paths resolve here
  std::uint64_t seed = 1;
  std::vector<std::string> slo_classes = {};  // the names a row's slo_class may take
  // The models served (the first is a request's when it names none) and the LoRA adapters, as
  // (adapter, its base model) in declaration order: synthetic.lora draws from them.
  std::vector<std::string> models = {};
  std::vector<std::pair<std::string, std::string>> lora_adapters = {};
  std::string resolve(const std::string& path) const;
};

using TraceRegistry = Registry<"trace format", TraceSource, const TraceContext&>;

// The configured source with every workload knob applied (window, time/rate scaling,
// timestamp spreading, max_requests).
std::unique_ptr<TraceSource> make_trace_source(const TraceContext& ctx);

}  // namespace servesim
