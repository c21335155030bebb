#include "cluster/run.h"

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <limits>

#include "cluster/cluster.h"
#include "cluster/run_recorder.h"
#include "core/paths.h"
#include "core/result_file.h"

namespace servesim {

namespace {
constexpr TimeNs kSliceNs = kNsPerSecond;  // simulated time between progress/flush checks

// SIGINT/SIGTERM: the first asks the run loop to stop at the end of its slice (flush, summary,
// exit 130/143); a second one exits at once.
volatile std::sig_atomic_t g_stop_signal = 0;
extern "C" void on_stop_signal(int sig) {
  if (g_stop_signal != 0) _exit(128 + sig);
  g_stop_signal = sig;
}

// Installs the handlers for the run's lifetime and restores the previous ones.
class StopSignals {
 public:
  StopSignals() {
    g_stop_signal = 0;
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  ~StopSignals() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  int received() const { return g_stop_signal; }

 private:
  struct sigaction old_int_ {}, old_term_ {};
};

// The files a run reads, which its output must never overwrite.
std::vector<std::string> input_files(const LoadedScenario& scenario) {
  std::vector<std::string> in{scenario.source_name};
  const auto& w = scenario.config.workload;
  if (!w.path.empty()) in.push_back(resolve_path(scenario.base_dir, w.path));
  for (const auto* d : {&w.synthetic.input_length, &w.synthetic.output_length})
    if (!d->path.empty()) in.push_back(resolve_path(scenario.base_dir, d->path));
  for (const auto& pool : scenario.config.pools)
    if (!pool.timing.table.path.empty()) in.push_back(resolve_path(scenario.base_dir, pool.timing.table.path));
  return in;
}

// sc_start, with an error thrown inside a process given back its own kind (see core/error.h).
void start(const sc_core::sc_time& t, sc_core::sc_starvation_policy p = sc_core::SC_RUN_TO_TIME) {
  try {
    sc_core::sc_start(t, p);
  } catch (const sc_core::sc_report& e) {
    rethrow_recorded(e.what());
    throw;
  }
}
}  // namespace

ScenarioRun::ScenarioRun(const LoadedScenario& scenario, const RunOptions& options, ClusterMode mode)
    : scenario_(scenario), options_(options), wall_start_(std::chrono::steady_clock::now()) {
  configure_kernel();
  if (!options.output_path.empty())
    out_file_ = std::make_unique<ResultFile>(options.output_path, input_files(scenario),
                                             scenario.config.output.flush_interval.seconds);
  recorder_ = std::make_unique<RunRecorder>(scenario, out_file_ ? out_file_->working_path() : std::string(),
                                            out_file_.get());
  cluster_ = std::make_unique<Cluster>("cluster", scenario, *recorder_, std::move(mode));
  const auto& sim = scenario.config.simulation;
  cap_ = sim.max_time ? sim.max_time->ns() : -1;
  // Stall watchdog: the planner ticks forever, so "nothing pending" no longer marks a stall;
  // requests in flight while no request ends, arrives or computes for this long do.
  stall_after_ = std::max<TimeNs>(3600 * kNsPerSecond, 20 * scenario.config.planner.adjustment_interval.ns());
  start(sc_core::SC_ZERO_TIME);  // elaborate and run the initialisation phase
}

ScenarioRun::~ScenarioRun() = default;

bool ScenarioRun::advance(TimeNs until_ns) {
  Cluster& cluster = *cluster_;
  auto wall_s = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start_).count(); };
  while (!over_ && now_ns() < until_ns) {
    if (cluster.drained() || !sc_core::sc_pending_activity() || (options_.stop_on_signals && g_stop_signal)) {
      over_ = true;
      break;
    }
    // A slice reaches at least the next event: with SC_EXIT_ON_STARVATION an empty window
    // would not move time. Starvation stops time at the last event, the run's true end.
    const auto next = static_cast<TimeNs>(sc_core::sc_time_to_pending_activity().value());
    TimeNs slice = std::max(kSliceNs, next);
    if (cap_ >= 0 && slice >= cap_ - now_ns()) {
      // the cap ends the run: run to it exactly (SC_EXIT_ON_STARVATION would stop short of a
      // cap that falls between events, and the loop would never get there)
      if (until_ns < cap_) {
        start(ns_time(until_ns - now_ns()), sc_core::SC_RUN_TO_TIME);
        continue;
      }
      if (cap_ - now_ns() > 0) start(ns_time(cap_ - now_ns()), sc_core::SC_RUN_TO_TIME);
      over_ = true;
      break;
    }
    if (slice >= until_ns - now_ns()) {
      // the caller's stop: run to it exactly (events due then run on the next call)
      start(ns_time(until_ns - now_ns()), sc_core::SC_RUN_TO_TIME);
    } else {
      start(ns_time(slice), sc_core::SC_EXIT_ON_STARVATION);
    }
    recorder_->maybe_flush();
    const std::uint64_t mark = cluster.frontend().arrived() + cluster.frontend().completed() + cluster.iterations();
    if (mark != progress_mark_ || cluster.frontend().in_system() == 0) {
      progress_mark_ = mark;
      progress_at_ = now_ns();
    } else if (now_ns() - progress_at_ > stall_after_) {
      over_ = true;
      break;
    }
    if (options_.progress && wall_s() > 2.0 && wall_s() - last_progress_ >= 0.5) {
      last_progress_ = wall_s();
      std::fprintf(stderr, "\r[servesim] sim %.1f s | %llu done, %lld in flight | %.0fx real time   ",
                   ns_to_s(now_ns()), static_cast<unsigned long long>(cluster.frontend().completed()),
                   static_cast<long long>(cluster.frontend().in_system()), ns_to_s(now_ns()) / last_progress_);
      printed_ = true;
    }
  }
  if (!over_ && (cluster.drained() || !sc_core::sc_pending_activity())) over_ = true;
  return !over_;
}

