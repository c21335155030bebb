#include "cluster/run_recorder.h"

#include <algorithm>
#include <cmath>
#include <ctime>

#include <fmt/ranges.h>

#include "core/chunk_pipeline.h"
#include "core/json_text.h"
#include "core/sample_stats.h"
#include "models/catalog.h"
#include "servesim/version.h"

namespace servesim {

namespace {
constexpr size_t kMaxBufferedRows = 1 << 12;

// Buffered rows to their table (none: that output is off), and the buffer emptied.
template <class Row>
void append_rows(h5::Table* table, std::vector<Row>& rows) {
  if (table) table->append(rows.data(), rows.size());
  rows.clear();
}

double quantile_sorted(std::vector<double>& v, double q) {
  if (v.empty()) return std::nan("");
  size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
  rank = std::clamp<size_t>(rank, 1, v.size());
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(rank - 1), v.end());
  return v[rank - 1];
}

h5::CompoundType request_type(hid_t status_enum, hid_t route_enum, hid_t reason_enum) {
  h5::CompoundType t(sizeof(RequestRow));
#define F(name, type) t.add(#name, HOFFSET(RequestRow, name), type)
  F(id, H5T_NATIVE_UINT64);
  F(session_id, H5T_NATIVE_UINT64);
  F(trace_id, H5T_NATIVE_UINT64);
  F(arrival_s, H5T_NATIVE_DOUBLE);
  F(deps_done_s, H5T_NATIVE_DOUBLE);
  F(think_s, H5T_NATIVE_DOUBLE);
  F(tool_wait_s, H5T_NATIVE_DOUBLE);
  F(input_tokens, H5T_NATIVE_UINT32);
  F(output_tokens, H5T_NATIVE_UINT32);
  F(cached_tokens, H5T_NATIVE_UINT32);
  F(expected_cached_tokens, H5T_NATIVE_UINT32);
  F(preemptions, H5T_NATIVE_UINT32);
  F(prefill_worker, H5T_NATIVE_INT32);
  F(decode_worker, H5T_NATIVE_INT32);
  F(priority, H5T_NATIVE_INT32);
  F(model, H5T_NATIVE_INT16);
  F(lora, H5T_NATIVE_INT16);
  F(lora_loaded, H5T_NATIVE_INT8);
  F(slo_class, H5T_NATIVE_INT8);
  F(queue_s, H5T_NATIVE_DOUBLE);
  F(prefill_s, H5T_NATIVE_DOUBLE);
  F(transfer_s, H5T_NATIVE_DOUBLE);
  F(decode_s, H5T_NATIVE_DOUBLE);
  F(ttft_s, H5T_NATIVE_DOUBLE);
  F(e2e_s, H5T_NATIVE_DOUBLE);
  F(mean_itl_s, H5T_NATIVE_DOUBLE);
  F(status, status_enum);
  F(reject_reason, reason_enum);
  F(route, route_enum);
  F(reserve_wait_s, H5T_NATIVE_DOUBLE);
  F(transfer_bytes, H5T_NATIVE_DOUBLE);
  F(first_step_s, H5T_NATIVE_DOUBLE);
  F(energy_j, H5T_NATIVE_DOUBLE);
  F(offloaded_tokens, H5T_NATIVE_UINT32);
  F(onboard_s, H5T_NATIVE_DOUBLE);
  F(disk_tokens, H5T_NATIVE_UINT32);
  F(remote_tokens, H5T_NATIVE_UINT32);
  F(fetch_s, H5T_NATIVE_DOUBLE);
  F(prefill_dp_rank, H5T_NATIVE_INT32);
  F(decode_dp_rank, H5T_NATIVE_INT32);
#undef F
  return t;
}

h5::CompoundType edge_type() {
  h5::CompoundType t(sizeof(EdgeRow));
  t.add("trace_id", HOFFSET(EdgeRow, trace_id), H5T_NATIVE_UINT64);
  t.add("waits_for", HOFFSET(EdgeRow, waits_for), H5T_NATIVE_UINT64);
  return t;
}

h5::CompoundType transfer_type() {
  h5::CompoundType t(sizeof(TransferRow));
#define F(name, type) t.add(#name, HOFFSET(TransferRow, name), type)
  F(request_id, H5T_NATIVE_UINT64);
  F(from_worker, H5T_NATIVE_INT32);
  F(to_worker, H5T_NATIVE_INT32);
  F(blocks, H5T_NATIVE_INT64);
  F(bytes, H5T_NATIVE_DOUBLE);
  F(flows, H5T_NATIVE_INT32);
  F(hops, H5T_NATIVE_INT32);
  F(path, H5T_NATIVE_INT32);
  F(start_s, H5T_NATIVE_DOUBLE);
  F(end_s, H5T_NATIVE_DOUBLE);
  F(duration_s, H5T_NATIVE_DOUBLE);
  F(gbyte_per_s, H5T_NATIVE_DOUBLE);
#undef F
  return t;
}

h5::CompoundType pool_type() {
  h5::CompoundType t(sizeof(PoolRow));
#define F(name, type) t.add(#name, HOFFSET(PoolRow, name), type)
  F(time_s, H5T_NATIVE_DOUBLE);
  F(pool, H5T_NATIVE_INT32);
  F(ready, H5T_NATIVE_INT32);
  F(starting, H5T_NATIVE_INT32);
  F(draining, H5T_NATIVE_INT32);
  F(target, H5T_NATIVE_INT32);
  F(gpus, H5T_NATIVE_INT32);
#undef F
  return t;
}

h5::CompoundType planner_type() {
  h5::CompoundType t(sizeof(PlannerRecord));
#define F(name, type) t.add(#name, HOFFSET(PlannerRecord, name), type)
  F(time_s, H5T_NATIVE_DOUBLE);
  F(pool, H5T_NATIVE_INT32);
  F(observed_requests, H5T_NATIVE_DOUBLE);
  F(observed_isl, H5T_NATIVE_DOUBLE);
  F(observed_osl, H5T_NATIVE_DOUBLE);
  F(observed_ttft_p50_s, H5T_NATIVE_DOUBLE);
  F(observed_itl_mean_s, H5T_NATIVE_DOUBLE);
  F(predicted_requests, H5T_NATIVE_DOUBLE);
  F(predicted_isl, H5T_NATIVE_DOUBLE);
  F(predicted_osl, H5T_NATIVE_DOUBLE);
  F(capacity_req_per_s, H5T_NATIVE_DOUBLE);
  F(correction, H5T_NATIVE_DOUBLE);
  F(actuation_delay_s, H5T_NATIVE_DOUBLE);
  F(lands_s, H5T_NATIVE_DOUBLE);
  F(proposed, H5T_NATIVE_INT32);
  F(target, H5T_NATIVE_INT32);
  F(ready, H5T_NATIVE_INT32);
  F(starting, H5T_NATIVE_INT32);
  F(draining, H5T_NATIVE_INT32);
  F(gpus_in_use, H5T_NATIVE_INT32);
  F(gpu_budget, H5T_NATIVE_INT32);
#undef F
  return t;
}

h5::CompoundType control_type(hid_t kind) {
  h5::CompoundType t(sizeof(ControlRecord));
#define F(name, type) t.add(#name, HOFFSET(ControlRecord, name), type)
  F(sent_s, H5T_NATIVE_DOUBLE);
  F(lands_s, H5T_NATIVE_DOUBLE);
  F(kind, kind);
  F(pool, H5T_NATIVE_INT32);
  F(worker, H5T_NATIVE_INT32);
  F(target, H5T_NATIVE_INT32);
#undef F
  return t;
}

h5::CompoundType link_type() {
  h5::CompoundType t(sizeof(LinkRow));
#define F(name, type) t.add(#name, HOFFSET(LinkRow, name), type)
  F(time_s, H5T_NATIVE_DOUBLE);
  F(link, H5T_NATIVE_INT32);
  F(bytes, H5T_NATIVE_DOUBLE);
  F(utilisation, H5T_NATIVE_DOUBLE);
  F(flows, H5T_NATIVE_INT32);
#undef F
  return t;
}

// A small table of (index, text) rows, written at once.
void write_text_table(hid_t parent, const std::string& name, const char* index_name, const char* text_name,
                      const std::vector<std::pair<std::int32_t, std::string>>& rows) {
  struct Row {
    std::int32_t index;
    const char* text;
  };
  h5::Handle str = h5::vlen_string();
  h5::CompoundType t(sizeof(Row));
  t.add(index_name, HOFFSET(Row, index), H5T_NATIVE_INT32);
  t.add(text_name, HOFFSET(Row, text), str.get());
  std::vector<Row> out;
  for (const auto& [i, text] : rows) out.push_back({i, text.c_str()});
  h5::Table table(parent, name, t, sizeof(Row), std::max<size_t>(1, out.size()));
  table.append(out.data(), out.size());
}

h5::CompoundType cluster_type() {
  h5::CompoundType t(sizeof(ClusterRow));
#define F(name, type) t.add(#name, HOFFSET(ClusterRow, name), type)
  F(time_s, H5T_NATIVE_DOUBLE);
  F(interval_s, H5T_NATIVE_DOUBLE);
  F(arrivals, H5T_NATIVE_INT64);
  F(completions, H5T_NATIVE_INT64);
  F(in_system, H5T_NATIVE_INT64);
  F(in_system_mean, H5T_NATIVE_DOUBLE);
  F(waiting, H5T_NATIVE_INT64);
  F(running, H5T_NATIVE_INT64);
  F(kv_blocks_used, H5T_NATIVE_INT64);
  F(kv_usage, H5T_NATIVE_DOUBLE);
  F(prefix_hit_rate, H5T_NATIVE_DOUBLE);
  F(ttft_p50_s, H5T_NATIVE_DOUBLE);
  F(ttft_p90_s, H5T_NATIVE_DOUBLE);
  F(ttft_p99_s, H5T_NATIVE_DOUBLE);
  F(itl_mean_s, H5T_NATIVE_DOUBLE);
  F(itl_p99_s, H5T_NATIVE_DOUBLE);
  F(output_tokens_per_s, H5T_NATIVE_DOUBLE);
  F(goodput_req_per_s, H5T_NATIVE_DOUBLE);
  F(workers_ready, H5T_NATIVE_INT32);
  F(gpus_in_use, H5T_NATIVE_INT32);
  F(load_imbalance, H5T_NATIVE_DOUBLE);
  F(kv_events, H5T_NATIVE_INT64);
  F(indexer_entries, H5T_NATIVE_INT64);
  F(transfers_active, H5T_NATIVE_INT32);
  F(remote_prefills, H5T_NATIVE_INT64);
  F(local_prefills, H5T_NATIVE_INT64);
  F(workers_starting, H5T_NATIVE_INT32);
  F(workers_draining, H5T_NATIVE_INT32);
  F(router_pending, H5T_NATIVE_INT64);
  F(slo_attainment, H5T_NATIVE_DOUBLE);
  F(power_w, H5T_NATIVE_DOUBLE);
#undef F
  return t;
}

h5::CompoundType worker_type() {
  h5::CompoundType t(sizeof(WorkerRow));
#define F(name, type) t.add(#name, HOFFSET(WorkerRow, name), type)
  F(time_s, H5T_NATIVE_DOUBLE);
  F(worker, H5T_NATIVE_INT32);
  F(pool, H5T_NATIVE_INT32);
  F(waiting, H5T_NATIVE_INT32);
  F(running, H5T_NATIVE_INT32);
  F(kv_blocks_used, H5T_NATIVE_INT64);
  F(kv_usage, H5T_NATIVE_DOUBLE);
  F(iterations, H5T_NATIVE_INT64);
  F(tokens, H5T_NATIVE_INT64);
  F(busy_frac, H5T_NATIVE_DOUBLE);
  F(held, H5T_NATIVE_INT32);
  F(incoming, H5T_NATIVE_INT32);
  F(power_w, H5T_NATIVE_DOUBLE);
  F(kv_offloaded_bytes, H5T_NATIVE_DOUBLE);
  F(kv_onboarded_bytes, H5T_NATIVE_DOUBLE);
  F(kv_onboard_busy_frac, H5T_NATIVE_DOUBLE);
#undef F
  return t;
}

double span_s(TimeNs a, TimeNs b) { return a >= 0 && b >= 0 ? ns_to_s(b - a) : std::nan(""); }

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}
}  // namespace

