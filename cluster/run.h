#pragma once
// Runs one scenario to the end: builds the cluster, steps the kernel in slices (progress,
// HDF5 flushes, the max_time cap), checks the invariants, and writes the summary.
#include <chrono>
#include <memory>
#include <string>

#include "cluster/cluster.h"
#include "core/summary.h"
#include "scenario/scenario.h"

namespace servesim {

struct RunOptions {
  std::string output_path;  // "" = write no HDF5 file; written through a ResultFile (core/result_file.h)
  bool progress = false;    // a progress line on stderr (the CLI enables it on a TTY)
  bool stop_on_signals = true;  // SIGINT/SIGTERM end the run at the next slice (the CLI)
};

struct RunResult {
  SummaryStats::Inputs inputs;
  std::string summary_table;
  std::vector<std::pair<std::string, double>> metrics;
  int stop_signal = 0;  // SIGINT/SIGTERM that stopped the run early (0 = none)
};

class RunRecorder;
class ResultFile;

// One run, steppable (the Python API): built at construction, advanced to a simulated time, then
// finished (invariants, summary, the HDF5 file). Once per process: SystemC cannot elaborate twice.
class ScenarioRun {
 public:
  ScenarioRun(const LoadedScenario& scenario, const RunOptions& options, ClusterMode mode = {});
  ~ScenarioRun();
  // Runs until simulated time `until_ns` (or the end); false once the run is over (the workload
  // drained, max_time reached, a stop signal or a stall).
  bool advance(TimeNs until_ns);
  bool over() const { return over_; }
  RunResult finish();
  Cluster& cluster() { return *cluster_; }

 private:
  const LoadedScenario& scenario_;
  RunOptions options_;
  std::chrono::steady_clock::time_point wall_start_;
  std::unique_ptr<ResultFile> out_file_;
  std::unique_ptr<RunRecorder> recorder_;
  std::unique_ptr<Cluster> cluster_;
  TimeNs cap_ = -1, stall_after_ = 0, progress_at_ = 0;
  std::uint64_t progress_mark_ = 0;
  double last_progress_ = 0;
  bool printed_ = false, over_ = false, finished_ = false;
};

// Once per process: SystemC cannot elaborate twice.
RunResult run_scenario(const LoadedScenario& scenario, const RunOptions& options);

}  // namespace servesim