RunResult ScenarioRun::finish() {
  if (finished_) throw InvariantError("a run is finished once");
  finished_ = true;
  Cluster& cluster = *cluster_;
  const auto& scenario = scenario_;
  if (printed_) std::fprintf(stderr, "\n");
  const TimeNs cap = cap_;
  const bool capped = cap >= 0 && now_ns() >= cap;
  const int signal = options_.stop_on_signals ? g_stop_signal : 0;
  if (!capped && !signal && !cluster.drained())
    throw InvariantError(fmt::format("the simulation stalled at {:.3f} s with {} requests in flight and nothing "
                                     "scheduled (a request waits forever)",
                                     ns_to_s(now_ns()), cluster.frontend().in_system()));
  if (!signal && capped && cluster.frontend().arrived() == 0)
    throw ConfigError(fmt::format("simulation.max_time: no request arrived in the {:.6g} s the run was allowed. Fix: "
                                  "raise simulation.max_time (or check the workload's start)",
                                  ns_to_s(cap)));
  if (!signal && cluster.frontend().arrived() == 0) {
    const TraceStats ts = cluster.trace_source().stats();
    const auto& w = scenario.config.workload;
    throw InputError(fmt::format(
        "{}: no requests: the workload produced none ({} rows read, {} malformed rows skipped, {} outside the time "
        "window). Fix: check the trace file and workload.start/end/max_requests",
        w.path.empty() ? fmt::format("workload '{}'", w.source) : resolve_path(scenario.base_dir, w.path), ts.rows_read,
        ts.rows_skipped, ts.rows_filtered));
  }
  cluster.final_sample();
  cluster.finish_run();
  cluster.check_invariants();

  RunResult result;
  result.inputs.sim_end_s = ns_to_s(now_ns());
  result.inputs.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start_).count();
  result.inputs.gpus = cluster.lifecycle().peak_gpus();
  result.inputs.gpu_hours = cluster.lifecycle().gpu_seconds() / 3600.0;
  result.inputs.idle_energy_j = cluster.lifecycle().idle_energy_j();
  result.inputs.peak_tdp_w = cluster.lifecycle().peak_tdp_w();
  result.inputs.scale_events = cluster.planner().scale_events();
  result.inputs.underprovisioned_s = cluster.lifecycle().underprovisioned_s();
  result.inputs.worker_failures = cluster.lifecycle().stats().failures;
  result.inputs.timing_extrapolations = cluster.timing_extrapolations();
  result.inputs.trace_rows_late = cluster.player().late_starts();
  result.inputs.trace_graph_entries_peak = cluster.player().graph_entries_peak();
  result.inputs.trace_rows_waiting = cluster.player().held();
  result.inputs.arrived = cluster.frontend().arrived();
  result.inputs.trace_rows_skipped = cluster.trace_source().stats().rows_skipped;
  result.inputs.status = signal ? "interrupted" : capped && !cluster.drained() ? "max_time" : "completed";
  result.stop_signal = signal;
  recorder_->finish(result.inputs);
  if (out_file_) out_file_->commit();
  result.summary_table = recorder_->summary().table(result.inputs);
  result.metrics = recorder_->summary().metrics(result.inputs);
  return result;
}

RunResult run_scenario(const LoadedScenario& scenario, const RunOptions& options) {
  StopSignals signals;
  ScenarioRun run(scenario, options);
  run.advance(std::numeric_limits<TimeNs>::max());
  return run.finish();
}

}  // namespace servesim