RunRecorder::RunRecorder(const LoadedScenario& scenario, const std::string& path, ResultFile* snapshots)
    : path_(path),
      snapshots_(snapshots),
      summary_(scenario.config.slo, served_models(scenario.config)),
      last_flush_(std::chrono::steady_clock::now()),
      flush_every_s_(scenario.config.output.flush_interval.seconds) {
  std::vector<std::string> adapters;
  for (const ServedAdapter& a : served_adapters(scenario.config)) adapters.push_back(a.name);
  if (!adapters.empty()) summary_.enable_lora();
  if (std::any_of(scenario.config.pools.begin(), scenario.config.pools.end(),
                  [](const PoolConfig& p) { return p.speculative.enabled(); }))
    summary_.enable_speculative();
  if (std::any_of(scenario.config.pools.begin(), scenario.config.pools.end(),
                  [](const PoolConfig& p) { return p.kv_offload.enabled(); }))
    summary_.enable_kv_offload();
  if (const KvStorageLayout storage = kv_storage_layout(scenario.config); storage.enabled())
    summary_.enable_kv_storage(storage.block_bytes / storage.block_tokens);
  if (path_.empty()) return;
  request_rows_.reserve(kMaxBufferedRows);  // filled and flushed in place: never moved while growing
  file_ = h5::create_file(path_);
  h5::Handle meta = h5::create_group(file_.get(), "meta");
  h5::write_string_attribute(meta.get(), "servesim_version", kVersion);
  h5::write_string_attribute(meta.get(), "git_commit", kGitCommit);
  h5::write_string_attribute(meta.get(), "scenario_name", scenario.config.name);
  h5::write_string_attribute(meta.get(), "scenario_source", scenario.source_name);
  h5::write_string_attribute(meta.get(), "scenario_yaml", scenario.effective_yaml);
  h5::write_int_attribute(meta.get(), "seed", static_cast<std::int64_t>(scenario.config.seed));
  h5::write_string_attribute(meta.get(), "wall_start_utc", utc_now());
  h5::Handle status = h5::int8_enum(
      {{"in_flight", 0}, {"completed", 1}, {"unfinished", 2}, {"failed", 3}, {"aborted", 4}, {"rejected", 5}});
  h5::Handle reason = h5::int8_enum({{"none", 0}, {"unknown_model", 1}, {"queue_full", 2}, {"queue_timeout", 3},
                                     {"rate_limited", 4}});
  h5::write_string_attribute(meta.get(), "slo_classes",
                             fmt::format("{}", fmt::join(scenario.config.slo.class_names(), "\n")));
  h5::write_string_attribute(meta.get(), "served_models", fmt::format("{}", fmt::join(served_models(scenario.config), "\n")));
  h5::write_string_attribute(meta.get(), "lora_adapters", fmt::format("{}", fmt::join(adapters, "\n")));
  h5::write_string_attribute(meta.get(), "memory_ledger", memory_ledgers_json(scenario.config));
  h5::Handle route = h5::int8_enum({{"aggregated", 0}, {"remote_prefill", 1}, {"local_prefill", 2}});
  if (scenario.config.output.requests)
    requests_ = std::make_unique<h5::Table>(file_.get(), "requests", request_type(status.get(), route.get(), reason.get()),
                                            sizeof(RequestRow), 4096, chunks_);
  if (scenario.config.output.requests)
    edges_ = std::make_unique<h5::Table>(file_.get(), "edges", edge_type(), sizeof(EdgeRow), 4096, chunks_);
  h5::Handle ts = h5::create_group(file_.get(), "timeseries");
  cluster_ = std::make_unique<h5::Table>(ts.get(), "cluster", cluster_type(), sizeof(ClusterRow), 1024, chunks_);
  pools_ = std::make_unique<h5::Table>(ts.get(), "pools", pool_type(), sizeof(PoolRow), 1024, chunks_);
  planner_ = std::make_unique<h5::Table>(file_.get(), "planner", planner_type(), sizeof(PlannerRecord), 1024, chunks_);
  h5::Handle control_kind = h5::int32_enum({{"scale", 0}, {"ready", 1}, {"draining", 2}, {"stopped", 3}, {"failed", 4},
                                            {"unreachable", 5}});
  control_ = std::make_unique<h5::Table>(file_.get(), "control_plane", control_type(control_kind.get()),
                                         sizeof(ControlRecord), 1024, chunks_);
  workers_ = std::make_unique<h5::Table>(file_.get(), "workers", worker_type(), sizeof(WorkerRow), 4096, chunks_);
  H5Fflush(file_.get(), H5F_SCOPE_GLOBAL);
  if (snapshots_) snapshots_->snapshot();
}

