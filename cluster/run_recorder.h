#pragma once
// The Recorder: subscribes to a run's observations, keeps the summary, aggregates fixed
// windows, and writes one HDF5 file (layout in results/README.md). Rows are buffered: all are
// written every output.flush_interval of wall time, and a buffer that fills a chunk (4,096 rows)
// at once; every write is followed by a flush, so a killed run leaves a consistent, readable file.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/hdf5_writer.h"
#include "core/observer.h"
#include "core/result_file.h"
#include "core/summary.h"
#include "scenario/scenario.h"

namespace servesim {

struct RequestRow {
  std::uint64_t id, session_id, trace_id;
  double arrival_s, deps_done_s, think_s, tool_wait_s;
  std::uint32_t input_tokens, output_tokens, cached_tokens, expected_cached_tokens, preemptions;
  std::int32_t prefill_worker, decode_worker;
  std::int32_t priority;
  std::int16_t model;
  std::int16_t lora;
  std::int8_t lora_loaded;
  std::int8_t slo_class;
  double queue_s, prefill_s, transfer_s, decode_s, ttft_s, e2e_s, mean_itl_s;
  std::int8_t status;
  std::int8_t reject_reason;
  std::int8_t route;
  double reserve_wait_s, transfer_bytes, first_step_s;
  double energy_j;
  std::uint32_t offloaded_tokens;
  double onboard_s;
  std::uint32_t disk_tokens, remote_tokens;
  double fetch_s;
  std::int32_t prefill_dp_rank, decode_dp_rank;
};

// Each pool's KV blocks per worker and the memory ledger behind them, as a JSON object keyed by
// pool name (/meta's memory_ledger attribute).
std::string memory_ledgers_json(const ScenarioConfig& config);

// One dependency of a request graph: `trace_id` started only after `waits_for` ended.
struct EdgeRow {
  std::uint64_t trace_id, waits_for;
};

struct TransferRow {
  std::uint64_t request_id;
  std::int32_t from_worker, to_worker;
  std::int64_t blocks;
  double bytes;
  std::int32_t flows, hops, path;
  double start_s, end_s, duration_s, gbyte_per_s;
};

struct LinkRow {
  double time_s;
  std::int32_t link;
  double bytes, utilisation;
  std::int32_t flows;
};

struct ClusterRow {
  double time_s, interval_s;
  std::int64_t arrivals, completions, in_system;
  double in_system_mean;
  std::int64_t waiting, running, kv_blocks_used;
  double kv_usage, prefix_hit_rate;
  double ttft_p50_s, ttft_p90_s, ttft_p99_s, itl_mean_s, itl_p99_s;
  double output_tokens_per_s, goodput_req_per_s;
  std::int32_t workers_ready, gpus_in_use;
  double load_imbalance;
  std::int64_t kv_events, indexer_entries;
  std::int32_t transfers_active;
  std::int64_t remote_prefills, local_prefills;
  std::int32_t workers_starting, workers_draining;
  std::int64_t router_pending;
  double slo_attainment;
  double power_w;  // the cluster's GPUs, mean over the window
};

struct PoolRow {
  double time_s;
  std::int32_t pool, ready, starting, draining, target, gpus;
};

struct WorkerRow {
  double time_s;
  std::int32_t worker, pool;
  std::int32_t waiting, running;
  std::int64_t kv_blocks_used;
  double kv_usage;
  std::int64_t iterations, tokens;
  double busy_frac;
  std::int32_t held, incoming;
  double power_w;  // its GPUs, mean over the window (idle power while it holds them)
  // KV offloading: bytes written to and loaded from its host memory, and the fraction of the
  // window its host-to-GPU link spent loading (iterations waiting for it)
  double kv_offloaded_bytes, kv_onboarded_bytes, kv_onboard_busy_frac;
};

class RunRecorder : public RunObserver {
 public:
  // `path` empty: keep the summary only, write no file. `snapshots` (optional): copies the file
  // after each flush, the first right after the empty datasets are created (kill safety).
  RunRecorder(const LoadedScenario& scenario, const std::string& path, ResultFile* snapshots = nullptr);
  ~RunRecorder() override;

  void on_arrival(const Request&) override;
  void on_request_done(const Request& r) override;
  void on_iteration(std::int32_t worker, TimeNs duration, const BatchShape&, const IterationResult&) override;
  void on_sample(TimeNs now, const ClusterGauges& g, std::span<const WorkerSample> workers) override;
  void on_fabric(std::span<const FabricLinkDesc> links) override;
  void on_transfer(const TransferRecord& t) override;
  void on_links(TimeNs now, std::span<const LinkSample> links) override;
  void on_fabric_path(std::int32_t path, const std::string& text) override;
  void on_planner(std::span<const PlannerRecord> records) override;
  void on_pools(TimeNs now, std::span<const PoolSample> pools) override;
  void on_control(const ControlRecord& c) override;
  void on_resume(TimeNs window_start) override;

  // Writes buffered rows and flushes if the wall-clock flush interval has passed.
  void maybe_flush();
  // Writes /summary and everything buffered, and closes the file.
  void finish(const SummaryStats::Inputs& inputs);
  const SummaryStats& summary() const { return summary_; }

 private:
  void flush();       // every buffer, then the file
  void flush_file();  // HDF5's metadata to disk, then a snapshot if one is due

  std::string path_;
  ResultFile* snapshots_ = nullptr;
  SummaryStats summary_;
  std::chrono::steady_clock::time_point last_flush_;
  double flush_every_s_;

  h5::Handle file_;
  // shared by the file's tables: chunks deflated on a thread of their own, up to two behind the
  // simulation (each interval's flush writes them all)
  std::shared_ptr<h5::ChunkPipeline> chunks_ = h5::table_pipeline(2);
  std::unique_ptr<h5::Table> requests_, edges_, cluster_, workers_, transfers_, links_, pools_, planner_, control_;
  std::vector<PoolRow> pool_rows_;
  std::vector<PlannerRecord> planner_rows_;
  std::vector<ControlRecord> control_rows_;
  std::vector<RequestRow> request_rows_;
  std::vector<EdgeRow> edge_rows_;
  std::vector<TransferRow> transfer_rows_;
  std::vector<LinkRow> link_rows_;
  std::vector<double> link_capacity_;  // bytes/s per fabric link
  std::vector<std::pair<std::int32_t, std::string>> paths_;
  TimeNs links_window_start_ = 0;
  std::vector<ClusterRow> cluster_rows_;
  std::vector<WorkerRow> worker_rows_;

  // current window
  struct WorkerWindow {
    std::int64_t iterations = 0, tokens = 0;
    TimeNs busy_ns = 0;
    double energy_j = 0;
    double kv_offloaded_bytes = 0, kv_onboarded_bytes = 0;
    TimeNs kv_onboard_ns = 0;
  };
  TimeNs window_start_ = 0;
  double last_area_ns_ = 0;
  double last_idle_energy_j_ = 0, w_excess_energy_j_ = 0;
  std::int64_t w_arrivals_ = 0, w_completions_ = 0, w_tokens_ = 0, w_good_ = 0, w_failed_ = 0;
  std::uint64_t w_input_tokens_ = 0, w_cached_tokens_ = 0;
  std::vector<double> w_ttft_;
  std::vector<std::pair<double, std::int32_t>> w_itl_;  // (iteration seconds, decode tokens)
  std::vector<WorkerWindow> w_workers_;
};

}  // namespace servesim
