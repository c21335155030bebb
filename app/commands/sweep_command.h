#pragma once
// `servesim sweep SWEEP.yaml`: search deployments under SLA bounds and a GPU budget.
#include <string>

namespace servesim {

struct SweepOptions {
  std::string output;  // default results/<sweep name>.h5; trial runs go to <output stem>.trials/
  int jobs = 1;
  bool resume = false;
  bool dry_run = false;
  bool progress = false;
};

// Returns the process exit code. Throws ConfigError for a bad sweep file.
int run_sweep(const std::string& sweep_path, const SweepOptions& options);

}  // namespace servesim
