#pragma once
// `servesim check-silicon FILE.csv`: predicted vs measured TTFT and TPOT for every row of a
// measured serving table, each row run as a closed-loop benchmark of the deployment it lists.
#include <string>
#include <vector>

#include "app/commands/silicon.h"

namespace servesim {

struct CheckSiliconOptions {
  std::string csv;
  std::vector<std::string> filters;               // COLUMN=VALUE[|VALUE...]
  std::string output = "results/check_silicon.h5";  // the table also goes to <stem>.csv
  int jobs = 1;
  double timeout_s = 600;
  bool progress = false;
  SiliconRunSettings settings;
};

// Returns the process exit code (0 when every supported row ran).
int run_check_silicon(const CheckSiliconOptions& options);

}  // namespace servesim
