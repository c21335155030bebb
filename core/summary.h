#pragma once
// Run-level statistics, accumulated from observations in bounded memory.
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/batch_means.h"
#include "core/histogram.h"
#include "core/request.h"
#include "core/slo_config.h"

namespace servesim {

class SummaryStats {
 public:
  // `models`: the served models (Request::model indexes them); with more than one, the summary
  // gives each its own requests, SLO attainment and latencies.
  explicit SummaryStats(const SloConfig& slo, std::vector<std::string> models = {})
      : slo_(slo), models_(std::move(models)), per_model_(models_.size()), per_class_(slo.classes.size()) {}
  void add_request(const Request& r);
  // LoRA: with adapters served, the summary gives their requests' figures and the loads.
  void enable_lora() { lora_ = true; }
  void add_lora_loads(std::uint64_t n) { lora_loads_ += n; }
  // Speculative decoding: with a pool using it, the summary gives its acceptance.
  void enable_speculative() { speculative_ = true; }
  void add_speculative(std::uint64_t verified_seqs, std::uint64_t draft_tokens, std::uint64_t accepted_tokens) {
    spec_verified_ += verified_seqs;
    spec_drafted_ += draft_tokens;
    spec_accepted_ += accepted_tokens;
  }
  // `decode_tokens` tokens, each `gap_s` after its sequence's previous token
  void add_itl(double gap_s, std::uint64_t decode_tokens) {
    itl_.add(gap_s, decode_tokens);
    itl_batches_.add(gap_s, static_cast<double>(decode_tokens));
  }
  // An iteration's GPU energy, and what its GPUs would have drawn idle meanwhile (already in
  // Inputs::idle_energy_j: the total adds the difference).
  void add_iteration_energy(double energy_j, double idle_energy_j) {
    busy_energy_j_ += energy_j;
    displaced_idle_j_ += idle_energy_j;
  }
  // KV offloading: bytes written back to host memory and loaded from it.
  void add_kv_offload(double offloaded_bytes, double onboarded_bytes) {
    kv_offloaded_bytes_ += offloaded_bytes;
    kv_onboarded_bytes_ += onboarded_bytes;
  }
  void enable_kv_offload() { kv_offload_ = true; }
  // kv_storage: the KV bytes of one prompt token (every pool that takes part has the same).
  void enable_kv_storage(double bytes_per_token) { storage_bytes_per_token_ = bytes_per_token; }
  bool meets_slo(const Request& r) const;
  void add_transfer(double duration_s, double bytes) {
    transfer_.add(duration_s);
    transfer_bytes_ += bytes;
  }

  struct Inputs {
    double sim_end_s = 0;
    double wall_s = 0;
    std::int32_t gpus = 0;
    std::uint64_t arrived = 0;
    std::uint64_t trace_rows_skipped = 0;
    double gpu_hours = 0;            // GPUs held (starting, ready, draining) integrated over time
    double idle_energy_j = 0;        // what the GPUs held would have drawn idle, over the run
    double peak_tdp_w = 0;           // the power limits of the GPUs held, at most
    std::uint64_t scale_events = 0;  // planner decisions that changed a pool's target
    double underprovisioned_s = 0;   // time some pool had fewer ready workers than its target
    std::uint64_t worker_failures = 0;
    std::uint64_t timing_extrapolations = 0;  // timing-table lookups outside measured data
    std::uint64_t trace_rows_late = 0;     // graph rows read after they should have started
    std::uint64_t trace_graph_entries_peak = 0;  // sessions, names and rows the graph readers held at most
    std::uint64_t trace_rows_waiting = 0;  // graph rows still waiting for dependencies at the end
    std::string status = "completed";         // completed | max_time | interrupted
  };
  // (name, value, unit) rows in a stable order; names carry their unit suffix.
  std::vector<std::pair<std::string, double>> metrics(const Inputs& in) const;
  std::string table(const Inputs& in) const;  // the human-readable summary

 private:
  SloConfig slo_;
  LogHistogram ttft_, itl_, tpot_, e2e_, queue_, transfer_, reserve_wait_;
  // single-run 95% intervals of the latency means and percentiles (core/batch_means.h)
  BatchMeans ttft_batches_, itl_batches_, tpot_batches_, e2e_batches_, queue_batches_;
  std::uint64_t remote_prefills_ = 0, local_prefills_ = 0;
  double transfer_bytes_ = 0;
  std::uint64_t completed_ = 0, unfinished_ = 0, failed_ = 0, aborted_ = 0, good_ = 0, retries_ = 0;
  // sessions: first arrival to the last turn's last token, what an agent's user waits for
  struct SessionSpan {
    TimeNs first_arrival_ns = 0, last_finish_ns = 0;
    bool all_completed = true;
  };
  std::map<std::uint64_t, SessionSpan> sessions_;
  struct PerModel {
    std::uint64_t ended = 0, completed = 0, good = 0;
    LogHistogram ttft, e2e;
  };
  std::vector<std::string> models_;
  std::vector<PerModel> per_model_;
  struct PerClass {
    std::uint64_t ended = 0, good = 0;
    LogHistogram ttft;
  };
  std::vector<PerClass> per_class_;
  bool lora_ = false;
  std::uint64_t lora_ended_ = 0, lora_completed_ = 0, lora_good_ = 0, lora_resident_ = 0, lora_loads_ = 0;
  LogHistogram lora_ttft_;
  bool speculative_ = false;
  std::uint64_t spec_verified_ = 0, spec_drafted_ = 0, spec_accepted_ = 0;
  std::uint64_t rejected_unknown_model_ = 0, rejected_queue_full_ = 0, rejected_queue_timeout_ = 0,
                rejected_rate_limited_ = 0;
  std::uint64_t input_tokens_ = 0, output_tokens_ = 0, cached_tokens_ = 0, preemptions_ = 0;
  double busy_energy_j_ = 0, displaced_idle_j_ = 0;
  bool kv_offload_ = false;
  double kv_offloaded_bytes_ = 0, kv_onboarded_bytes_ = 0;
  std::uint64_t offloaded_tokens_ = 0, onboarded_requests_ = 0;
  double storage_bytes_per_token_ = 0;  // > 0: kv_storage's metrics
  std::uint64_t disk_tokens_ = 0, remote_tokens_ = 0, fetched_requests_ = 0;
  double fetch_s_ = 0;
  double onboard_s_ = 0;
};

}  // namespace servesim