RunRecorder::~RunRecorder() = default;

std::string memory_ledgers_json(const ScenarioConfig& config) {
  std::string out = "{";
  for (const PoolConfig& pool : config.pools) {
    const KvCapacity cap = kv_capacity(pool, Catalog::builtin());
    out += fmt::format(R"({}"{}": {{"blocks": {}, "block_size": {}, "num_gpu_blocks_given": {}, "ledger": {}}})",
                       out.size() > 1 ? ", " : "", json_escape(pool.name), cap.blocks, pool.engine.block_size,
                       pool.engine.num_gpu_blocks ? "true" : "false", cap.ledger.json());
  }
  return out + "}";
}

void RunRecorder::on_arrival(const Request&) { ++w_arrivals_; }

void RunRecorder::on_request_done(const Request& r) {
  summary_.add_request(r);
  if (r.status == RequestStatus::kFailed) ++w_failed_;
  if (r.status == RequestStatus::kCompleted) {
    ++w_completions_;
    w_ttft_.push_back(r.ttft_s());
    w_input_tokens_ += r.input_tokens;
    w_cached_tokens_ += r.cached_tokens;
    if (summary_.meets_slo(r)) ++w_good_;
  }
  if (!requests_) return;
  RequestRow row{};
  row.id = r.id;
  row.session_id = r.session_id;
  row.trace_id = r.trace_id;
  row.arrival_s = ns_to_s(r.arrival_ns);
  row.deps_done_s = r.deps_done_ns >= 0 ? ns_to_s(r.deps_done_ns) : std::nan("");
  row.think_s = ns_to_s(r.think_ns);
  row.tool_wait_s = ns_to_s(r.tool_wait_ns);
  for (std::uint64_t dep : r.wait_for) edge_rows_.push_back(EdgeRow{r.trace_id, dep});
  row.input_tokens = r.input_tokens;
  row.output_tokens = r.output_tokens;
  row.cached_tokens = r.cached_tokens;
  row.expected_cached_tokens = r.expected_cached_tokens;
  row.preemptions = r.preemptions;
  const bool remote = r.route == RequestRoute::kRemotePrefill;
  row.prefill_worker = remote ? r.prefill_worker : r.worker;
  row.decode_worker = r.worker;
  row.prefill_dp_rank = remote ? r.prefill_dp_rank : r.dp_rank;
  row.decode_dp_rank = r.dp_rank;
  row.priority = r.priority;
  row.model = r.model;
  row.lora = r.lora;
  row.lora_loaded = r.lora_loaded;
  row.energy_j = r.energy_j;
  row.offloaded_tokens = r.offloaded_tokens;
  row.onboard_s = ns_to_s(r.onboard_ns);
  row.disk_tokens = r.disk_tokens;
  row.remote_tokens = r.remote_tokens;
  row.fetch_s = ns_to_s(r.fetch_ns);
  row.slo_class = r.slo_class;
  row.reject_reason = static_cast<std::int8_t>(r.reject_reason);
  row.route = static_cast<std::int8_t>(r.route);
  row.queue_s = span_s(r.arrival_ns, r.scheduled_ns);
  row.prefill_s = span_s(r.scheduled_ns, r.prefill_end_ns);
  // so that ttft_s = queue_s + prefill_s + transfer_s + first_step_s on every route
  const double reached = r.prefill_end_ns >= 0 ? 0.0 : std::nan("");
  row.transfer_s = remote ? span_s(r.prefill_end_ns, r.transfer_end_ns) : reached;
  row.reserve_wait_s = remote ? span_s(r.reserve_start_ns, r.reserved_ns) : reached;
  row.first_step_s = remote ? span_s(r.transfer_end_ns, r.first_token_ns) : reached;
  row.transfer_bytes = r.transfer_bytes;
  row.decode_s = span_s(r.first_token_ns, r.finish_ns);
  row.ttft_s = span_s(r.arrival_ns, r.first_token_ns);
  row.e2e_s = span_s(r.arrival_ns, r.finish_ns);
  row.mean_itl_s = r.mean_itl_s() >= 0 ? r.mean_itl_s() : std::nan("");
  row.status = static_cast<std::int8_t>(r.status);
  request_rows_.push_back(row);
  if (request_rows_.size() >= kMaxBufferedRows || edge_rows_.size() >= kMaxBufferedRows) maybe_flush();
}

