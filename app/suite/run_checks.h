#pragma once
// Metrics a suite computes from a run's HDF5 file on its own, independently of the summary the
// run printed: conservation and Little's law rebuilt from the per-request rows. Names start
// with `check_` so they cannot collide with summary metrics; docs/suites.md lists them.
#include <map>
#include <string>

namespace servesim {

// Reads `path` (a finished `servesim run` file); metrics it cannot compute (a run without
// /requests rows) are absent. Throws std::runtime_error when the file cannot be read.
std::map<std::string, double> run_file_checks(const std::string& path);

}  // namespace servesim
