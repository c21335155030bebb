#pragma once
// `servesim suite SUITE.yaml`: runs a suite's scenarios in parallel processes, checks each run's
// expectations and the relations between runs, prints a verdict table and writes one HDF5 file.
#include <string>

namespace servesim {

struct SuiteOptions {
  std::string output;  // default results/<suite name>.h5; run files in <output stem>.runs/
  int jobs = 1;
  bool update = false;  // rewrite recorded values from this run's results
  bool markdown = false;  // print the recorded values as docs tables and run nothing
  bool progress = false;
};

// Returns the exit code: 0 all pass, 1 some expectation or check failed (or a run failed).
// Throws ConfigError for a bad suite file.
int run_suite(const std::string& suite_path, const SuiteOptions& options);

}  // namespace servesim