void RunRecorder::on_iteration(std::int32_t worker, TimeNs duration, const BatchShape&, const IterationResult& res) {
  if (res.lora_loads) summary_.add_lora_loads(static_cast<std::uint64_t>(res.lora_loads));
  summary_.add_iteration_energy(res.energy_j, res.idle_energy_j);
  if (res.kv_offloaded_bytes > 0 || res.kv_onboarded_bytes > 0)
    summary_.add_kv_offload(res.kv_offloaded_bytes, res.kv_onboarded_bytes);
  w_excess_energy_j_ += res.energy_j - res.idle_energy_j;
  if (res.spec_verified_seqs)
    summary_.add_speculative(static_cast<std::uint64_t>(res.spec_verified_seqs),
                             static_cast<std::uint64_t>(res.spec_draft_tokens),
                             static_cast<std::uint64_t>(res.spec_accepted_tokens));
  res.for_each_itl(duration, [&](TimeNs gap, std::int32_t tokens) {
    summary_.add_itl(ns_to_s(gap), static_cast<std::uint64_t>(tokens));
    w_itl_.emplace_back(ns_to_s(gap), tokens);
  });
  w_tokens_ += res.tokens_emitted;
  if (static_cast<size_t>(worker) >= w_workers_.size()) w_workers_.resize(static_cast<size_t>(worker) + 1);
  auto& w = w_workers_[static_cast<size_t>(worker)];
  ++w.iterations;
  w.tokens += res.tokens_emitted;
  w.busy_ns += duration;  // credited to the window in which the iteration ends
  w.energy_j += res.energy_j;
  w.kv_offloaded_bytes += res.kv_offloaded_bytes;
  w.kv_onboarded_bytes += res.kv_onboarded_bytes;
  w.kv_onboard_ns += res.kv_onboard_ns;
}

