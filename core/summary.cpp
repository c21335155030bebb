#include "core/summary.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>

namespace servesim {

bool SummaryStats::meets_slo(const Request& r) const {
  if (r.status != RequestStatus::kCompleted) return false;
  if (r.ttft_s() > slo_.ttft_s(r.slo_class)) return false;
  double itl = r.mean_itl_s();
  return itl < 0 || itl <= slo_.itl_s(r.slo_class);
}

void SummaryStats::add_request(const Request& r) {
  retries_ += r.retries;
  const bool unknown_model = r.reject_reason == RejectReason::kUnknownModel;  // its `model` means nothing
  if (r.status == RequestStatus::kRejected) {  // never served: in no latency figure, a miss in every SLO one
    if (unknown_model) ++rejected_unknown_model_;
    if (r.reject_reason == RejectReason::kQueueFull) ++rejected_queue_full_;
    if (r.reject_reason == RejectReason::kQueueTimeout) ++rejected_queue_timeout_;
    if (r.reject_reason == RejectReason::kRateLimited) ++rejected_rate_limited_;
  }
  if (r.slo_class >= 0) {
    PerClass& c = per_class_[static_cast<size_t>(r.slo_class)];
    ++c.ended;
    if (r.status == RequestStatus::kCompleted) {
      c.ttft.add(r.ttft_s());
      if (meets_slo(r)) ++c.good;
    }
  }
  if (!unknown_model && static_cast<size_t>(r.model) < per_model_.size()) {
    PerModel& m = per_model_[static_cast<size_t>(r.model)];
    ++m.ended;
    if (r.status == RequestStatus::kCompleted) {
      ++m.completed;
      m.ttft.add(r.ttft_s());
      m.e2e.add(r.e2e_s());
      if (meets_slo(r)) ++m.good;
    }
  }
  if (r.lora >= 0) {
    ++lora_ended_;
    if (r.status == RequestStatus::kCompleted) {
      ++lora_completed_;
      lora_ttft_.add(r.ttft_s());
      if (meets_slo(r)) ++lora_good_;
      if (r.lora_loaded == 0) ++lora_resident_;
    }
  }
  if (r.session_id) {
    auto [it, fresh] = sessions_.try_emplace(r.session_id, SessionSpan{r.arrival_ns, r.finish_ns, true});
    SessionSpan& s = it->second;
    if (!fresh) {
      s.first_arrival_ns = std::min(s.first_arrival_ns, r.arrival_ns);
      s.last_finish_ns = std::max(s.last_finish_ns, r.finish_ns);
    }
    if (r.status != RequestStatus::kCompleted) s.all_completed = false;
  }
  if (r.status == RequestStatus::kRejected) return;
  if (r.status == RequestStatus::kFailed) {
    ++failed_;
    return;
  }
  if (r.status == RequestStatus::kAborted) {  // its client went away (live mode)
    ++aborted_;
    return;
  }
  if (r.status != RequestStatus::kCompleted) {
    ++unfinished_;
    return;
  }
  ++completed_;
  input_tokens_ += r.input_tokens;
  output_tokens_ += r.output_tokens;
  cached_tokens_ += r.cached_tokens;
  offloaded_tokens_ += r.offloaded_tokens;
  disk_tokens_ += r.disk_tokens;
  remote_tokens_ += r.remote_tokens;
  if (r.disk_tokens + r.remote_tokens > 0) {
    ++fetched_requests_;
    fetch_s_ += ns_to_s(r.fetch_ns);
  }
  if (r.onboard_ns > 0) {
    ++onboarded_requests_;
    onboard_s_ += ns_to_s(r.onboard_ns);
  }
  preemptions_ += r.preemptions;
  ttft_.add(r.ttft_s());
  ttft_batches_.add(r.ttft_s());
  e2e_.add(r.e2e_s());
  e2e_batches_.add(r.e2e_s());
  if (r.scheduled_ns >= 0) {
    queue_.add(ns_to_s(r.scheduled_ns - r.arrival_ns));
    queue_batches_.add(ns_to_s(r.scheduled_ns - r.arrival_ns));
  }
  if (r.mean_itl_s() >= 0) {
    tpot_.add(r.mean_itl_s());
    tpot_batches_.add(r.mean_itl_s());
  }
  if (meets_slo(r)) ++good_;
  if (r.route == RequestRoute::kRemotePrefill) {
    ++remote_prefills_;
    reserve_wait_.add(ns_to_s(r.reserved_ns - r.reserve_start_ns));
  }
  if (r.route == RequestRoute::kLocalPrefill) ++local_prefills_;
}

std::vector<std::pair<std::string, double>> SummaryStats::metrics(const Inputs& in) const {
  const double T = in.sim_end_s > 0 ? in.sim_end_s : std::nan("");
  std::vector<std::pair<std::string, double>> m;
  auto add = [&](std::string n, double v) { m.emplace_back(std::move(n), v); };
  add("requests_arrived", static_cast<double>(in.arrived));
  add("requests_completed", static_cast<double>(completed_));
  add("requests_unfinished", static_cast<double>(unfinished_));
  add("requests_failed", static_cast<double>(failed_));
  add("requests_aborted", static_cast<double>(aborted_));
  add("requests_rejected",
      static_cast<double>(rejected_unknown_model_ + rejected_queue_full_ + rejected_queue_timeout_ +
                          rejected_rate_limited_));
  add("requests_rejected_unknown_model", static_cast<double>(rejected_unknown_model_));
  add("requests_rejected_queue_full", static_cast<double>(rejected_queue_full_));
  add("requests_rejected_queue_timeout", static_cast<double>(rejected_queue_timeout_));
  add("requests_rejected_rate_limited", static_cast<double>(rejected_rate_limited_));
  add("request_retries", static_cast<double>(retries_));
  add("trace_rows_skipped", static_cast<double>(in.trace_rows_skipped));
  add("sim_time_s", in.sim_end_s);
  add("wall_time_s", in.wall_s);
  add("throughput_req_per_s", static_cast<double>(completed_) / T);
  add("input_tokens_per_s", static_cast<double>(input_tokens_) / T);
  add("output_tokens_per_s", static_cast<double>(output_tokens_) / T);
  add("output_tokens_total", static_cast<double>(output_tokens_));
  auto pct = [&](const char* name, const LogHistogram& h) {
    add(fmt::format("{}_mean_s", name), h.mean());
    add(fmt::format("{}_p50_s", name), h.quantile(0.50));
    add(fmt::format("{}_p90_s", name), h.quantile(0.90));
    add(fmt::format("{}_p99_s", name), h.quantile(0.99));
  };
  pct("ttft", ttft_);
  pct("itl", itl_);
  pct("tpot", tpot_);
  pct("e2e", e2e_);
  pct("queue", queue_);
  add("slo_ttft_s", slo_.ttft.seconds);
  add("slo_itl_s", slo_.itl.seconds);
  // a rejected request missed its SLO too (one naming an unserved model included)
  const double ended = static_cast<double>(completed_ + unfinished_ + failed_ + aborted_ + rejected_unknown_model_ +
                                           rejected_queue_full_ + rejected_queue_timeout_ + rejected_rate_limited_);
  add("slo_attainment", ended > 0 ? static_cast<double>(good_) / ended : std::nan(""));
  add("goodput_req_per_s", static_cast<double>(good_) / T);
  add("prefix_hit_rate", input_tokens_ ? static_cast<double>(cached_tokens_) / static_cast<double>(input_tokens_) : 0.0);
  add("preemptions", static_cast<double>(preemptions_));
  add("requests_remote_prefill", static_cast<double>(remote_prefills_));
  add("requests_local_prefill", static_cast<double>(local_prefills_));
  pct("kv_transfer", transfer_);
  add("kv_reserve_wait_mean_s", reserve_wait_.mean());
  add("kv_reserve_wait_p99_s", reserve_wait_.quantile(0.99));
  add("kv_transfer_gbytes_total", transfer_bytes_ / 1e9);
  add("gpus", in.gpus);
  add("gpu_hours", in.gpu_hours);
  add("scale_events", static_cast<double>(in.scale_events));
  add("underprovisioned_s", in.underprovisioned_s);
  add("worker_failures", static_cast<double>(in.worker_failures));
  add("timing_extrapolations", static_cast<double>(in.timing_extrapolations));
  add("sim_speedup", in.wall_s > 0 ? in.sim_end_s / in.wall_s : std::nan(""));
  add("requests_per_wall_s", in.wall_s > 0 ? static_cast<double>(completed_ + unfinished_) / in.wall_s : std::nan(""));
  // 95% intervals from this run alone, beside each mean and percentile above
  auto ci = [&](const char* name, const LogHistogram& h, const BatchMeans& b) {
    auto both = [&](const std::string& stat, BatchMeans::Interval i) {
      add(fmt::format("{}_{}_ci95_low_s", name, stat), i.low);
      add(fmt::format("{}_{}_ci95_high_s", name, stat), i.high);
    };
    both("mean", b.mean_ci95());
    both("p50", b.quantile_ci95(0.50, h.quantile(0.50)));
    both("p90", b.quantile_ci95(0.90, h.quantile(0.90)));
    both("p99", b.quantile_ci95(0.99, h.quantile(0.99)));
  };
  ci("ttft", ttft_, ttft_batches_);
  ci("itl", itl_, itl_batches_);
  ci("tpot", tpot_, tpot_batches_);
  ci("e2e", e2e_, e2e_batches_);
  ci("queue", queue_, queue_batches_);
  add("ci_warmup_requests", static_cast<double>(ttft_batches_.warmup_observations()));
  LogHistogram session_e2e;
  for (const auto& [id, s] : sessions_)
    if (s.all_completed) session_e2e.add(ns_to_s(s.last_finish_ns - s.first_arrival_ns));
  add("sessions", static_cast<double>(sessions_.size()));
  add("sessions_completed", static_cast<double>(session_e2e.count()));
  pct("session_e2e", session_e2e);
  add("trace_rows_late", static_cast<double>(in.trace_rows_late));
  add("trace_graph_entries_peak", static_cast<double>(in.trace_graph_entries_peak));
  add("trace_rows_waiting", static_cast<double>(in.trace_rows_waiting));
  // energy: the GPUs held draw idle power; an iteration draws its own instead (models/power.h)
  const double energy = in.idle_energy_j + busy_energy_j_ - displaced_idle_j_;
  add("energy_j", energy);
  add("energy_busy_j", busy_energy_j_);
  add("energy_per_output_token_j", output_tokens_ ? energy / static_cast<double>(output_tokens_) : std::nan(""));
  add("energy_per_request_j", completed_ ? energy / static_cast<double>(completed_) : std::nan(""));
  add("power_mean_w", energy / T);
  add("power_provisioned_peak_w", in.peak_tdp_w);
  for (size_t i = 0; i < per_class_.size(); ++i) {
    const PerClass& c = per_class_[i];
    const std::string p = "class_" + slo_.classes[i].name + "_";
    add(p + "requests", static_cast<double>(c.ended));
    add(p + "slo_attainment", c.ended ? static_cast<double>(c.good) / static_cast<double>(c.ended) : std::nan(""));
    add(p + "goodput_req_per_s", static_cast<double>(c.good) / T);
    add(p + "ttft_p99_s", c.ttft.quantile(0.99));
  }
  if (lora_) {
    add("lora_requests", static_cast<double>(lora_ended_));
    add("lora_requests_completed", static_cast<double>(lora_completed_));
    add("lora_slo_attainment", lora_ended_ ? static_cast<double>(lora_good_) / static_cast<double>(lora_ended_) : std::nan(""));
    add("lora_ttft_mean_s", lora_ttft_.mean());
    add("lora_ttft_p99_s", lora_ttft_.quantile(0.99));
    // of the completed adapter requests, those whose (last) admission found the adapter in GPU memory
    add("lora_hit_rate",
        lora_completed_ ? static_cast<double>(lora_resident_) / static_cast<double>(lora_completed_) : std::nan(""));
    add("lora_loads", static_cast<double>(lora_loads_));
  }
  if (kv_offload_) {
    // of the completed requests' prompt tokens, those loaded back from host memory (also in prefix_hit_rate)
    add("kv_offload_hit_rate",
        input_tokens_ ? static_cast<double>(offloaded_tokens_) / static_cast<double>(input_tokens_) : 0.0);
    add("kv_offloaded_gbytes", kv_offloaded_bytes_ / 1e9);
    add("kv_onboarded_gbytes", kv_onboarded_bytes_ / 1e9);
    add("kv_onboarded_requests", static_cast<double>(onboarded_requests_));
    add("kv_onboard_mean_s",
        onboarded_requests_ ? onboard_s_ / static_cast<double>(onboarded_requests_) : std::nan(""));
  }
  if (storage_bytes_per_token_ > 0) {
    // of the completed requests' prompt tokens, those fetched from a node's disk or remote storage
    // into host memory (then loaded from there: also in kv_offload_hit_rate and prefix_hit_rate)
    const double in = static_cast<double>(input_tokens_);
    add("kv_disk_hit_rate", input_tokens_ ? static_cast<double>(disk_tokens_) / in : 0.0);
    add("kv_remote_hit_rate", input_tokens_ ? static_cast<double>(remote_tokens_) / in : 0.0);
    add("kv_disk_read_gbytes", static_cast<double>(disk_tokens_) * storage_bytes_per_token_ / 1e9);
    add("kv_remote_read_gbytes", static_cast<double>(remote_tokens_) * storage_bytes_per_token_ / 1e9);
    add("kv_fetched_requests", static_cast<double>(fetched_requests_));
    add("kv_fetch_mean_s", fetched_requests_ ? fetch_s_ / static_cast<double>(fetched_requests_) : std::nan(""));
  }
  if (speculative_) {
    const auto v = static_cast<double>(spec_verified_), d = static_cast<double>(spec_drafted_),
               a = static_cast<double>(spec_accepted_);
    add("spec_verify_steps", v);  // sequence-steps that verified draft tokens
    add("spec_draft_tokens", d);
    add("spec_accepted_tokens", a);
    add("spec_acceptance_rate", d > 0 ? a / d : std::nan(""));
    add("spec_mean_acceptance_length", v > 0 ? 1 + a / v : std::nan(""));
  }
  if (models_.size() > 1)
    for (size_t i = 0; i < models_.size(); ++i) {
      const PerModel& pm = per_model_[i];
      const std::string p = "model_" + models_[i] + "_";
      add(p + "requests", static_cast<double>(pm.ended));
      add(p + "requests_completed", static_cast<double>(pm.completed));
      add(p + "slo_attainment", pm.ended ? static_cast<double>(pm.good) / static_cast<double>(pm.ended) : std::nan(""));
      add(p + "ttft_mean_s", pm.ttft.mean());
      add(p + "ttft_p99_s", pm.ttft.quantile(0.99));
      add(p + "e2e_mean_s", pm.e2e.mean());
    }
  return m;
}

std::string SummaryStats::table(const Inputs& in) const {
  auto m = metrics(in);
  auto get = [&](const std::string& n) {
    for (auto& [k, v] : m)
      if (k == n) return v;
    return std::nan("");
  };
  auto ms = [](double s) { return std::isnan(s) ? std::string("-") : fmt::format("{:.1f}", s * 1e3); };
  std::string out;
  if (in.status != "completed")
    out += fmt::format("status      {} at {:.3f} s simulated{}\n", in.status, in.sim_end_s,
                       in.status == "interrupted" ? " (stopped by a signal; the results hold what ran)" : "");
  out += fmt::format("requests    {:.0f} completed, {:.0f} unfinished, {:.0f} arrived ({:.0f} trace rows skipped)\n",
                     get("requests_completed"), get("requests_unfinished"), get("requests_arrived"),
                     get("trace_rows_skipped"));
  if (get("requests_failed") + get("request_retries") + get("worker_failures") > 0)
    out += fmt::format("failures    {:.0f} workers died; {:.0f} requests failed, {:.0f} retries\n", get("worker_failures"),
                       get("requests_failed"), get("request_retries"));
  if (get("requests_rejected_unknown_model") > 0)
    out += fmt::format("rejected    {:.0f} requests named a model no pool serves (served: {})\n",
                       get("requests_rejected_unknown_model"), fmt::join(models_, ", "));
  const double admission_rejects = get("requests_rejected_queue_full") + get("requests_rejected_queue_timeout") +
                                   get("requests_rejected_rate_limited");
  if (admission_rejects > 0)
    out += fmt::format("admission   {:.0f} requests rejected: {:.0f} over their model's rate limit, {:.0f} found the "
                       "router's queue full, {:.0f} waited in it too long\n",
                       admission_rejects, get("requests_rejected_rate_limited"), get("requests_rejected_queue_full"),
                       get("requests_rejected_queue_timeout"));
  if (models_.size() > 1)
    for (size_t i = 0; i < models_.size(); ++i) {
      const std::string p = "model_" + models_[i] + "_";
      if (get(p + "requests") == 0) {
        out += fmt::format("model       {}: no request asked for it; its pools got no traffic\n", models_[i]);
        continue;
      }
      out += fmt::format("model       {}: {:.0f} requests, {:.1f}% meeting the SLO, TTFT mean {:.1f} ms p99 {:.1f} ms\n",
                         models_[i], get(p + "requests"), 100 * get(p + "slo_attainment"), 1e3 * get(p + "ttft_mean_s"),
                         1e3 * get(p + "ttft_p99_s"));
    }
  if (lora_)
    out += fmt::format("lora        {:.0f} requests named an adapter, {:.1f}% meeting the SLO, TTFT mean {:.1f} ms p99 "
                       "{:.1f} ms; {:.0f} adapter loads, {:.1f}% of admissions found theirs resident\n",
                       get("lora_requests"), 100 * get("lora_slo_attainment"), 1e3 * get("lora_ttft_mean_s"),
                       1e3 * get("lora_ttft_p99_s"), get("lora_loads"), 100 * get("lora_hit_rate"));
  if (speculative_)
    out += fmt::format("speculative {:.0f} draft tokens verified, {:.1f}% accepted: {:.2f} tokens per sequence and "
                       "step\n",
                       get("spec_draft_tokens"), 100 * get("spec_acceptance_rate"), get("spec_mean_acceptance_length"));
  for (const auto& c : slo_.classes) {
    const std::string p = "class_" + c.name + "_";
    out += fmt::format("slo class   {} (TTFT <= {:.0f} ms, ITL <= {:.0f} ms): {:.0f} requests, {:.1f}% meeting it, "
                       "goodput {:.2f} req/s\n",
                       c.name, c.ttft.seconds * 1e3, c.itl.seconds * 1e3, get(p + "requests"),
                       100 * get(p + "slo_attainment"), get(p + "goodput_req_per_s"));
  }
  if (get("sessions") > 0)
    out += fmt::format("sessions    {:.0f} ({:.0f} with every request completed): first arrival to last token mean "
                       "{:.2f} s, p90 {:.2f} s\n",
                       get("sessions"), get("sessions_completed"), get("session_e2e_mean_s"), get("session_e2e_p90_s"));
  if (get("trace_rows_late") > 0)
    out += fmt::format("trace order {:.0f} rows were read only after their dependencies had ended and started late: "
                       "list a session's rows before rows that start later\n",
                       get("trace_rows_late"));
  if (get("trace_rows_waiting") > 0)
    out += fmt::format("waiting     {:.0f} trace rows still waited for their dependencies when the run stopped\n",
                       get("trace_rows_waiting"));
  if (get("timing_extrapolations") > 0)
    out += fmt::format("timing      {:.0f} lookups outside the measured tables (clamped or extrapolated)\n",
                       get("timing_extrapolations"));
  out += fmt::format("simulated   {:.1f} s in {:.2f} s wall ({:.0f}x real time, {:.0f} requests/wall s)\n",
                     get("sim_time_s"), get("wall_time_s"), get("sim_speedup"), get("requests_per_wall_s"));
  out += fmt::format("throughput  {:.2f} req/s, {:.0f} output tok/s, {:.0f} input tok/s\n",
                     get("throughput_req_per_s"), get("output_tokens_per_s"), get("input_tokens_per_s"));
  out += fmt::format("{:<10} {:>10} {:>10} {:>10} {:>10}\n", "latency ms", "mean", "p50", "p90", "p99");
  for (const char* k : {"ttft", "itl", "tpot", "e2e"})
    out += fmt::format("{:<10} {:>10} {:>10} {:>10} {:>10}\n", k, ms(get(fmt::format("{}_mean_s", k))),
                       ms(get(fmt::format("{}_p50_s", k))), ms(get(fmt::format("{}_p90_s", k))),
                       ms(get(fmt::format("{}_p99_s", k))));
  auto interval = [&](const std::string& key) {
    const double lo = get(key + "_ci95_low_s"), hi = get(key + "_ci95_high_s");
    return std::isnan(lo) ? std::string("-") : fmt::format("{:.1f}-{:.1f}", lo * 1e3, hi * 1e3);
  };
  out += fmt::format("95% CI ms   ttft mean {} p99 {}; e2e mean {} p99 {} (batch means over this run)\n",
                     interval("ttft_mean"), interval("ttft_p99"), interval("e2e_mean"), interval("e2e_p99"));
  out += fmt::format("goodput     {:.2f} req/s meeting TTFT <= {} ms and ITL <= {} ms ({:.1f}% of requests)\n",
                     get("goodput_req_per_s"), get("slo_ttft_s") * 1e3, get("slo_itl_s") * 1e3,
                     get("slo_attainment") * 100);
  out += fmt::format("prefix hit  {:.1f}% of prompt tokens from cache; {:.0f} preemptions\n",
                     get("prefix_hit_rate") * 100, get("preemptions"));
  if (kv_offload_)
    out += fmt::format("kv offload  {:.1f}% of prompt tokens loaded back from host memory ({:.0f} requests, {} ms "
                       "each on average); {:.2f} GB written back, {:.2f} GB loaded\n",
                       get("kv_offload_hit_rate") * 100, get("kv_onboarded_requests"), ms(get("kv_onboard_mean_s")),
                       get("kv_offloaded_gbytes"), get("kv_onboarded_gbytes"));
  if (storage_bytes_per_token_ > 0)
    out += fmt::format("kv storage  {:.1f}% of prompt tokens fetched from disk, {:.1f}% from remote storage ({:.0f} "
                       "requests waited {} ms on average); {:.2f} GB and {:.2f} GB read\n",
                       get("kv_disk_hit_rate") * 100, get("kv_remote_hit_rate") * 100, get("kv_fetched_requests"),
                       ms(get("kv_fetch_mean_s")), get("kv_disk_read_gbytes"), get("kv_remote_read_gbytes"));
  if (get("requests_remote_prefill") + get("requests_local_prefill") > 0)
    out += fmt::format(
        "disagg      {:.0f} remote prefills, {:.0f} local; KV transfer p50 {} ms, p99 {} ms, {:.2f} GB moved; "
        "waited for decode room {} ms mean\n",
        get("requests_remote_prefill"), get("requests_local_prefill"), ms(get("kv_transfer_p50_s")),
        ms(get("kv_transfer_p99_s")), get("kv_transfer_gbytes_total"), ms(get("kv_reserve_wait_mean_s")));
  out += fmt::format("GPUs        {:.0f} at most ({:.2f} GPU-hours); {:.0f} scale events, {:.0f} s under-provisioned\n",
                     get("gpus"), get("gpu_hours"), get("scale_events"), get("underprovisioned_s"));
  out += fmt::format("energy      {:.3g} kWh ({:.0f}% in iterations): {:.3g} J per output token, {:.3g} J per "
                     "request; mean {:.0f} W of {:.0f} W provisioned at most\n",
                     get("energy_j") / 3.6e6, 100 * get("energy_busy_j") / get("energy_j"),
                     get("energy_per_output_token_j"), get("energy_per_request_j"), get("power_mean_w"),
                     get("power_provisioned_peak_w"));
  return out;
}

}  // namespace servesim
