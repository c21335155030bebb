#pragma once
// Runs one scenario to the end: builds the cluster, steps the kernel in slices (progress,
// HDF5 flushes, the max_time cap), checks the invariants, and writes the summary.
#include <string>

#include "core/summary.h"
#include "scenario/scenario.h"

namespace servesim {

struct RunOptions {
  std::string output_path;  // "" = write no HDF5 file; written through a ResultFile (core/result_file.h)
  bool progress = false;    // a progress line on stderr (the CLI enables it on a TTY)
};

struct RunResult {
  SummaryStats::Inputs inputs;
  std::string summary_table;
  std::vector<std::pair<std::string, double>> metrics;
  int stop_signal = 0;  // SIGINT/SIGTERM that stopped the run early (0 = none)
};

// Once per process: SystemC cannot elaborate twice.
RunResult run_scenario(const LoadedScenario& scenario, const RunOptions& options);

}  // namespace servesim