void RunRecorder::on_sample(TimeNs now, const ClusterGauges& g, std::span<const WorkerSample> workers) {
  const double interval = ns_to_s(now - window_start_);
  ClusterRow row{};
  row.time_s = ns_to_s(now);
  row.interval_s = interval;
  row.arrivals = w_arrivals_;
  row.completions = w_completions_;
  row.in_system = g.in_system;
  row.in_system_mean = interval > 0 ? (g.in_system_area_ns - last_area_ns_) / static_cast<double>(now - window_start_) : 0;
  std::int64_t kv_total = 0, kv_max = 0;
  for (const auto& w : workers) {
    kv_max = std::max(kv_max, w.load.kv_blocks_used);
    row.waiting += w.load.waiting;
    row.running += w.load.running;
    row.kv_blocks_used += w.load.kv_blocks_used;
    kv_total += w.load.kv_blocks_total;
  }
  row.kv_usage = kv_total ? static_cast<double>(row.kv_blocks_used) / static_cast<double>(kv_total) : std::nan("");
  row.prefix_hit_rate = w_input_tokens_ ? static_cast<double>(w_cached_tokens_) / static_cast<double>(w_input_tokens_)
                                        : std::nan("");
  row.ttft_p50_s = quantile_sorted(w_ttft_, 0.5);
  row.ttft_p90_s = quantile_sorted(w_ttft_, 0.9);
  row.ttft_p99_s = quantile_sorted(w_ttft_, 0.99);
  double itl_sum = 0, itl_n = 0;
  for (auto [d, n] : w_itl_) itl_sum += d * n, itl_n += n;
  row.itl_mean_s = itl_n > 0 ? itl_sum / itl_n : std::nan("");
  // weighted p99: each iteration counts once per token it produced
  const double itl_target = std::ceil(0.99 * itl_n);
  row.itl_p99_s = itl_n > 0 ? weighted_select(w_itl_, [&](double seen) { return seen >= itl_target; }) : std::nan("");
  row.output_tokens_per_s = interval > 0 ? static_cast<double>(w_tokens_) / interval : 0;
  row.goodput_req_per_s = interval > 0 ? static_cast<double>(w_good_) / interval : 0;
  row.workers_ready = g.workers_ready;
  row.gpus_in_use = g.gpus_in_use;
  // max / mean active KV blocks over workers (1 = perfectly balanced; NaN when all idle)
  const double kv_mean = workers.empty() ? 0 : static_cast<double>(row.kv_blocks_used) / static_cast<double>(workers.size());
  row.load_imbalance = kv_mean > 0 ? static_cast<double>(kv_max) / kv_mean : std::nan("");
  row.kv_events = static_cast<std::int64_t>(g.kv_events);
  row.indexer_entries = g.indexer_entries;
  row.transfers_active = g.transfers_active;
  row.remote_prefills = static_cast<std::int64_t>(g.remote_prefills);
  row.local_prefills = static_cast<std::int64_t>(g.local_prefills);
  row.workers_starting = g.workers_starting;
  row.workers_draining = g.workers_draining;
  row.router_pending = g.router_pending;
  // the GPUs held drew idle power, and the window's iterations their excess over it
  row.power_w = interval > 0 ? (g.idle_energy_j - last_idle_energy_j_ + w_excess_energy_j_) / interval : 0;
  row.slo_attainment = w_completions_ + w_failed_ > 0 ? static_cast<double>(w_good_) / static_cast<double>(w_completions_ + w_failed_)
                                                      : std::nan("");
  cluster_rows_.push_back(row);

  if (w_workers_.size() < workers.size()) w_workers_.resize(workers.size());
  for (const auto& w : workers) {
    const auto& ww = w_workers_[static_cast<size_t>(w.worker)];
    WorkerRow wr{};
    wr.time_s = row.time_s;
    wr.worker = w.worker;
    wr.pool = w.pool;
    wr.waiting = w.load.waiting;
    wr.running = w.load.running;
    wr.kv_blocks_used = w.load.kv_blocks_used;
    wr.kv_usage = w.load.kv_blocks_total ? static_cast<double>(w.load.kv_blocks_used) / static_cast<double>(w.load.kv_blocks_total)
                                         : std::nan("");
    wr.iterations = ww.iterations;
    wr.tokens = ww.tokens;
    wr.busy_frac = interval > 0 ? ns_to_s(ww.busy_ns) / interval : 0;
    wr.power_w = interval > 0 ? (ww.energy_j + w.idle_w * std::max(0.0, interval - ns_to_s(ww.busy_ns))) / interval : 0;
    wr.held = w.load.held;
    wr.incoming = w.load.incoming;
    wr.kv_offloaded_bytes = ww.kv_offloaded_bytes;
    wr.kv_onboarded_bytes = ww.kv_onboarded_bytes;
    wr.kv_onboard_busy_frac = interval > 0 ? ns_to_s(ww.kv_onboard_ns) / interval : 0;
    worker_rows_.push_back(wr);
  }

  window_start_ = now;
  last_area_ns_ = g.in_system_area_ns;
  last_idle_energy_j_ = g.idle_energy_j;
  w_excess_energy_j_ = 0;
  w_arrivals_ = w_completions_ = w_tokens_ = w_good_ = w_failed_ = 0;
  w_input_tokens_ = w_cached_tokens_ = 0;
  w_ttft_.clear();
  w_itl_.clear();
  std::fill(w_workers_.begin(), w_workers_.end(), WorkerWindow{});
  maybe_flush();
}

void RunRecorder::on_fabric(std::span<const FabricLinkDesc> links) {
  for (const auto& l : links) link_capacity_.push_back(l.bytes_per_s);
  if (file_.get() < 0) return;
  struct InfoRow {
    std::int32_t link;
    const char* name;
    const char* kind;
    double gbyte_per_s, latency_s;
  };
  h5::Handle str = h5::vlen_string();
  h5::CompoundType t(sizeof(InfoRow));
  t.add("link", HOFFSET(InfoRow, link), H5T_NATIVE_INT32);
  t.add("name", HOFFSET(InfoRow, name), str.get());
  t.add("kind", HOFFSET(InfoRow, kind), str.get());
  t.add("gbyte_per_s", HOFFSET(InfoRow, gbyte_per_s), H5T_NATIVE_DOUBLE);
  t.add("latency_s", HOFFSET(InfoRow, latency_s), H5T_NATIVE_DOUBLE);
  std::vector<InfoRow> rows;
  for (size_t i = 0; i < links.size(); ++i)
    rows.push_back({static_cast<std::int32_t>(i), links[i].name.c_str(), links[i].kind.c_str(), links[i].bytes_per_s / 1e9,
                    ns_to_s(links[i].latency_ns)});
  h5::Handle group = h5::create_group(file_.get(), "links");
  h5::Table info(group.get(), "info", t, sizeof(InfoRow), std::max<size_t>(1, rows.size()));
  info.append(rows.data(), rows.size());
  links_ = std::make_unique<h5::Table>(group.get(), "timeseries", link_type(), sizeof(LinkRow), 4096, chunks_);
  transfers_ = std::make_unique<h5::Table>(file_.get(), "transfers", transfer_type(), sizeof(TransferRow), 4096, chunks_);
}

void RunRecorder::on_transfer(const TransferRecord& t) {
  summary_.add_transfer(ns_to_s(t.end_ns - t.start_ns), t.bytes);
  if (!transfers_) return;
  TransferRow row{};
  row.request_id = t.request_id;
  row.from_worker = t.from_worker;
  row.to_worker = t.to_worker;
  row.blocks = t.blocks;
  row.bytes = t.bytes;
  row.flows = t.flows;
  row.hops = t.hops;
  row.path = t.path;
  row.start_s = ns_to_s(t.start_ns);
  row.end_s = ns_to_s(t.end_ns);
  row.duration_s = ns_to_s(t.end_ns - t.start_ns);
  row.gbyte_per_s = t.end_ns > t.start_ns ? t.bytes / ns_to_s(t.end_ns - t.start_ns) / 1e9 : std::nan("");
  transfer_rows_.push_back(row);
}

void RunRecorder::on_links(TimeNs now, std::span<const LinkSample> links) {
  const double interval = ns_to_s(now - links_window_start_);
  links_window_start_ = now;
  if (!links_) return;
  for (const auto& l : links) {
    LinkRow row{};  // value-initialised: the padding written to the file is zero, so runs compare bitwise
    row.time_s = ns_to_s(now);
    row.link = l.link;
    row.bytes = l.bytes;
    row.utilisation = interval > 0 ? l.bytes / (link_capacity_[static_cast<size_t>(l.link)] * interval) : std::nan("");
    row.flows = l.flows;
    link_rows_.push_back(row);
  }
}

void RunRecorder::on_fabric_path(std::int32_t path, const std::string& text) { paths_.emplace_back(path, text); }

void RunRecorder::on_planner(std::span<const PlannerRecord> records) {
  planner_rows_.insert(planner_rows_.end(), records.begin(), records.end());
}

void RunRecorder::on_control(const ControlRecord& c) { control_rows_.push_back(c); }

void RunRecorder::on_pools(TimeNs now, std::span<const PoolSample> pools) {
  for (const auto& p : pools) {
    PoolRow row{};
    row.time_s = ns_to_s(now);
    row.pool = p.pool;
    row.ready = p.ready;
    row.starting = p.starting;
    row.draining = p.draining;
    row.target = p.target;
    row.gpus = p.gpus;
    pool_rows_.push_back(row);
  }
}

void RunRecorder::maybe_flush() {
  if (file_.get() < 0) return;
  auto now = std::chrono::steady_clock::now();
  if (std::chrono::duration<double>(now - last_flush_).count() >= flush_every_s_) {
    flush();
    return;
  }
  // A full buffer goes to the file alone: the others' last chunks, not full yet, are written
  // (and compressed) once per interval, not each time the requests fill a chunk.
  bool wrote = false;
  auto if_full = [&](h5::Table* table, auto& rows) {
    if (rows.size() < kMaxBufferedRows) return;
    append_rows(table, rows);
    wrote = true;
  };
  if_full(requests_.get(), request_rows_);
  if_full(edges_.get(), edge_rows_);
  if_full(workers_.get(), worker_rows_);
  if_full(transfers_.get(), transfer_rows_);
  if_full(links_.get(), link_rows_);
  if (wrote) flush_file();
}

void RunRecorder::flush() {
  if (file_.get() < 0) return;
  append_rows(requests_.get(), request_rows_);
  append_rows(edges_.get(), edge_rows_);
  append_rows(cluster_.get(), cluster_rows_);
  append_rows(workers_.get(), worker_rows_);
  append_rows(transfers_.get(), transfer_rows_);
  append_rows(pools_.get(), pool_rows_);
  append_rows(planner_.get(), planner_rows_);
  append_rows(control_.get(), control_rows_);
  append_rows(links_.get(), link_rows_);
  chunks_->drain();
  flush_file();
  last_flush_ = std::chrono::steady_clock::now();
}

void RunRecorder::flush_file() {
  H5Fflush(file_.get(), H5F_SCOPE_GLOBAL);
  if (snapshots_) snapshots_->snapshot();
}

// The sampler slept through an idle stretch (nothing in the system): the next window starts at
// the grid point before the arrival that woke it; the empty windows in between are not written.
void RunRecorder::on_resume(TimeNs window_start) {
  window_start_ = window_start;
  links_window_start_ = window_start;
}

void RunRecorder::finish(const SummaryStats::Inputs& inputs) {
  if (file_.get() < 0) return;
  flush();
  auto metrics = summary_.metrics(inputs);
  h5::CompoundType type(sizeof(double) * metrics.size());
  for (size_t i = 0; i < metrics.size(); ++i) type.add(metrics[i].first.c_str(), i * sizeof(double), H5T_NATIVE_DOUBLE);
  std::vector<double> values;
  for (auto& [k, v] : metrics) values.push_back(v);
  h5::Table summary(file_.get(), "summary", type, sizeof(double) * metrics.size(), 1, chunks_);
  summary.append(values.data(), 1);
  chunks_->drain();  // here, where a failed write is an error (the table's closing would swallow it)
  h5::write_string_attribute(summary.id(), "status", inputs.status);
  if (links_) {
    h5::Handle group(H5Gopen2(file_.get(), "links", H5P_DEFAULT), H5Gclose);
    write_text_table(group.get(), "paths", "path", "route", paths_);
  }
  requests_.reset();
  edges_.reset();
  cluster_.reset();
  workers_.reset();
  transfers_.reset();
  links_.reset();
  pools_.reset();
  planner_.reset();
  control_.reset();
  H5Fflush(file_.get(), H5F_SCOPE_GLOBAL);
  file_ = h5::Handle();
}

}  // namespace servesim
